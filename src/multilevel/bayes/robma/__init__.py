"""RoBMA: robust Bayesian model averaging over effect, heterogeneity and publication bias.

NumPy and SciPy only: every component model is integrated by quadrature or importance
sampling, so an ensemble compiles nothing.
"""

from ._fit import robma
from ._regresult import RobmaRegFit
from ._result import RobmaFit
from ._spec import prior_peese, prior_pet, prior_weightfunction

__all__ = ["robma", "RobmaFit", "RobmaRegFit", "prior_weightfunction", "prior_pet", "prior_peese"]
