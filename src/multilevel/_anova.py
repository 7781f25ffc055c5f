"""``anova(m1, m2, ...)``: likelihood-ratio comparison of nested fits of one kind.

Each fitted-model class that supports comparison implements a classmethod
``_anova(fits, **options)`` returning a table object (with ``to_frame()``);
this function checks the fits are of one kind and dispatches to it.
"""

from __future__ import annotations

from typing import Any

from ._exceptions import ModelSpecificationError

__all__ = ["anova"]


def anova(*fits: Any, **options: Any) -> Any:
    """Compare nested fits by likelihood-ratio tests (R's ``anova(m1, m2, ...)``).

    Parameters
    ----------
    *fits
        Two or more fits of the same kind (``lmer`` fits, or ``rma_mv`` / ``rma`` fits).
    **options
        Passed to the comparison of that kind (for ``lmer`` fits: ``refit=True``
        refits REML fits by maximum likelihood first, as lme4 does).

    Returns
    -------
    The comparison table of that kind; ``to_frame()`` gives a DataFrame.
    """
    if len(fits) < 2:
        raise ModelSpecificationError("anova() needs at least two fitted models to compare")
    kind = type(fits[0])
    for f in fits[1:]:
        if type(f) is not kind:
            raise ModelSpecificationError(
                f"anova() compares fits of one kind; got {kind.__name__} and {type(f).__name__}")
    impl = getattr(kind, "_anova", None)
    if impl is None:
        raise ModelSpecificationError(f"{kind.__name__} fits cannot be compared with anova()")
    return impl(fits, **options)
