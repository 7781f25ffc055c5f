"""``robma(..., mods=...)``: the RoBMA ensemble crossed with the moderators (RoBMA.reg).

Called by :func:`multilevel.robma` when ``mods`` is given, after the shared arguments were
checked and the base ensemble (effect x heterogeneity x bias) was built.
"""

from __future__ import annotations

import numpy as np

from ..._exceptions import DataError, ModelSpecificationError
from .._design import prepare
from .._priors import Prior, prior
from ._averaging import posterior_probabilities
from ._integrate import integrate
from ._moderators import moderator_design, moderator_formula, moderator_rows
from ._cluster import cluster_fields
from ._regcluster import regression_posterior
from ._regression import regression_ensemble
from ._regresult import RobmaRegFit
from ._result import ModelResult, RobmaData

__all__ = ["fit_regression", "moderator_prior"]


def moderator_prior(p: Prior | None, name: str) -> Prior:
    """The prior of the coefficients of a moderator: normal (RoBMA.reg's default N(0, 0.25))."""
    if p is None:
        return prior("normal", 0, 0.25)
    if not isinstance(p, Prior) or p.family != "normal" or not (np.isinf(p.lower) and np.isinf(p.upper)):
        raise ModelSpecificationError(f"{name} must be an untruncated normal prior such as "
                                      f"ml.prior('normal', 0, 0.25), got {p!r}")
    return p


def fit_regression(mods, yi, vi, sei, data, *, measure: str, direction: int, cutoffs: str, method: str,
                   draws: int, seed: int | None, base, model_type, prior_covariates, prior_factors,
                   measure_data, check_identifiable, check_t_cutoffs, cuts_of, cluster=None,
                   prior_rho=None) -> RobmaRegFit:
    """Fit every model of ``base`` with and without each moderator of ``mods`` (with a cluster
    level in the models with heterogeneity when ``cluster`` is given, see :mod:`._regcluster`).

    ``measure_data``, ``check_identifiable``, ``check_t_cutoffs`` and ``cuts_of`` are the
    helpers of :mod:`._fit` shared with the ensemble without moderators.
    """
    formula = moderator_formula(mods)
    p_cont = moderator_prior(prior_covariates, "prior_covariates")
    p_fac = moderator_prior(prior_factors, "prior_factors")
    df, yi, vi, sei, cluster = moderator_rows(yi, vi, sei, formula, data, cluster)
    bd = prepare(yi, vi, sei, cluster=cluster, mods=None, scale=None, data=df)
    design = moderator_design(formula, df.loc[list(bd.labels)])
    y, se = measure_data(bd, measure)
    terms = design.terms
    models = regression_ensemble(base, design.names, tuple(t.width for t in terms),
                                 tuple(p_cont if t.kind == "continuous" else p_fac for t in terms))
    check_identifiable(models, y.size)
    if y.size <= 1 + design.X.shape[1]:
        raise DataError(f"{y.size} estimates cannot inform the intercept and {design.X.shape[1]} moderator "
                        f"coefficients of {formula!r}; a meta-regression needs more estimates than coefficients")
    check_t_cutoffs(models, cutoffs, measure, y, se, bd)
    seed = int(np.random.default_rng().integers(2**31 - 1)) if seed is None else int(seed)
    rd = RobmaData(y, se, tuple(str(r) for r in (bd.row_names or range(1, y.size + 1))), measure, direction,
                   cutoffs, bd.n_dropped, *cluster_fields(bd, prior_rho))
    results = tuple(_fit_model(m, rd, design.X, method, draws, seed + 101 * i) for i, m in enumerate(models))
    prior_prob = np.array([m.prior_prob for m in models])
    post = posterior_probabilities(np.array([r.log_ml for r in results]), prior_prob)
    return RobmaRegFit(rd, results, prior_prob, post, cuts_of(models), seed, model_type, design)


def _fit_model(model, rd: RobmaData, X: np.ndarray, method: str, draws: int, seed: int) -> ModelResult:
    f = regression_posterior(model, rd, X)
    res = integrate(f, method=method, draws=draws, seed=seed)
    vals, _ = f.constrain(res.U)
    n = res.U.shape[0]
    beta = np.zeros((n, X.shape[1]))
    cols = model.columns()
    if f.collapsed:
        drawn = f.draw_coefficients(vals, np.random.default_rng(seed + 1))
        vals.update({k: v for k, v in drawn.items() if k == "mu"})
        if "beta" in drawn:
            beta[:, cols] = drawn["beta"]
    if f.free_beta:
        beta[:, cols] = vals["beta"]
    samples = {k: (np.broadcast_to(v, (n,)).copy() if v.ndim == 1 else v) for k, v in vals.items() if k != "beta"}
    samples["beta"] = beta
    return ModelResult(model, res, samples)
