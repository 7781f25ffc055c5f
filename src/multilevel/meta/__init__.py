"""meta subpackage: frequentist meta-analysis as metafor (effect sizes, ``rma``, ``rma_mv``)."""

from ._escalc import escalc

__all__: list[str] = ["escalc"]
