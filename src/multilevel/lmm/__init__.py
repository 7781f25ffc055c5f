"""Linear mixed-effects models as lme4's ``lmer``.

:func:`lmer` fits a model from a formula and a table and returns a frozen
:class:`LinearMixedModel`. The numerical core (``_pls``: penalized least
squares with a blocked Cholesky factor; ``_optimize``: the optimizer seam;
``_fit``: estimation on arrays) does not know about formulas or pandas.
"""

from ._fit import OptimizerSummary
from ._lmer import lmer
from ._results import LinearMixedModel
from ._summary import LmerSummary
from ._varcorr import VarCorr

__all__ = ["lmer", "LinearMixedModel", "LmerSummary", "VarCorr", "OptimizerSummary"]

# workflow figures and comparison table (issue 3)
from ._anova import AnovaTable  # noqa: E402
from ._plots import plot_lmer, plot_lmer_residuals, plot_profile, plot_qq_ranef, plot_ranef  # noqa: E402

__all__ += ["AnovaTable", "plot_lmer", "plot_lmer_residuals", "plot_profile", "plot_qq_ranef", "plot_ranef"]
