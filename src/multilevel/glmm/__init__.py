"""Generalized linear mixed models as lme4's ``glmer``.

:func:`glmer` fits binomial, Poisson, Gamma and inverse Gaussian models with
lme4's formula language by the Laplace approximation or adaptive
Gauss-Hermite quadrature and returns a :class:`GeneralizedLinearMixedModel`.
"""

from ._family import Family, make_family
from ._glmer import glmer
from ._results import GeneralizedLinearMixedModel

__all__ = ["glmer", "GeneralizedLinearMixedModel"]
