"""``robma``: robust Bayesian model averaging over effect, heterogeneity and publication bias."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..._data import as_dataframe, check_columns, offending_rows, row_labels
from ..._exceptions import ArgumentError, DataError, ModelSpecificationError
from .._design import prepare
from .._priors import Prior, prior
from ._averaging import posterior_probabilities
from ._integrate import integrate
from ._cluster import check_cluster_ids, cluster_fields, model_posterior, rho_prior
from ._likelihood import cutoff_rule, t_rule_sample_size
from ._measures import fitting_scale, se_from_n
from ._regfit import fit_regression
from ._result import ModelResult, RobmaData, RobmaFit
from ._spec import BiasPrior, default_bias_priors, make_ensemble, normalize_measure

__all__ = ["robma"]


def robma(yi, vi=None, *, sei=None, ni=None, measure: str, cluster=None, data=None, model_type: str | None = "PSMA",
          prior_effect: Prior | None = None, prior_heterogeneity: Prior | None = None,
          prior_bias=None, prior_effect_null: Prior | None = None,
          prior_heterogeneity_null: Prior | None = None, prior_bias_null: bool = True,
          effect_direction: str = "positive", cutoffs: str | None = None, method: str = "auto",
          draws: int = 10000, seed: int | None = None, mods=None, prior_covariates: Prior | None = None,
          prior_factors: Prior | None = None, prior_heterogeneity_allocation: Prior | None = None,
          prior_heterogeneity_allocation_null: Prior | None = None) -> RobmaFit:
    r"""Robust Bayesian meta-analysis: model averaging over the presence of an effect,
    heterogeneity and publication bias (RoBMA, Bartos et al. 2023; RoBMA-PSMA by default).

    Every combination of an effect component (:math:`\mu = 0` or :math:`\mu \sim N(0, 1)`),
    a heterogeneity component (:math:`\tau = 0` or :math:`\tau \sim InvGamma(1, 0.15)`) and a
    bias component (none, a step weight function, PET or PEESE) is a model; with the study
    effects integrated out, estimate :math:`y_i` with standard error :math:`s_i` follows

    .. math::

        y_i \sim N(c\mu + b(s_i), s_i^2 + c^2\tau^2), \quad b(s) = \mathrm{PET}\, s
        \text{ or } (\mathrm{PEESE}/c)\, s^2 \text{ or } 0,

    weighted by the step weight function :math:`\omega` of the estimate's p-value for the
    selection models (the weighted normal, see :mod:`multilevel.bayes.robma._likelihood`).
    The parameters and their priors are on the Cohen's d scale; :math:`c` is RoBMA's linear
    factor to the scale of the data (1 for ``"SMD"``, 1/2 for ``"ZCOR"``, :math:`\pi/\sqrt 3`
    for ``"OR"``, 1 for ``"GEN"``). The data are fitted on the scale of ``measure``, as RoBMA
    fits them with ``transformation`` set to that measure (RoBMA's own default converts Cohen's
    d to Fisher's z first; the two differ slightly because the prior rescaling is linear).

    Default ensemble (RoBMA 3's RoBMA-PSMA, 36 models): effect and heterogeneity each null
    (a point at 0) or present with prior weight 1 each; bias absent (weight 1) or one of
    two-sided weight functions with cut-offs (.05) and (.05, .10), one-sided (.05),
    (.025, .05), (.05, .5) and (.025, .05, .5), each with a cumulative Dirichlet(1, ..., 1)
    prior on the weights and prior weight 1/12, PET :math:`\sim Cauchy(0, 1)` on
    :math:`[0, \infty)` with weight 1/4 and PEESE :math:`\sim Cauchy(0, 5)` on
    :math:`[0, \infty)` with weight 1/4. A model's prior probability is the product of its
    components' weights, normalized: 1/8 for each of the four models without bias, 1/96 for
    each weight-function model, 1/32 for each PET or PEESE model (bias and no bias 1/2 each).

    Parameters
    ----------
    yi, vi : str or array
        Effect sizes and sampling variances (column names in ``data`` or arrays).
    sei : str or array, optional
        Standard errors instead of ``vi``.
    ni : str or array, optional
        Sample sizes instead of ``vi`` (measures ``"SMD"``, ``"ZCOR"`` and ``"COR"``): standard
        errors by RoBMA's rules (``combine_data``), :math:`\sqrt{4/n + d^2/(2n)}` for Cohen's d,
        :math:`1/\sqrt{n - 3}` for Fisher's z and for correlations (fitted as Fisher's z).
    measure : str
        ``"SMD"`` (Cohen's d), ``"ZCOR"`` (Fisher's z), ``"COR"`` (correlations; fitted as
        Fisher's z, :math:`z = \operatorname{atanh} r`, :math:`s_z = 1/\sqrt{n - 3}` with RoBMA's
        sample size of r and its standard error, :math:`n = (1 - r^2/2)(1 - r^2)^2 / s_r^2`),
        ``"OR"`` (log odds ratios) or ``"GEN"`` (any other measure: priors used as given,
        no transformation).
    cluster : str or array, optional
        Cluster of each estimate (RoBMA's ``study_ids``, as ``cluster`` of :func:`brma`): the
        models with heterogeneity get a cluster level (see Notes) and the summary a
        ``Hierarchical`` component and the estimate of rho. At least two clusters; no missing
        ids (an estimate alone in its cluster needs an id of its own). Combines with ``mods``
        (RoBMA.reg with ``study_ids``).
    data : DataFrame or dict, optional
    model_type : {"PSMA", "PP", "2w"}
        The bias alternatives when ``prior_bias`` is not given: RoBMA-PSMA (above), RoBMA-PP
        (PET and PEESE, 1/2 each) or the original RoBMA (the two two-sided weight functions,
        1/2 each).
    prior_effect, prior_heterogeneity : Prior, optional
        Priors of mu and tau under the alternative (default ``prior("normal", 0, 1)`` and
        ``prior("invgamma", 1, 0.15)``), Cohen's d scale.
    prior_bias : sequence of BiasPrior, optional
        Bias alternatives (:func:`prior_weightfunction`, :func:`prior_pet`,
        :func:`prior_peese`) with their prior weights; replaces ``model_type``.
    prior_effect_null, prior_heterogeneity_null : Prior, optional
        Null priors (default point masses at 0).
    prior_bias_null : bool
        Include the models without publication bias (default True).
    effect_direction : {"positive", "negative"}
        The expected direction of the effect: one-sided p-values and the PET / PEESE shifts
        are taken in that direction (estimates are flipped for fitting, mu is reported in the
        data's direction).
    cutoffs : {None, "normal", "t"}
        p-values of the weight functions: from the z statistic :math:`y_i / s_i` (``"normal"``),
        or (``"t"``) from a t test on :math:`n_i - 2` degrees of freedom with the sample size
        recovered from the estimate and its standard error, as RoBMA 2-3 computes them: for
        ``"SMD"`` a two-group design of equal sizes, :math:`n_i = (y_i^2 + 8) / (2 s_i^2)` (the
        cut-off on the d scale is :math:`2 t_{n_i-2}^{-1}(1 - c) / \sqrt{n_i}`); for ``"ZCOR"``
        :math:`n_i = 3 + 1 / s_i^2` (cut-off :math:`t_{n_i-2}^{-1}(1 - c)\, s_i`); for ``"COR"``
        the correlation's sample size (above, :math:`n_i = 3 + 1 / s_i^2` on the Fisher's z scale;
        cut-off :math:`t / \sqrt{n_i - 2 + t^2}` on the r
        scale, then Fisher's z); see :class:`multilevel.bayes.robma._likelihood.SelectionData`.
        Default (None): ``"t"`` for ``"SMD"``, ``"ZCOR"`` and ``"COR"``, ``"normal"`` for
        ``"OR"`` (RoBMA's t test of a log odds ratio has infinite degrees of freedom) and
        ``"GEN"``. An estimate exactly at a cut-off counts as significant.
    method : {"auto", "quadrature", "importance"}
        Integration of each model: ``"auto"`` uses quadrature for models with at most two free
        parameters and adaptive importance sampling for larger ones (see
        :mod:`multilevel.bayes.robma._integrate`); ``"quadrature"`` up to three.
    draws : int
        Size of each model's posterior sample (importance sampling: rounded up to eight sets of
        a power of 2 points, 16,384 for the default 10,000).
    seed : int, optional
        Random seed (importance sampling and the draws); a fit is reproducible for a seed.
    mods : str or list of str, optional
        Moderators (RoBMA.reg): a formula such as ``"~ x1 + f"`` or a list of column names of
        ``data``. Every model of the ensemble is fitted with and without each moderator
        (prior weight 1 each, so :math:`36 \times 2^m` models for m moderators); the mean of
        estimate i becomes :math:`c(\mu + x_i'\beta)`, mu being the effect at the mean of the
        moderators. Continuous moderators are standardized; factors get the "meandif" contrast
        (see :mod:`multilevel.bayes.robma._moderators`). Returns a :class:`RobmaRegFit`.
        With ``cluster`` as well, the models with heterogeneity get the cluster level (see
        Notes).
    prior_covariates, prior_factors : Prior, optional
        Normal priors of a continuous moderator's coefficient and of the meandif coefficients
        of a factor when present (default ``prior("normal", 0, 0.25)`` each, RoBMA.reg's
        defaults, Cohen's d scale); absent moderators have their coefficients at 0.
    prior_heterogeneity_allocation : Prior, optional
        Prior of rho, the share of tau^2 between clusters (with ``cluster``; default
        ``prior("beta", 1, 1)``, RoBMA's ``priors_hierarchical``): any prior on [0, 1], a point
        (``prior("point", 0.5)``) fixing rho.
    prior_heterogeneity_allocation_null : Prior, optional
        The null prior of rho (RoBMA's ``priors_hierarchical_null``; default none): a prior on
        [0, 1], usually ``prior("point", 0)`` (estimates of a cluster independent). Every model
        is then fitted with the null and with the alternative prior of rho (prior weight 1 each,
        72 models for RoBMA-PSMA; a model without heterogeneity has no rho, so its two versions
        are the same model, each with half its prior probability), and the ``Hierarchical``
        component tests rho's alternative against its null.

    Returns
    -------
    RobmaFit

    Notes
    -----
    No MCMC and no compilation: each model's marginal likelihood and posterior come from
    quadrature or importance sampling, with the error of the log marginal likelihood in
    :meth:`RobmaFit.models_overview`. In the models without a weight function mu enters a
    Gaussian likelihood linearly and is integrated out in closed form (then drawn from its
    normal conditional), which leaves at most two parameters (tau and PET or PEESE) for the
    quadrature.

    With ``cluster`` (RoBMA 3's multilevel models), the estimates :math:`y_c` of cluster c
    are jointly normal in every model with heterogeneity,

    .. math::

        y_c \sim N\big(c\mu 1 + b(s_c),\; \operatorname{diag}(s_c^2) + c^2\tau^2((1 - \rho) I
        + \rho 11')\big), \qquad \rho \sim Beta(1, 1),

    (RoBMA's parametrization: tau the total heterogeneity, :math:`\rho\tau^2` the covariance
    of two estimates of a cluster); models without heterogeneity keep independent estimates
    and no rho. PET and PEESE shift the mean as above. Selection models use RoBMA's
    multivariate weighted normal: the normal density of :math:`y_c` times the product of the
    weights of its estimates, divided by the expectation of that product under the normal,
    which is computed as a one-dimensional integral over the cluster effect (see
    :mod:`multilevel.bayes.robma._cluster`). The cluster effects and, without selection, mu
    are integrated out in closed form, so a model has one more parameter (rho) than without
    clusters.

    ``mods`` and ``cluster`` combine: the mean of estimate i becomes
    :math:`c(\mu + x_i'\beta) + b(s_i)` with the same cluster covariance. Without a weight
    function mu and the moderators' coefficients are integrated out in closed form under that
    covariance (see :mod:`multilevel.bayes.robma._regcluster`), leaving tau, rho and PET or
    PEESE; the selection models sample the coefficients with the other parameters. The
    summary then has the Hierarchical component and rho beside the Meta-regression
    components.

    References
    ----------
    Bartos, F., Maier, M., Wagenmakers, E.-J., Doucouliagos, H., & Stanley, T. D. (2023).
    Robust Bayesian meta-analysis: Model-averaging across complementary publication bias
    adjustment methods. Research Synthesis Methods, 14(1), 99-116.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
    >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, seed=1)
    >>> fit.components().loc["Effect", "Models"]
    '18/36'
    """
    measure = normalize_measure(measure)
    direction = _direction(effect_direction)
    cutoffs = ("t" if measure in ("SMD", "ZCOR", "COR") else "normal") if cutoffs is None else cutoffs
    if cutoffs not in ("normal", "t") or (cutoffs == "t" and measure not in ("SMD", "ZCOR", "COR")):
        raise ModelSpecificationError(
            f"cutoffs must be 'normal', or 't' for measures 'SMD', 'ZCOR' and 'COR' (a t test needs a "
            f"sample size derivable from the estimate and its standard error); got cutoffs={cutoffs!r} "
            f"with measure {measure!r}")
    if method not in ("auto", "quadrature", "importance"):
        raise ArgumentError(f"method must be 'auto', 'quadrature' or 'importance', got {method!r}")
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 100:
        raise ArgumentError(f"draws must be an integer of at least 100, got {draws!r}")
    if ni is not None:
        sei = _sei_from_ni(yi, ni, vi, sei, data, measure)
    models = _ensemble(model_type, prior_effect, prior_heterogeneity, prior_bias, prior_effect_null,
                       prior_heterogeneity_null, prior_bias_null, clustered=cluster is not None,
                       p_rho=prior_heterogeneity_allocation, p_rho0=prior_heterogeneity_allocation_null)
    check_cluster_ids(cluster, data)
    if mods is not None:
        return fit_regression(mods, yi, vi, sei, data, measure=measure, direction=direction, cutoffs=cutoffs,
                              method=method, draws=int(draws), seed=seed, base=models,
                              model_type=model_type if prior_bias is None else None,
                              prior_covariates=prior_covariates, prior_factors=prior_factors,
                              measure_data=_measure_data, check_identifiable=_check_identifiable,
                              check_t_cutoffs=_check_t_cutoffs, cuts_of=_cuts, cluster=cluster,
                              prior_rho=prior_heterogeneity_allocation)
    bd = prepare(yi, vi, sei, cluster=cluster, mods=None, scale=None, data=data)
    y, se = _measure_data(bd, measure)
    _check_identifiable(models, y.size)
    _check_t_cutoffs(models, cutoffs, measure, y, se, bd)
    seed = int(np.random.default_rng().integers(2**31 - 1)) if seed is None else int(seed)
    rd = RobmaData(y, se, tuple(str(r) for r in (bd.row_names or range(1, y.size + 1))), measure, direction,
                   cutoffs, bd.n_dropped, *cluster_fields(bd, prior_heterogeneity_allocation))
    results = _fit_models(models, rd, method, int(draws), seed)
    prior_prob = np.array([m.prior_prob for m in models])
    post = posterior_probabilities(np.array([r.log_ml for r in results]), prior_prob)
    return RobmaFit(rd, results, prior_prob, post, _cuts(models), seed,
                    model_type if prior_bias is None else None)


def _direction(effect_direction) -> int:
    if effect_direction not in ("positive", "negative"):
        raise ArgumentError(f"effect_direction must be 'positive' or 'negative', got {effect_direction!r}")
    return 1 if effect_direction == "positive" else -1


def _measure_data(bd, measure: str):
    return fitting_scale(measure, bd.y.astype(float), np.sqrt(bd.v), list(bd.row_names) or None)


def _sei_from_ni(yi, ni, vi, sei, data, measure: str) -> np.ndarray:
    """Standard errors from sample sizes ``ni`` (RoBMA's rules, see :mod:`._measures`)."""
    if vi is not None or sei is not None:
        raise ArgumentError("give one of vi (sampling variances), sei (standard errors) or ni (sample sizes)")
    df = None if data is None else as_dataframe(data)
    if df is not None:
        check_columns(df, [c for c in (yi, ni) if isinstance(c, str)], context="robma call")
    y, n = (np.asarray(df[v] if isinstance(v, str) else v, dtype=float) for v in (yi, ni))
    if y.shape != n.shape or y.ndim != 1:
        raise DataError(f"ni has shape {n.shape} but yi has shape {y.shape}")
    return se_from_n(measure, y, n, row_labels(df, len(n)) if df is not None else None)


def _ensemble(model_type, p_mu, p_tau, p_bias, p_mu0, p_tau0, bias_null: bool, *, clustered: bool = False,
              p_rho=None, p_rho0=None):
    for name, p in (("prior_effect", p_mu), ("prior_heterogeneity", p_tau), ("prior_effect_null", p_mu0),
                    ("prior_heterogeneity_null", p_tau0)):
        if p is not None and not isinstance(p, Prior):
            raise ModelSpecificationError(f"{name} must be a prior (see ml.prior), got {p!r}")
    p_tau = p_tau or prior("invgamma", 1, 0.15)
    p_tau0 = p_tau0 or prior("point", 0)
    for name, p in (("prior_heterogeneity", p_tau), ("prior_heterogeneity_null", p_tau0)):
        if p.lower < 0:
            raise ModelSpecificationError(f"{name} must be a prior on [0, Inf), got {p}")
    if p_bias is None:
        bias = default_bias_priors(model_type)
    else:
        bias = tuple([p_bias] if isinstance(p_bias, BiasPrior) else p_bias)
        if not bias or not all(isinstance(b, BiasPrior) for b in bias):
            raise ModelSpecificationError("prior_bias must be a list of ml.prior_weightfunction, ml.prior_pet "
                                          "or ml.prior_peese")
    if not clustered and p_rho0 is not None:
        raise ModelSpecificationError("prior_heterogeneity_allocation_null needs a cluster")
    hierarchical = ([rho_prior(p_rho)], [] if p_rho0 is None else
                    [rho_prior(p_rho0, "prior_heterogeneity_allocation_null")]) if clustered else (None, ())
    return make_ensemble([p_mu or prior("normal", 0, 1)], [p_mu0 or prior("point", 0)], [p_tau], [p_tau0],
                         bias, bias_null, *hierarchical)


def _check_identifiable(models, k: int) -> None:
    """At least as many estimates as the largest model has free parameters (rho, the share of
    tau^2 between clusters, counts in the models with a cluster level)."""
    worst = max(models, key=lambda m: m.dim)
    if k < 2 or k < worst.dim:
        rho = " (rho: the share of tau^2 between clusters)" if "rho" in worst.free else ""
        raise DataError(
            f"robma needs at least {max(2, worst.dim)} estimates for this ensemble (its largest model, "
            f"with {worst.bias_label()}, has {worst.dim} free parameters: {', '.join(worst.free)}{rho}); "
            f"got k = {k}")


def _check_t_cutoffs(models, cutoffs: str, measure: str, y, se, bd) -> None:
    """With weight functions in the ensemble, the t-test p-values need a recovered sample size
    n above 2 (see ``t_rule_sample_size``)."""
    if cutoffs != "t" or not any(m.bias is not None and m.bias.kind == "weightfunction" for m in models):
        return
    bad = ~(t_rule_sample_size(cutoff_rule("t", measure), y, se) > 2)
    if bad.any():
        raise DataError(
            "the weight functions' p-values (cutoffs='t') are t tests on n - 2 degrees of freedom with the "
            "sample size n recovered from the estimate and its standard error; these estimates give n <= 2 "
            f"(standard errors too large for the measure), use cutoffs='normal'; "
            f"{offending_rows(bad, list(bd.row_names) or None, se)}")


def _cuts(models) -> tuple[float, ...]:
    cuts = set()
    for m in models:
        if m.bias is not None and m.bias.kind == "weightfunction":
            cuts |= set(m.bias.weightfunction.one_sided_steps)
    return tuple(sorted(cuts))


def _fit_models(models, rd: RobmaData, method: str, draws: int, seed: int) -> tuple[ModelResult, ...]:
    """Each model's result (model i with seed ``seed + 101 i``); a model repeated with another
    prior probability (RoBMA's two versions of a model without rho) is fitted once."""
    done, out = {}, []
    for i, m in enumerate(models):
        key = (m.mu, m.tau, m.bias, m.rho)
        if key not in done:
            done[key] = _fit_model(m, rd, method, draws, seed + 101 * i)
        out.append(replace(done[key], model=m))
    return tuple(out)


def _fit_model(model, rd: RobmaData, method: str, draws: int, seed: int) -> ModelResult:
    f = model_posterior(model, rd)
    res = integrate(f, method=method, draws=draws, seed=seed)
    vals, _ = f.constrain(res.U)
    if f.collapsed:
        vals["mu"] = f.draw_mu(vals, np.random.default_rng(seed + 1))
    n = res.U.shape[0]
    samples = {k: (np.broadcast_to(v, (n,)).copy() if v.ndim == 1 else v) for k, v in vals.items()}
    return ModelResult(model, res, samples)
