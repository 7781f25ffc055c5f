"""Bayesian multilevel meta-analysis (RoBMA's ``brma``) on NumPyro's NUTS, and RoBMA's
robust Bayesian model averaging (``robma``, NumPy and SciPy only).

JAX, NumPyro and ArviZ are an optional extra (``pip install 'multilevel[bayes]'``): they are
imported only when a model is fitted, so ``import multilevel`` stays light.
"""

from ._compare_api import bayes_factor
from ._fit import BrmaFit, brma
from ._priors import Prior, Priors, prior
from .robma import RobmaFit, RobmaRegFit, prior_peese, prior_pet, prior_weightfunction, robma

__all__ = ["brma", "BrmaFit", "prior", "Prior", "Priors", "bayes_factor", "robma", "RobmaFit", "RobmaRegFit",
           "prior_weightfunction", "prior_pet", "prior_peese"]
