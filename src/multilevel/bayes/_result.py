"""The result of :func:`~multilevel.brma`: :class:`BrmaFit`, frozen, with the draws of every
parameter, the summaries printed like RoBMA, predictions, cluster effects, more draws
(:meth:`BrmaFit.extend`), model comparison and plots. The protocol's verbs are in
:mod:`._verbs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import _engines
from .._display import TextViews
from .._exceptions import ModelSpecificationError
from .._protocol import FitProtocol
from ._compare import inference_data, log_marginal_likelihood, loo
from ._design import BrmaData, model_args, new_design
from ._diagnostics import check_convergence
from ._layout import Layout
from ._plots import forest, plot_diagnostics, plot_parameter
from ._predict import predict_frame
from ._priors import Priors
from ._summary import BrmaSummary, HeterogeneitySummary, estimates_frame, heterogeneity_draws, heterogeneity_frame, \
    typical_variance
from ._verbs import BrmaVerbs, _probs

__all__ = ["BrmaFit", "assemble"]


def assemble(bd, priors, layout, run, measure, seed, warmup) -> "BrmaFit":
    B, z, loglik = _engines.complete(layout, bd, model_args(bd), run, seed + 7919)
    iid = _engines.is_iid(run)
    fit = BrmaFit(data=bd, priors=priors, measure=measure, seed=seed, warmup=0 if iid else warmup,
                  _layout=layout, _run=run, _B=B, _z=z, _loglik=loglik)
    if not iid:
        sampled = {n: run.draws[s] for n, s in fit._site_names().items()}
        object.__setattr__(fit, "convergence", tuple(check_convergence(sampled, run.diverging)))
    return fit


@dataclass(frozen=True)
class BrmaFit(BrmaVerbs, FitProtocol, TextViews):
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
        return assemble(self.data, self.priors, self._layout, run, self.measure, self.seed + 1,
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

