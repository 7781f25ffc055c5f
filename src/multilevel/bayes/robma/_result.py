"""``RobmaFit``: the ensemble's results (frozen), its reports and the protocol verbs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..._display import TextViews
from ..._exceptions import ArgumentError, ModelSpecificationError
from ..._protocol import FitProtocol, confint_frame, parse_level, tidy_frame
from ._averaging import exact_transform, inclusion, inclusion_bf, linear_scale, weighted_moments, weighted_quantile
from . import _plots
from ._likelihood import cutoff_rule
from ._spec import ComponentModel, measure_scale
from ._tables import (SCALE_NAMES, ModelsOverview, RobmaSummary, components_frame, estimates_frame,
                      interpret_text)

if TYPE_CHECKING:
    from .._priors import Prior
    from ._integrate import ModelIntegral

__all__ = ["RobmaFit", "RobmaData", "ModelResult"]

_OUTPUT_SCALES = {"d": "d", "cohens_d": "d", "smd": "d", "r": "r", "cor": "r", "z": "z", "fishers_z": "z",
                  "zcor": "z", "logor": "logOR", "or": "logOR"}


def _tails(level) -> tuple[float, float]:
    a = round((1.0 - parse_level(level)) / 2.0, 12)
    return a, round(1.0 - a, 12)


@dataclass(frozen=True)
class RobmaData:
    """The estimates the ensemble was fitted to (fields are internal): effect sizes and standard
    errors on the scale of ``measure`` (correlations already as Fisher's z), their labels, the
    expected direction of the effect (+1 / -1) and the rule for the weight functions' cut-offs."""

    y: np.ndarray
    se: np.ndarray
    labels: tuple[str, ...]
    measure: str
    direction: int
    cutoff_rule: str
    n_dropped: int = 0
    cluster: np.ndarray | None = None  # cluster codes 0..C-1 (None: independent estimates)
    cluster_labels: tuple | None = None
    prior_rho: Prior | None = None

    @property
    def k(self) -> int:
        return int(self.y.size)

    @property
    def selection_rule(self) -> str:
        """The rule of the weight functions' p-values for :class:`~._likelihood.SelectionData`
        (``cutoff_rule`` resolved for the measure)."""
        return cutoff_rule(self.cutoff_rule, self.measure)


@dataclass(frozen=True)
class ModelResult:
    """One component model: its specification, marginal likelihood and weighted posterior sample
    (``samples``: mu, tau, PET, PEESE as (n,) arrays and the interval weights omega (n, J);
    Cohen's d scale)."""

    model: ComponentModel
    integral: "ModelIntegral"
    samples: dict[str, np.ndarray]

    @property
    def log_ml(self) -> float:
        return self.integral.log_ml

    @property
    def weights(self) -> np.ndarray:
        return self.integral.weights


def _includes(model: ComponentModel, parameter: str) -> bool:
    if parameter == "mu":
        return model.effect
    if parameter == "tau":
        return model.heterogeneity
    if parameter == "rho":  # with clusters: the models with heterogeneity and rho's alternative prior
        return model.hierarchical
    if parameter.startswith("omega"):
        return model.bias is not None and model.bias.kind == "weightfunction"
    return model.bias is not None and model.bias.kind == parameter


@dataclass(frozen=True)
class RobmaFit(FitProtocol, TextViews):
    """A fitted RoBMA ensemble (immutable): component models, posterior model probabilities,
    inclusion Bayes factors and model-averaged posteriors. Fields starting with an underscore
    are internal.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
    >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, seed=1)
    >>> len(fit.models)
    36
    """

    data: RobmaData
    models: tuple[ModelResult, ...]
    prior_prob: np.ndarray
    post_prob: np.ndarray
    cuts: tuple[float, ...]
    seed: int
    model_type: str | None

    # ----------------------------------------------------------------- mixtures
    @property
    def measure(self) -> str:
        return self.data.measure

    def _output_scale(self, output_scale) -> str | None:
        if self.measure == "GEN":
            if output_scale not in (None, "none"):
                raise ArgumentError(f"output_scale={output_scale!r}: estimates of measure 'GEN' are not "
                                    f"transformed to other scales")
            return None
        if output_scale is None:
            return "d"
        key = _OUTPUT_SCALES.get(str(output_scale).lower())
        if key is None:
            raise ArgumentError(f"output_scale must be 'd', 'r', 'z' or 'logOR', got {output_scale!r}")
        return key

    def _omega_names(self) -> list[str]:
        edges = [0, *self.cuts, 1]
        return [f"omega[{a:g},{b:g}]" for a, b in zip(edges[:-1], edges[1:])]

    def _values(self, res: ModelResult, parameter: str) -> np.ndarray:
        s, n = res.samples, len(res.weights)
        if parameter.startswith("omega["):
            j = self._omega_names().index(parameter)
            if "omega" not in s:
                return np.ones(n)
            return res.model.bias.weightfunction.interval_weights(s["omega"], self.cuts)[:, j]
        if parameter in s:
            return s[parameter]
        return np.zeros(n)

    def mixture(self, parameter: str, *, conditional: bool = False, output_scale=None):
        """The model-averaged (or, ``conditional=True``, the conditional) posterior of
        ``parameter`` as a weighted sample ``(values, weights)``.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> x, w = fit.mixture("mu")
        >>> round(float(w.sum()), 6)
        1.0
        """
        scale = self._output_scale(output_scale)
        xs, ws = [], []
        for res, p in zip(self.models, self.post_prob):
            if p <= 0 or (conditional and not _includes(res.model, parameter)):
                continue
            xs.append(self._values(res, parameter))
            ws.append(p * res.weights)
        if not xs:
            raise ModelSpecificationError(f"no model of the ensemble includes {parameter}")
        x, w = np.concatenate(xs), np.concatenate(ws)
        return self._transform(parameter, x, scale), w / w.sum()

    @staticmethod
    def _transform(parameter: str, x: np.ndarray, scale: str | None) -> np.ndarray:
        if scale is None or scale == "d":
            return x
        if parameter == "mu":
            return exact_transform(x, scale)
        if parameter == "tau":
            return x * linear_scale(scale)
        if parameter == "PEESE":
            return x / linear_scale(scale)
        return x

    def _parameters(self, conditional: bool) -> list[str]:
        names = ["mu", "tau"] + (["rho"] if any(r.model.hierarchical for r in self.models) else [])
        if any(_includes(r.model, "omega") for r in self.models):
            names += self._omega_names()
        names += [b for b in ("PET", "PEESE") if any(_includes(r.model, b) for r in self.models)]
        if conditional:
            names = [n for n in names if any(_includes(r.model, n) for r in self.models)]
        return names

    # ----------------------------------------------------------------- reports
    def components(self) -> pd.DataFrame:
        """The Components table: number of models with each component, prior and posterior
        probability of the component, inclusion Bayes factor.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> fit.components()["Models"].tolist()
        ['6/12', '6/12', '8/12']
        """
        rows = []
        for name, key in (("Effect", "mu"), ("Heterogeneity", "tau"), ("Bias", None)):
            inc = np.array([r.model.effect if key == "mu" else r.model.heterogeneity if key == "tau"
                            else r.model.has_bias for r in self.models])
            rows.append((name, int(inc.sum()), len(inc), *self._inclusion(inc)))
        inc = np.array([r.model.hierarchical for r in self.models])
        if inc.any():  # RoBMA's Hierarchical component: the models with rho's alternative prior
            rows.append(("Hierarchical", int(inc.sum()), len(inc), *self._inclusion(inc)))
        return components_frame(rows)

    @property
    def _log_ml(self) -> np.ndarray:
        return np.array([r.log_ml for r in self.models])

    def _inclusion(self, included: np.ndarray):
        """(prior, posterior probability, inclusion BF) of the models ``included`` (RoBMA's rule)."""
        return inclusion(included, self.prior_prob, self.post_prob, self._log_ml)

    def inclusion_bf(self, component: str) -> float:
        """Inclusion Bayes factor of ``"effect"``, ``"heterogeneity"`` or ``"bias"``.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> fit.inclusion_bf("effect") > 1
        True
        """
        table = self.components()
        key = str(component).capitalize()
        if key not in table.index:
            raise ArgumentError(f"component must be 'effect', 'heterogeneity' or 'bias', got {component!r}")
        return float(table.loc[key, "Inclusion BF"])

    def estimates(self, *, conditional: bool = False, output_scale=None, level=0.95) -> pd.DataFrame:
        """Model-averaged (or conditional) posterior mean, median and central ``level`` interval
        of mu, tau, the weights omega of the one-sided p-value intervals, PET and PEESE.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> list(fit.estimates(conditional=True).index)
        ['mu', 'tau', 'PET', 'PEESE']
        """
        names = self._parameters(conditional)
        probs = _tails(level)
        vw = [self.mixture(n, conditional=conditional, output_scale=output_scale) for n in names]
        return estimates_frame(names, vw, probs)

    def summary(self, type: str = "ensemble", *, conditional: bool = False, output_scale=None,
                level=0.95) -> RobmaSummary | ModelsOverview:
        """RoBMA's summary: the Components table and the model-averaged estimates
        (``conditional=True``: each parameter averaged over the models that include it), on
        ``output_scale`` (``"d"``, ``"r"``, ``"z"``, ``"logOR"``; default Cohen's d) with
        central ``level`` intervals; ``type="models"`` gives :meth:`models_overview`.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> list(fit.summary(output_scale="r").to_frame().columns)
        ['Mean', 'Median', '0.025', '0.975']
        """
        if type == "models":
            parse_level(level)
            return self.models_overview()
        if type != "ensemble":
            raise ArgumentError(f"type must be 'ensemble' or 'models', got {type!r}")
        scale = self._output_scale(output_scale)
        est = self.estimates(conditional=conditional, output_scale=output_scale, level=level)
        note = (f"The estimates are summarized on the {SCALE_NAMES[scale]} scale "
                f"(priors were specified on the Cohen's d scale)." if scale is not None
                else "The estimates are summarized on the scale of the data.")
        return RobmaSummary(self.components(), est, conditional, note,
                            any(n.startswith("omega") for n in est.index))

    def models_overview(self) -> ModelsOverview:
        """One row per component model (RoBMA's ``summary(type = "models")``): the priors of the
        effect, the heterogeneity, rho (with clusters: ``Prior Hierarchical``) and the bias, in
        RoBMA's column order, then the probabilities, log marginal likelihood and inclusion BF.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> fit.models_overview().to_frame().shape[0]
        12
        """
        rows, log_ml = [], self._log_ml
        for i, (r, p0, p1) in enumerate(zip(self.models, self.prior_prob, self.post_prob), start=1):
            bf = inclusion_bf(np.arange(len(self.models)) == i - 1, self.prior_prob, log_ml)
            rows.append({"Model": i, "Prior Effect": str(r.model.mu), "Prior Heterogeneity": str(r.model.tau),
                         **self._hierarchical_prior(r.model),
                         "Prior Bias": "" if r.model.bias is None else str(r.model.bias),
                         "Prior prob.": p0, "log(marglik)": r.log_ml, "error": r.integral.error,
                         "method": r.integral.method, "Post. prob.": p1, "Inclusion BF": bf})
        return ModelsOverview(pd.DataFrame(rows).set_index("Model"))

    def _hierarchical_prior(self, model: ComponentModel) -> dict:
        """The "Prior Hierarchical" column of a clustered fit (rho's prior, in the models with tau)."""
        if self.data.cluster is None:
            return {}
        return {"Prior Hierarchical": "" if model.rho is None else str(model.rho)}

    def interpret(self, *, output_scale=None, level=0.95) -> str:
        """A few sentences on the evidence for the effect, heterogeneity and publication bias,
        with the model-averaged estimates.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> fit.interpret().startswith("Robust Bayesian meta-analysis found")
        True
        """
        est = self.estimates(output_scale=output_scale, level=level)
        return interpret_text(self.components(), est, self._output_scale(output_scale), parse_level(level))

    # ----------------------------------------------------------------- protocol verbs
    @property
    def coef_names(self) -> list[str]:
        return ["(Intercept)"]

    @property
    def params(self) -> pd.Series:
        """Model-averaged posterior mean of mu (``(Intercept)``, Cohen's d scale)."""
        x, w = self.mixture("mu")
        return pd.Series([weighted_moments(x, w)[0]], index=pd.Index(self.coef_names))

    def vcov(self) -> pd.DataFrame:
        """Model-averaged posterior variance of mu (a 1 x 1 frame).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> fit.vcov().shape
        (1, 1)
        """
        x, w = self.mixture("mu")
        sd = weighted_moments(x, w)[1]
        return pd.DataFrame([[sd**2]], index=self.coef_names, columns=self.coef_names)

    @property
    def nobs(self) -> int:
        """Number of estimates k."""
        return self.data.k

    @property
    def num_params(self) -> int:
        return len(self._parameters(False))

    @property
    def loglik(self) -> float:
        """Not defined for a model-averaged Bayesian fit: NaN (see :meth:`models_overview`)."""
        return float("nan")

    def _rows(self):
        names = self._parameters(False)
        kinds = ["fixed" if n == "mu" else "random" if n in ("tau", "rho") else "selection" for n in names]
        terms = ["(Intercept)" if n == "mu" else n for n in names]
        return names, terms, kinds

    def confint(self, level=0.95) -> pd.DataFrame:
        """Model-averaged equal-tailed credible intervals of every parameter (``(Intercept)`` is mu,
        kind ``"fixed"``; tau ``"random"``; omega, PET and PEESE ``"selection"``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> list(fit.confint(90).columns)
        ['kind', 'estimate', 'lower', 'upper']
        """
        lo, hi = _tails(level)
        names, terms, kinds = self._rows()
        est, low, up = [], [], []
        for n in names:
            x, w = self.mixture(n)
            est.append(weighted_moments(x, w)[0])
            q = weighted_quantile(x, w, [lo, hi])
            low.append(q[0])
            up.append(q[1])
        return confint_frame(terms, kinds, est, low, up, level=parse_level(level), method="quantile")

    def tidy(self, level=0.95) -> pd.DataFrame:
        """One row per parameter: model-averaged posterior mean, SD, ``level`` interval, median.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> fit.tidy()["term"].iloc[0]
        '(Intercept)'
        """
        ci = self.confint(level)
        names, _, _ = self._rows()
        sds, meds = [], []
        for n in names:
            x, w = self.mixture(n)
            sds.append(weighted_moments(x, w)[1])
            meds.append(float(weighted_quantile(x, w, [0.5])[0]))
        return tidy_frame(list(ci.index), ci["kind"], ci["estimate"], sds, conf_low=ci["lower"],
                          conf_high=ci["upper"], level=ci.attrs["level"], median=meds)

    def predict(self, newdata=None, *, level=0.95, output_scale=None) -> pd.DataFrame:
        """Model-averaged pooled effect mu and the prediction for a new study (mu + tau z,
        z standard normal): mean, median and central ``level`` interval.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> list(fit.predict().index)
        ['mu', 'prediction']
        """
        if newdata is not None:
            raise ArgumentError("robma has no moderators: predict() takes no newdata")
        x, w = self.mixture("mu")
        t, _ = self.mixture("tau")
        z = np.random.default_rng(self.seed + 11).standard_normal(x.size)
        scale = self._output_scale(output_scale)
        pred = self._transform("mu", x + t * z, scale)
        x = self._transform("mu", x, scale)
        return estimates_frame(["mu", "prediction"], [(x, w), (pred, w)], _tails(level))

    # ----------------------------------------------------------------- per model
    def to_inference_data(self, model: int, *, draws: int = 10000):
        """ArviZ InferenceData of component ``model`` (1-based, as in :meth:`models_overview`):
        ``draws`` equally weighted draws (systematic resampling of the weighted sample) of its
        free parameters, Cohen's d scale.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fit = ml.robma("yi", "vi", measure="ZCOR", data=dat, model_type="PP", draws=2000, seed=1)
        >>> sorted(fit.to_inference_data(12).posterior.data_vars)
        ['PEESE', 'mu', 'tau']
        """
        import arviz as az

        if not 1 <= int(model) <= len(self.models):
            raise ArgumentError(f"model must be 1 to {len(self.models)}, got {model!r}")
        res = self.models[int(model) - 1]
        rng = np.random.default_rng(self.seed + int(model))
        cw = np.cumsum(res.weights)
        idx = np.minimum(np.searchsorted(cw, (rng.random() + np.arange(draws)) / draws * cw[-1]), cw.size - 1)
        idx = rng.permutation(idx)
        post = {}
        for name in ("mu", "tau", "rho", "PET", "PEESE"):
            if name in res.samples and (name not in ("mu", "tau") or _includes(res.model, name)):
                post[name] = res.samples[name][idx][None, :]
        if "omega" in res.samples:
            post["omega"] = res.samples["omega"][idx][None, :, :]
        return az.from_dict(posterior=post, observed_data={"y": self.data.y})

    # ----------------------------------------------------------------- plots
    @property
    def _measure_factor(self) -> float:
        return measure_scale(self.measure)

    def plot(self, parameter: str = "mu", *, prior: bool = False, conditional: bool = False,
             output_scale=None, ax=None):
        """Model-averaged (or conditional) posterior of ``parameter`` (``"mu"``, ``"tau"``,
        ``"PET"``, ``"PEESE"``): the continuous part as a density, the point mass of the models
        without the parameter as an arrow (right axis), the prior dashed (``prior=True``).
        Returns the matplotlib Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fig = ml.robma("yi", "vi", measure="ZCOR", data=dat, draws=2000, seed=1).plot("mu", prior=True)
        """
        return _plots.plot_parameter(self, parameter, prior=prior, conditional=conditional,
                              output_scale=output_scale, ax=ax).figure

    def plot_weightfunction(self, *, conditional: bool = False, level=0.95, rescale_x: bool = False, ax=None):
        """The estimated weight function: model-averaged (or conditional) weights of the
        one-sided p-value intervals with the central ``level`` interval; ``rescale_x=True``
        spaces the cut-offs evenly on the x axis. Returns the Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fig = ml.robma("yi", "vi", measure="ZCOR", data=dat, draws=2000, seed=1).plot_weightfunction()
        """
        return _plots.plot_weightfunction(self, conditional=conditional, level=level, rescale_x=rescale_x,
                                          ax=ax).figure

    def plot_petpeese(self, *, level=0.95, ax=None):
        """The model-averaged PET-PEESE regression of the effect size on the standard error
        (Cohen's d scale) with the central ``level`` band and the estimates. Returns the Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fig = ml.robma("yi", "vi", measure="ZCOR", data=dat, draws=2000, seed=1).plot_petpeese()
        """
        return _plots.plot_petpeese(self, level=level, ax=ax).figure

    def plot_models(self, parameter: str = "mu", *, conditional: bool = False, level=0.95, ax=None):
        """Each model's posterior mean and central ``level`` interval of ``parameter`` (marker
        size by posterior probability) and the model-averaged estimate. Returns the Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fig = ml.robma("yi", "vi", measure="ZCOR", data=dat, draws=2000, seed=1).plot_models()
        """
        return _plots.plot_models(self, parameter, conditional=conditional, level=level, ax=ax).figure

    def forest(self, *, level=0.95, ax=None):
        """Forest plot: estimates with central ``level`` confidence intervals (Cohen's d scale
        for standardized measures) and the model-averaged mu. Returns the Figure.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
        >>> fig = ml.robma("yi", "vi", measure="ZCOR", data=dat, draws=2000, seed=1).forest()
        """
        return _plots.forest(self, level=level, ax=ax).figure

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return (f"<RobmaFit: {len(self.models)} models, k = {self.data.k}, measure {self.measure}, "
                f"seed {self.seed}>")
