"""Bayesian multilevel meta-analysis (RoBMA's ``brma``) on NumPyro's NUTS.

JAX, NumPyro and ArviZ are an optional extra (``pip install 'multilevel[bayes]'``): they are
imported only when a model is fitted, so ``import multilevel`` stays light.
"""

from ._compare_api import bayes_factor
from ._fit import BrmaFit, brma
from ._priors import Prior, Priors, prior

__all__ = ["brma", "BrmaFit", "prior", "Prior", "Priors", "bayes_factor"]
