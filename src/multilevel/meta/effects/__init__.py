"""Effect sizes and their sampling variances (metafor's ``escalc``)."""

from ._escalc import escalc

__all__ = ["escalc"]
