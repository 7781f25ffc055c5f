"""``brma``: Bayesian (multilevel) random-effects meta-analysis and meta-regression."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from . import _engines
from .._exceptions import ArgumentError, DataError, ModelSpecificationError
from .._display import TextViews
from .._protocol import FitProtocol, confint_frame, parse_level, tidy_frame
from ._design import BrmaData, model_args, new_design, prepare
from ._diagnostics import check_convergence
from ._layout import Layout, make_layout
from ._priors import MEASURES, Prior, Priors, default_priors, unit_information_sd
from ._summary import (
    BrmaSummary,
    HeterogeneitySummary,
    estimates_frame,
    heterogeneity_draws,
    heterogeneity_frame,
    typical_variance,
)
from .._data import as_dataframe, check_columns, offending_rows
from ._compare import inference_data, loo, log_marginal_likelihood
from ._plots import plot_parameter, plot_diagnostics, forest
from ._predict import predict_frame

__all__ = ["brma", "BrmaFit"]

_TAILS = (0.025, 0.975)


def _probs(probs, level, default=_TAILS, *, median: bool = False) -> tuple[float, ...]:
    """Quantile probabilities from ``probs`` or from a central interval ``level``
    (a proportion or a percentage, see :func:`~multilevel._protocol.parse_level`)."""
    if level is None:
        return tuple(default if probs is None else probs)
    if probs is not None:
        raise ArgumentError(f"give level or probs, not both (level={level!r}, probs={probs!r})")
    lo, hi = _tails(level)
    return (lo, 0.5, hi) if median else (lo, hi)


def _tails(level) -> tuple[float, float]:
    """The quantile probabilities of a central ``level`` interval (0.9 -> 0.05, 0.95)."""
    a = round((1.0 - parse_level(level)) / 2.0, 12)  # 0.05, not 0.04999999999999999
    return a, round(1.0 - a, 12)



def brma(yi, vi=None, *, sei=None, measure: str, cluster=None, mods: str | None = None,
         scale: str | None = None, data=None, ni=None, prior_effect: Prior | None = None,
         prior_heterogeneity: Prior | None = None, prior_mods: Prior | dict | None = None,
         prior_scale: Prior | dict | None = None, prior_heterogeneity_allocation: Prior | None = None,
         prior_unit_information_sd: float | None = None, chains: int = 3, draws: int = 5000,
         warmup: int = 1000, seed: int | None = None, progress: bool = True,
         engine: str = "auto") -> "BrmaFit":
    r"""Bayesian random-effects meta-analysis, multilevel and location-scale (RoBMA's ``brma``).

    .. math::

        y_i = \mu + x_i'\beta + u_{c(i)} + \varepsilon_i, \quad
        u_c \sim N(0, \tau^2\rho), \quad
        \varepsilon_i \sim N(0, v_i + \tau^2 (1 - \rho)),

    with :math:`\log\tau_i = \log\tau + s_i'\delta` in a location-scale model and
    :math:`\rho` absent without ``cluster``. Default priors (RoBMA 4, from the unit-information
    SD of ``measure``): :math:`\mu \sim N(0, UISD/2)`, :math:`\tau \sim N_+(0, UISD/4)`,
    :math:`\rho \sim Beta(1, 1)`, :math:`\beta \sim N(0, UISD/4)` per SD of standardized
    continuous predictors, :math:`\delta \sim N(0, 0.5)`.

    Parameters
    ----------
    yi, vi : str or array
        Effect sizes and sampling variances (column names in ``data`` or arrays).
    sei : str or array, optional
        Standard errors instead of ``vi``.
    measure : str
        ``"SMD"``, ``"ZCOR"``, ``"OR"``, ``"RR"``, ``"HR"``, ``"IRR"`` or ``"GEN"`` (then give
        ``ni`` or ``prior_unit_information_sd``).
    cluster : str or array, optional
        Cluster (e.g. district, study) of each estimate: fits the multilevel model.
    mods, scale : str, optional
        Formulas (``"~ x1 + x2"``) of the meta-regression and of log(tau).
    data : DataFrame or dict, optional
    ni : str or array, optional
        Sample sizes, to estimate the unit-information SD for ``measure="GEN"``.
    prior_effect, prior_heterogeneity, prior_heterogeneity_allocation : Prior, optional
        Priors of mu, tau and rho (see :func:`prior`); replace the defaults.
    prior_mods, prior_scale : Prior or dict of Prior, optional
        One prior for all coefficients or a dict by coefficient name.
    prior_unit_information_sd : float, optional
    chains, draws, warmup : int
        Chains, draws per chain kept, warm-up (adaptation) iterations per chain (NUTS only;
        the quadrature engine returns ``chains * draws`` independent draws in that shape).
    seed : int, optional
        Random seed; a fit is reproducible for a given seed.
    progress : bool
        Show a progress bar on runs longer than a second.
    engine : {"auto", "quadrature", "nuts"}
        ``"quadrature"``: the exact posterior on a grid and independent draws from it (no
        compilation, no MCMC error), for models with at most three parameters left after
        integration (tau, rho and up to one scale coefficient or non-normal coefficient prior);
        ``"nuts"``: NumPyro's NUTS (any model); ``"auto"``: quadrature when it applies.

    Returns
    -------
    BrmaFit

    Notes
    -----
    The estimate and cluster levels and any coefficient with a normal prior are integrated
    out analytically; the remaining parameters (tau, rho, delta) are either integrated
    numerically (quadrature engine: mode and curvature, then a regular grid of cells over the
    region within exp(-30) of the maximum density on axes aligned with the posterior
    covariance; independent draws pick a cell by its mass and a point uniformly within it) or
    sampled by NUTS, and the integrated coefficients and cluster effects are drawn from their
    exact conditionals. The quadrature engine also gives the log marginal likelihood
    (``fit.log_marginal_likelihood(method="grid")``, with its quadrature error) and uses NumPy
    only. The NUTS engine switches JAX to 64-bit floats (``jax_enable_x64``) for the whole
    process and compiles the sampler on the first fit of a model shape (10-20 s); later fits of
    the same shape in the session reuse it. Compiled programs are kept across sessions in JAX's
    persistent compilation cache, in ``$XDG_CACHE_HOME/multilevel/jax`` (``~/.cache/...``;
    ``~/Library/Caches/...`` on macOS, ``%LOCALAPPDATA%\\...`` on Windows); set the
    environment variable ``MULTILEVEL_JAX_CACHE`` to another directory, or to ``0`` to turn
    this off. A cache directory you set yourself (``jax_compilation_cache_dir``) is left as
    it is; the setting applies to the whole process (JAX has one cache). Chains run
    vectorized on one CPU device.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.datasets.load("konstantopoulos2011")
    >>> fit = ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", data=dat, seed=1,
    ...               progress=False)
    >>> fit.summary().to_frame().loc["mu", "Mean"].round(2)
    np.float64(0.18)
    """
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        raise ModelSpecificationError(f"unknown measure {measure!r}; use one of {', '.join(MEASURES)}")
    for name, val in (("chains", chains), ("draws", draws), ("warmup", warmup)):
        if not isinstance(val, (int, float, np.integer, np.floating)) or int(val) != val or val < 1:
            raise ModelSpecificationError(f"{name} must be a positive integer, got {val!r}")
    bd = prepare(yi, vi, sei, cluster=cluster, mods=mods, scale=scale, data=data)
    priors = _priors(bd, measure, ni, data, prior_unit_information_sd, prior_effect,
                     prior_heterogeneity, prior_mods, prior_scale, prior_heterogeneity_allocation)
    seed = int(np.random.default_rng().integers(2**31 - 1)) if seed is None else int(seed)
    layout = make_layout(priors)
    run = _engines.fit(engine, layout, bd, model_args(bd), chains=int(chains), draws=int(draws),
                       warmup=int(warmup), seed=seed, progress=progress)
    return _assemble(bd, priors, layout, run, measure.upper(), seed, int(warmup))


def _priors(bd, measure, ni, data, uisd, p_mu, p_tau, p_mods, p_scale, p_rho) -> Priors:
    if uisd is None:
        n = None
        if ni is not None:
            n = _sample_sizes(ni, data, bd)
        uisd = unit_information_sd(measure, np.sqrt(bd.v), n)
    mod_names, scale_names = list(bd.X_names[1:]), list(bd.Z_names)
    base = default_priors(float(uisd), multilevel=bd.cluster is not None, mods=mod_names, scale=scale_names)
    if p_rho is not None and bd.cluster is None:
        raise ModelSpecificationError("prior_heterogeneity_allocation needs a cluster")
    return replace(base, mu=p_mu or base.mu, tau=p_tau or base.tau, rho=p_rho or base.rho,
                   mods=_per_name(p_mods, base.mods, "prior_mods"),
                   scale=_per_name(p_scale, base.scale, "prior_scale"))


def _sample_sizes(ni, data, bd: BrmaData) -> np.ndarray:
    """Sample sizes of the rows used (after dropping rows with missing values)."""
    if isinstance(ni, str):
        if data is None:
            raise ModelSpecificationError(f"ni={ni!r} names a column, but no data were given")
        df = as_dataframe(data)
        check_columns(df, [ni], context="brma call")
        col = df[ni]
    else:
        index = as_dataframe(data).index if data is not None else pd.RangeIndex(bd.k + bd.n_dropped)
        values = np.asarray(ni, dtype=float).ravel()
        if values.size != len(index):
            raise DataError(f"ni has {values.size} sample sizes but there are {len(index)} estimates")
        col = pd.Series(values, index=index)
    try:
        n = col.loc[list(bd.labels)].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(f"sample sizes ni must be numeric, but they hold {col.dtype} values") from None
    bad = ~np.isfinite(n) | (n <= 0)
    if bad.any():
        raise DataError(f"sample sizes ni must be positive numbers; "
                        f"{offending_rows(bad, list(bd.row_names) or None, n)}")
    return n


def _per_name(given, defaults: dict, what: str) -> dict:
    if given is None:
        return defaults
    if not defaults:
        raise ModelSpecificationError(f"{what} given, but the model has no such coefficients")
    if isinstance(given, Prior):
        return {k: given for k in defaults}
    unknown = set(given) - set(defaults)
    if unknown:
        raise ModelSpecificationError(f"{what}: unknown coefficient(s) {', '.join(sorted(unknown))}; "
                                      f"coefficients are {', '.join(defaults)}")
    return {k: given.get(k, v) for k, v in defaults.items()}


def _assemble(bd, priors, layout, run, measure, seed, warmup) -> "BrmaFit":
    B, z, loglik = _engines.complete(layout, bd, model_args(bd), run, seed + 7919)
    iid = _engines.is_iid(run)
    fit = BrmaFit(data=bd, priors=priors, measure=measure, seed=seed, warmup=0 if iid else warmup,
                  _layout=layout, _run=run, _B=B, _z=z, _loglik=loglik)
    if not iid:
        sampled = {n: run.draws[s] for n, s in fit._site_names().items()}
        object.__setattr__(fit, "convergence", tuple(check_convergence(sampled, run.diverging)))
    return fit


@dataclass(frozen=True)
class BrmaFit(FitProtocol, TextViews):
    """A fitted brma model (immutable). Draws of every parameter: :attr:`posterior`.

    Fields starting with an underscore are internal.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.datasets.load("konstantopoulos2011")
    >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
    ...               progress=False)
    >>> sorted(fit.posterior)
    ['mu', 'rho', 'tau']
    >>> fit.posterior["tau"].shape
    (3, 5000)
    """

    data: BrmaData
    priors: Priors
    measure: str
    seed: int
    warmup: int
    _layout: Layout = field(repr=False)
    _run: Any = field(repr=False)
    _B: np.ndarray = field(repr=False)
    _z: np.ndarray = field(repr=False)
    _loglik: np.ndarray = field(repr=False)
    convergence: tuple[str, ...] = ()

    # ----------------------------------------------------------------- draws
    @property
    def chains(self) -> int:
        return int(self._B.shape[0])

    @property
    def draws(self) -> int:
        return int(self._B.shape[1])

    @property
    def dropped_rows(self) -> tuple[str, ...]:
        """Labels of the rows dropped for missing values or undefined transformations (1-based
        positions, or the data's index labels), as every fit records them."""
        return tuple(self.data.dropped_rows)

    @property
    def is_multilevel(self) -> bool:
        return self.data.cluster is not None

    @property
    def engine(self) -> str:
        """``"quadrature"`` (independent draws from the exact posterior) or ``"nuts"``."""
        return "quadrature" if _engines.is_iid(self._run) else "nuts"

    def _site_names(self) -> dict[str, str]:
        """Display name -> NUTS site, for the sampled parameters."""
        names = dict(zip(["mu", *self.data.X_names[1:]], [s for s, _ in self._layout.fixed]))
        names |= {"tau": "tau", "rho": "rho"} | {f"log(tau): {n}": s for n, (s, _) in
                                                  zip(self.data.Z_names, self._layout.scale)}
        return {n: s for n, s in names.items() if s in self._run.draws}

    def _const(self, value: float) -> np.ndarray:
        return np.full((self.chains, self.draws), float(value))

    @property
    def posterior(self) -> dict[str, np.ndarray]:
        """Draws (chains, draws) of mu, the moderator coefficients (original predictor scale),
        tau, rho and the scale coefficients (log tau scale, original predictor scale)."""
        out = {}
        B = self._B @ self.data.back_X.T if self.data.back_X is not None else self._B
        for j, name in enumerate(["mu", *self.data.X_names[1:]]):
            out[name] = B[..., j]
        run = self._run.draws
        out["tau"] = run["tau"] if "tau" in run else self._const(self.priors.tau.params[0])
        if self.is_multilevel:
            out["rho"] = run["rho"] if "rho" in run else self._const(self.priors.rho.params[0])
        if self.data.Z_names:
            D = np.stack([np.log(out["tau"])] + [run[s] if s in run else self._const(p.params[0])
                                                  for s, p in self._layout.scale], axis=-1)
            if self.data.back_Z is not None:
                D = D @ self.data.back_Z.T
            out["log(tau): intercept"] = D[..., 0]
            for j, name in enumerate(self.data.Z_names):
                out[f"log(tau): {name}"] = D[..., j + 1]
        return out

    def _tau_parts(self):
        """Per-estimate tau_within and tau_between draws, (chains, draws, k)."""
        post, run = self.posterior, self._run.draws
        tau = post["tau"][..., None]
        if self.data.Z_names:
            delta = np.stack([run[s] if s in run else self._const(p.params[0])
                              for s, p in self._layout.scale], axis=-1)
            tau = tau * np.exp(delta @ self.data.Z.T)
        rho = post["rho"][..., None] if self.is_multilevel else 0.0
        return tau * np.sqrt(1 - rho), tau * np.sqrt(rho)

    # ----------------------------------------------------------------- summaries
    def summary(self, include_mcmc_diagnostics: bool = True, probs=None, *, level=None) -> BrmaSummary:
        """Posterior means, SDs, quantiles and MCMC diagnostics, printed like RoBMA.

        The quantiles are ``probs`` (default 0.025, 0.5, 0.975) or the median and the
        limits of the central ``level`` interval (a proportion or a percentage).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> print(str(fit.summary()).splitlines()[0])
        Bayesian Multilevel Random-Effects Model (k = 56, clusters = 11)
        >>> list(fit.summary().to_frame().index)
        ['mu', 'tau', 'rho']
        """
        probs = _probs(probs, level, (0.025, 0.5, 0.975), median=True)
        post = self.posterior
        est = {k: post[k] for k in ("mu", "tau", "rho") if k in post}
        blocks = []
        if len(self.data.X_names) > 1:
            est.pop("mu")
            reg = {"intercept": post["mu"]} | {n: post[n] for n in self.data.X_names[1:]}
        iid = _engines.is_iid(self._run)
        blocks.append(("Estimates", estimates_frame(est, probs, iid=iid)))
        if len(self.data.X_names) > 1:
            blocks.append(("Meta-regression", estimates_frame(reg, probs, iid=iid)))
        if self.data.Z_names:
            sc = {k.removeprefix("log(tau): "): v for k, v in post.items() if k.startswith("log(tau): ")}
            blocks.append(("Scale regression (log tau)", estimates_frame(sc, probs, iid=iid)))
        return BrmaSummary(self._title(), tuple(blocks), include_mcmc_diagnostics)

    def _title(self) -> str:
        kind = "Meta-Regression" if len(self.data.X_names) > 1 else "Random-Effects"
        kind = ("Location-Scale " if self.data.Z_names else "") + kind
        if self.is_multilevel:
            return f"Bayesian Multilevel {kind} Model (k = {self.data.k}, clusters = {self.data.num_clusters})"
        return f"Bayesian {kind} Model (k = {self.data.k})"

    def summary_heterogeneity(self, probs=None, *, level=None) -> HeterogeneitySummary:
        """tau, rho, the within / between split, tau2, I2 (typical sampling variance
        (k - p) / tr(P)) and H2, with the quantiles ``probs`` (default 0.025, 0.975) or
        the limits of the central ``level`` interval.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> list(fit.summary_heterogeneity().to_frame().index)[:4]
        ['tau', 'rho', 'tau [within]', 'tau [between]']
        """
        tw, tb = self._tau_parts()
        v_tilde = typical_variance(self.data.v, self.data.X)
        rho = self.posterior.get("rho")
        hd = heterogeneity_draws(tw.mean(-1), tb.mean(-1) if self.is_multilevel else None, rho, v_tilde)
        return HeterogeneitySummary(heterogeneity_frame(hd, _probs(probs, level)))

    def pooled_effect(self, probs=None, *, level=None) -> pd.DataFrame:
        """Pooled effect mu and the prediction for a new estimate (in a new cluster):
        mean, median and credible / prediction interval (quantiles ``probs`` or the
        central ``level`` interval, default 95%).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> list(fit.pooled_effect().index)
        ['mu', 'prediction']
        """
        if len(self.data.X_names) > 1:
            raise ModelSpecificationError("with moderators use predict(newdata)")
        return self.predict(None, probs=probs, level=level, _label=True)

    def predict(self, newdata=None, *, probs=None, level=None, _label: bool = False) -> pd.DataFrame:
        """Posterior of the mean effect and the prediction interval for ``newdata``
        (rows of moderator and scale values; ``None`` for the fitted estimates or, without
        moderators, the pooled effect). Intervals: quantiles ``probs`` or the central
        ``level`` interval (a proportion or a percentage), default 95%.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.predict().shape
        (56, 6)
        """
        return predict_frame(self, newdata, _probs(probs, level), _label, new_design)

    def ranef(self, probs=None, *, level=None) -> pd.DataFrame:
        """Cluster effects u_c (deviation of each cluster from the fixed part): posterior mean,
        SD and interval (quantiles ``probs`` or the central ``level`` interval, default 95%),
        drawn from their exact conditional given each posterior draw.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.ranef().shape
        (11, 4)
        """
        if not self.is_multilevel:
            raise ModelSpecificationError("ranef() needs a multilevel fit (cluster=...)")
        probs = _probs(probs, level)
        u = self.cluster_effects()
        q = np.quantile(u, probs, axis=0)
        frame = pd.DataFrame({"Mean": u.mean(0), "SD": u.std(0, ddof=1)},
                             index=pd.Index(self.data.cluster_labels, name=self.data.cluster_name))
        for p, row in zip(probs, q):
            frame[f"{p:g}"] = row
        return frame

    # ----------------------------------------------------------------- the protocol verbs
    @property
    def coef_names(self) -> list[str]:
        """R's names of the coefficients (``(Intercept)``, RoBMA's ``mu``, then the moderators as
        R's ``model.matrix`` names them, e.g. ``eralate``)."""
        return ["(Intercept)", *self.data.X_names[1:]]  # the design builder gives R's names

    def _coef_draws(self) -> np.ndarray:
        """Draws (chains * draws, p) of the coefficients (original predictor scale)."""
        post = self.posterior
        return np.column_stack([post[n].reshape(-1) for n in ["mu", *self.data.X_names[1:]]])

    def _parameter_draws(self) -> dict[str, np.ndarray]:
        """Flat draws of every parameter, coefficients under R's names."""
        post = self.posterior
        coefs = dict(zip(self.coef_names, self._coef_draws().T))
        rest = {n: d.reshape(-1) for n, d in post.items() if n not in ("mu", *self.data.X_names[1:])}
        return coefs | rest

    @property
    def params(self) -> pd.Series:
        """Posterior means of the coefficients (R's names; ``posterior["mu"]`` is the intercept)."""
        return pd.Series(self._coef_draws().mean(axis=0), index=pd.Index(self.coef_names))

    def vcov(self) -> pd.DataFrame:
        """Posterior covariance matrix of the coefficients.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.vcov().shape
        (1, 1)
        """
        draws = self._coef_draws()
        cov = np.atleast_2d(np.cov(draws, rowvar=False))
        return pd.DataFrame(cov, index=self.coef_names, columns=self.coef_names)

    @property
    def nobs(self) -> int:
        """Number of estimates ``k``."""
        return int(self.data.k)

    @property
    def num_params(self) -> int:
        """Parameters of the model: coefficients, tau, rho (multilevel) and scale coefficients."""
        return len(self._parameter_draws())

    @property
    def loglik(self) -> float:
        """Not defined for a Bayesian fit: NaN (see :meth:`log_marginal_likelihood` and :meth:`loo`)."""
        return float("nan")

    def confint(self, level=0.95) -> pd.DataFrame:
        """Equal-tailed credible intervals of every parameter.

        ``level`` is a proportion (0.95) or a percentage (95). Returns the table of
        :func:`~multilevel._protocol.confint_frame`: ``estimate`` is the posterior mean,
        ``kind`` is ``"fixed"`` for the coefficients (R's names: ``(Intercept)`` is RoBMA's
        ``mu``) and ``"random"`` for tau, rho and the scale coefficients.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> ci = fit.confint(90)
        >>> list(ci.columns), list(ci.index)
        (['kind', 'estimate', 'lower', 'upper'], ['(Intercept)', 'tau', 'rho'])
        """
        lo, hi = _tails(level)
        flat = self._parameter_draws()
        fixed = set(self.coef_names)
        return confint_frame(list(flat), ["fixed" if n in fixed else "random" for n in flat],
                             [d.mean() for d in flat.values()], [np.quantile(d, lo) for d in flat.values()],
                             [np.quantile(d, hi) for d in flat.values()], level=parse_level(level), method="quantile")

    def tidy(self, level=0.95) -> pd.DataFrame:
        """One row per parameter (columns :data:`~multilevel._protocol.TIDY_COLUMNS`): posterior
        mean (``estimate``), posterior SD (``std_error``) and the equal-tailed ``level``
        interval; ``statistic`` and ``p_value`` are missing, ``median`` comes last.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> list(fit.tidy()["term"])
        ['(Intercept)', 'tau', 'rho']
        """
        ci = self.confint(level)
        flat = self._parameter_draws()
        return tidy_frame(list(ci.index), ci["kind"], ci["estimate"], [d.std(ddof=1) for d in flat.values()],
                          conf_low=ci["lower"], conf_high=ci["upper"], level=ci.attrs["level"],
                          median=[float(np.median(d)) for d in flat.values()])

    def cluster_effects(self) -> np.ndarray:
        """Draws (chains * draws, clusters) of u_c = tau sqrt(rho) z_c (tau at the scale intercept).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.cluster_effects().shape
        (15000, 11)
        """
        post = self.posterior
        tb = post["tau"] * np.sqrt(post["rho"])
        return (self._z * tb[..., None]).reshape(-1, self.data.num_clusters)

    # ----------------------------------------------------------------- engine
    def extend(self, draws: int = 5000, *, progress: bool = True) -> "BrmaFit":
        """A new fit with ``draws`` more draws per chain, continuing each chain where it stopped
        (quadrature engine: more independent draws).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.extend(draws=1000, progress=False).draws
        6000
        """
        run = _engines.extend(self._layout, self.data, model_args(self.data), self._run, draws=int(draws),
                              seed=self.seed + 1, progress=progress)
        return _assemble(self.data, self.priors, self._layout, run, self.measure, self.seed + 1,
                         self.warmup)

    def to_inference_data(self):
        """ArviZ InferenceData: posterior, pointwise log-likelihood (per cluster in a
        multilevel fit), sample stats and observed data.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.to_inference_data().posterior["mu"].shape
        (3, 5000)
        """
        return inference_data(self)

    def loo(self, **kwargs):
        """PSIS leave-one-out (leave one cluster out in a multilevel fit) via ArviZ.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.loo().n_data_points  # doctest: +SKIP
        11
        """
        return loo(self, **kwargs)

    def log_marginal_likelihood(self, method: str = "bridge", **kwargs):
        """Log marginal likelihood by bridge sampling (``"bridge"``, with its Monte Carlo error),
        numerical integration of the full posterior (``"quadrature"``, intercept-only models)
        or, for a fit by the quadrature engine, its grid (``"grid"``, with the quadrature error).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> bridge = fit.log_marginal_likelihood()
        >>> exact = fit.log_marginal_likelihood(method="quadrature")
        >>> abs(bridge.log_ml - exact.log_ml) < 4 * bridge.mc_error
        True
        """
        return log_marginal_likelihood(self, method=method, **kwargs)

    # ----------------------------------------------------------------- plots
    def plot(self, parameter: str = "mu", *, prior: bool = False, xlim=None, ax=None, main=None):
        """Posterior density of ``parameter`` with the prior overlaid (``prior=True``); returns the
        matplotlib Figure (that of ``ax`` when given).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fig = fit.plot("tau", prior=True, xlim=(0, 1))
        """
        return plot_parameter(self, parameter, prior=prior, xlim=xlim, ax=ax, title=main).figure

    def plot_diagnostics(self, parameter: str = "mu", kind: str = "trace", ax=None):
        """MCMC diagnostics per chain: ``kind`` = ``"trace"``, ``"density"`` or ``"autocorrelation"``;
        returns the matplotlib Figure (that of ``ax`` when given).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fig = fit.plot_diagnostics("rho", "trace")
        """
        return plot_diagnostics(self, parameter, kind, ax=ax).figure

    def forest(self, ax=None, *, level=0.95):
        """Forest plot: observed estimates, shrunken cluster estimates and the pooled effect,
        with central ``level`` intervals (a proportion or a percentage); returns the matplotlib
        Figure (that of ``ax`` when given).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fig = fit.forest()
        """
        return forest(self, ax=ax, level=level).figure

    def __str__(self) -> str:
        return str(self.summary(include_mcmc_diagnostics=False))

    def __repr__(self) -> str:
        return f"<BrmaFit: {self._title()}; {self.chains} chains x {self.draws} draws, seed {self.seed}>"

