"""``anova(m1, m2, ...)``: likelihood-ratio comparison of nested fits of one kind.

Each fitted-model class that supports comparison implements a classmethod
``_anova(fits, **options)`` returning a table object (with ``to_frame()``, and a
:class:`~multilevel._display.FrameMapping` so that ``pd.DataFrame(table)`` works);
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
        refits REML fits by maximum likelihood first, as lme4 does). With a
        single ``rma`` or ``rma_mv`` fit, ``X=`` (rows of a linear combination,
        optional ``rhs=``) or ``btt=`` give Wald tests as metafor's
        ``anova(fit, X = ...)`` (see :mod:`multilevel.meta.shared._contrasts`).

    Returns
    -------
    The comparison table of that kind, printed in the R reference's layout;
    ``to_frame()`` and ``pd.DataFrame(table)`` give it as a DataFrame.

    Examples
    --------
    >>> import multilevel as ml, pandas as pd
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> m1 = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    >>> m2 = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    >>> pd.DataFrame(ml.anova(m1, m2))[["npar", "Chisq", "Df"]].round(3)
        npar   Chisq   Df
    m1   4.0     NaN  NaN
    m2   6.0  42.139  2.0
    """
    if len(fits) == 1 and ("X" in options or "btt" in options):
        wald = getattr(type(fits[0]), "_wald", None)
        if wald is None:
            raise ModelSpecificationError(f"{type(fits[0]).__name__} fits have no Wald tests via anova(X=, btt=)")
        return wald(fits[0], **options)
    if len(fits) < 2:
        raise ModelSpecificationError("anova() needs at least two fitted models to compare")
    # one kind: a class every fit is an instance of (a negative binomial GLMM is a GLMM)
    kinds = [type(f) for f in fits if all(isinstance(g, type(f)) for g in fits)]
    if not kinds:
        names = sorted({type(f).__name__ for f in fits})
        raise ModelSpecificationError(f"anova() compares fits of one kind; got {' and '.join(names)}")
    kind = kinds[0]
    impl = getattr(kind, "_anova", None)
    if impl is None:
        raise ModelSpecificationError(f"{kind.__name__} fits cannot be compared with anova()")
    return impl(fits, **options)
