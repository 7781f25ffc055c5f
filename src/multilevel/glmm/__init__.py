"""Generalized linear mixed models as lme4's ``glmer``.

:func:`glmer` fits binomial, Poisson, Gamma and inverse Gaussian models with
lme4's formula language by the Laplace approximation or adaptive
Gauss-Hermite quadrature and returns a :class:`GeneralizedLinearMixedModel`;
:func:`glmer_nb` fits negative binomial GLMMs with the dispersion estimated as lme4's
``glmer.nb``.
"""

from ._family import Family, make_family
from ._glmer import glmer
from ._glmer_nb import glmer_nb
from ._nb import NegativeBinomialMixedModel
from ._plots import plot_glmer
from ._results import GeneralizedLinearMixedModel

__all__ = ["glmer", "glmer_nb", "GeneralizedLinearMixedModel", "NegativeBinomialMixedModel", "plot_glmer"]
