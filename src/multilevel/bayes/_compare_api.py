"""Bayes factors between brma fits (no JAX at import time)."""

from __future__ import annotations

from .._exceptions import ModelSpecificationError
from ._marginal import BayesFactor

__all__ = ["bayes_factor"]


def bayes_factor(fit1, fit0, *, method: str = "bridge", **kwargs):
    """Bayes factor BF10 of ``fit1`` over ``fit0`` from their log marginal likelihoods.

    Parameters
    ----------
    fit1, fit0 : BrmaFit
        Fits of the same estimates (for example mu free vs ``prior_effect=prior("point", 0)``,
        or with vs without ``cluster``).
    method : str
        ``"bridge"`` (bridge sampling, with Monte Carlo error), ``"quadrature"`` or ``"grid"``
        (the quadrature engine's own value; both fits by ``engine="quadrature"``).

    Returns
    -------
    BayesFactor
        ``bf``, ``log_bf`` and the Monte Carlo error of ``log_bf``.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.datasets.load("konstantopoulos2011")
    >>> f1 = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
    ...              progress=False)
    >>> f0 = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
    ...              progress=False, prior_effect=ml.prior("point", 0))
    >>> bf = ml.bayes_factor(f1, f0)
    >>> bf.bf > 1
    True
    """
    if fit1.data.k != fit0.data.k or (fit1.data.y != fit0.data.y).any():
        raise ModelSpecificationError("Bayes factors compare fits of the same estimates")
    m1 = fit1.log_marginal_likelihood(method=method, **kwargs)
    m0 = fit0.log_marginal_likelihood(method=method, **kwargs)
    return BayesFactor.from_marginals(m1, m0)
