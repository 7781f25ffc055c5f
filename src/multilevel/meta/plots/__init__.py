"""Forest, funnel and profile plots of meta-analysis fits."""

from ._forest import forest
from ._funnel import funnel

__all__ = ["forest", "funnel"]
