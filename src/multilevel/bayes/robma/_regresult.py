"""``RobmaRegFit``: a RoBMA meta-regression ensemble (frozen), its moderator tables and verbs.

Everything of :class:`RobmaFit` applies (components, mu, tau, omega, PET, PEESE); the
meta-regression adds each moderator's inclusion Bayes factor and the model-averaged (or
conditional) posteriors of the moderators' effects. The posterior sample of a model keeps the
coefficients of all moderators (``samples["beta"]``, zero for the moderators the model leaves
out), so every model-averaged quantity is a weighted union of the models' samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._exceptions import ArgumentError, ModelSpecificationError
from ..._protocol import parse_level
from ._averaging import linear_scale
from ._moderators import ModeratorDesign
from ._regpredict import moderator_matrix, prediction_samples
from ._regtables import RegModelsOverview, RobmaRegSummary
from ._result import RobmaFit, _tails
from ._tables import SCALE_NAMES, _evidence, _num, components_frame, estimates_frame

__all__ = ["RobmaRegFit"]


def _term_prior(model, i: int, kind: str) -> str:
    """A moderator's prior in a component model as RoBMA prints it (``Spike(0)`` when absent)."""
    if not model.included[i]:
        return "Spike(0)"
    p = str(model.term_priors[i])
    return p if kind == "continuous" else f"mean difference contrast: m{p}"


@dataclass(frozen=True)
class RobmaRegFit(RobmaFit):
    """A fitted RoBMA meta-regression (``ml.robma(..., mods=...)``), immutable: the RoBMA ensemble
    crossed with the presence or absence of each moderator. Fields starting with an underscore
    and ``design`` are internal.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
    ...                effect_direction="negative", draws=2000, seed=1)
    >>> len(fit.models)
    24
    """

    design: ModeratorDesign = None

    # ----------------------------------------------------------------- moderators
    def _term(self, parameter: str):
        """(term index, row of its effect map) of a reported moderator effect, or None."""
        for i, term in enumerate(self.design.terms):
            names = term.effect_names()
            if parameter in names:
                return i, names.index(parameter)
        return None

    def _moderator_names(self) -> list[str]:
        return [n for t in self.design.terms for n in t.effect_names()]

    def mixture(self, parameter: str, *, conditional: bool = False, output_scale=None):
        """The model-averaged (or conditional) posterior of ``parameter`` as a weighted sample
        ``(values, weights)``: mu, tau, omega, PET, PEESE as for :class:`RobmaFit`,
        ``"intercept"`` (mu) or a moderator's effect (a name of :meth:`moderator_estimates`).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> x, w = fit.mixture("ablat")
        >>> round(float(w.sum()), 6)
        1.0
        """
        if parameter == "intercept":
            parameter = "mu"
        found = self._term(parameter)
        if found is None:
            return super().mixture(parameter, conditional=conditional, output_scale=output_scale)
        scale = self._output_scale(output_scale)
        i, row = found
        term = self.design.terms[i]
        weights = np.asarray(term.effect_map()[row], float)
        xs, ws = [], []
        for res, p in zip(self.models, self.post_prob):
            inc = res.model.included[i]
            if p <= 0 or (conditional and not inc):
                continue
            xs.append(res.samples["beta"][:, list(term.columns)] @ weights)
            ws.append(p * res.weights)
        if not xs:
            raise ModelSpecificationError(f"no model of the ensemble includes the moderator {term.name!r}")
        x, w = np.concatenate(xs), np.concatenate(ws)
        factor = 1.0 if scale in (None, "d") else linear_scale(scale)
        return x * factor, w / w.sum()

    def moderator_components(self) -> pd.DataFrame:
        """The Meta-regression components table: models with each moderator, prior and posterior
        probability of its presence and its inclusion Bayes factor.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> fit.moderator_components()["Models"].tolist()
        ['12/24']
        """
        rows = []
        for i, term in enumerate(self.design.terms):
            inc = np.array([r.model.included[i] for r in self.models])
            rows.append((term.name, int(inc.sum()), len(inc), *self._inclusion(inc)))
        return components_frame(rows)

    def inclusion_bf(self, component: str) -> float:
        """Inclusion Bayes factor of ``"effect"``, ``"heterogeneity"``, ``"bias"`` or of a
        moderator (its term name in ``mods``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> fit.inclusion_bf("ablat") > 1
        True
        """
        if component in self.design.names:
            return float(self.moderator_components().loc[component, "Inclusion BF"])
        key = str(component).capitalize()
        if key not in ("Effect", "Heterogeneity", "Bias"):
            raise ArgumentError(f"component must be 'effect', 'heterogeneity', 'bias' or a moderator "
                                f"({', '.join(map(repr, self.design.names))}), got {component!r}")
        return super().inclusion_bf(component)

    def moderator_estimates(self, *, conditional: bool = False, output_scale=None, level=0.95) -> pd.DataFrame:
        """Model-averaged (or, ``conditional=True``, conditional on the moderator's presence)
        posterior mean, median and central ``level`` interval of the intercept (mu) and of each
        moderator's effect: per standard deviation of a continuous moderator, and each level's
        deviation from the mean of the levels for a factor (``"f [dif: level]"``).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> list(fit.moderator_estimates().index)
        ['intercept', 'ablat']
        """
        probs = _tails(level)
        names = ["intercept", *self._moderator_names()]
        vw = [self.mixture(n, conditional=conditional, output_scale=output_scale) for n in names]
        return estimates_frame(names, vw, probs)

    # ----------------------------------------------------------------- reports
    def summary(self, type: str = "ensemble", *, conditional: bool = False, output_scale=None,
                level=0.95) -> RobmaRegSummary | RegModelsOverview:
        """RoBMA.reg's summary: the Components and Meta-regression components tables, the
        model-averaged (``conditional=True``: conditional) estimates and meta-regression
        estimates on ``output_scale`` with central ``level`` intervals; ``type="models"`` gives
        :meth:`models_overview`.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> str(fit.summary()).splitlines()[0]
        'Robust Bayesian meta-regression'
        """
        if type == "models":
            parse_level(level)
            return self.models_overview()
        if type != "ensemble":
            raise ArgumentError(f"type must be 'ensemble' or 'models', got {type!r}")
        scale = self._output_scale(output_scale)
        est = self.estimates(conditional=conditional, output_scale=output_scale, level=level)
        mod = self.moderator_estimates(conditional=conditional, output_scale=output_scale, level=level)
        note = (f"The estimates are summarized on the {SCALE_NAMES[scale]} scale "
                f"(priors were specified on the Cohen's d scale)." if scale is not None
                else "The estimates are summarized on the scale of the data.")
        return RobmaRegSummary(self.components(), self.moderator_components(), est, mod, conditional, note,
                               any(n.startswith("omega") for n in est.index))

    def models_overview(self) -> RegModelsOverview:
        """One row per component model, in RoBMA.reg's column order: the priors of the intercept,
        of each moderator (``Spike(0)`` where the model leaves it out; a factor's meandif prior as
        RoBMA prints it), the heterogeneity and the bias, then the probabilities and the log
        marginal likelihood.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> fit.models_overview().to_frame()["Prior ablat"].iloc[-1]
        'Normal(0, 0.25)'
        """
        frame = super().models_overview().to_frame().rename(columns={"Prior Effect": "Prior intercept"})
        for i, term in enumerate(self.design.terms):
            frame.insert(1 + i, f"Prior {term.name}", [_term_prior(r.model, i, term.kind) for r in self.models])
        return RegModelsOverview(frame)

    def interpret(self, *, output_scale=None, level=0.95) -> str:
        """Sentences on the evidence for the effect, heterogeneity, publication bias and each
        moderator, with the model-averaged estimates (the moderators' effects as in
        :meth:`moderator_estimates`).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> "the moderation by ablat" in fit.interpret()
        True
        """
        base = super().interpret(output_scale=output_scale, level=level).splitlines()
        est = self.moderator_estimates(output_scale=output_scale, level=level)
        table = self.moderator_components()
        lo, hi = est.columns[2], est.columns[3]
        pct = f"{parse_level(level) * 100:g}%"
        lines = []
        for term in self.design.terms:
            text = _evidence(f"the moderation by {term.name}", float(table.loc[term.name, "Inclusion BF"]), "BFmod")
            parts = [f"{n} = {_num(est.loc[n, 'Mean'])}, {pct} CI [{_num(est.loc[n, lo])}, {_num(est.loc[n, hi])}]"
                     for n in term.effect_names()]
            lines.append(f"{text}, with mean model-averaged estimate {'; '.join(parts)}.")
        return "\n".join(base[:-1] + lines + base[-1:])

    def to_inference_data(self, model: int, *, draws: int = 10000):
        """ArviZ InferenceData of component ``model`` (1-based): as :meth:`RobmaFit.to_inference_data`,
        with the effects of the moderators the model includes (names of :meth:`moderator_estimates`).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> sorted(fit.to_inference_data(24).posterior.data_vars)
        ['PEESE', 'ablat', 'mu', 'tau']
        """
        idata = super().to_inference_data(model, draws=draws)
        res = self.models[int(model) - 1]
        idx = self._resampled(int(model), draws)
        for i, term in enumerate(self.design.terms):
            if res.model.included[i]:
                effects = res.samples["beta"][idx][:, list(term.columns)] @ term.effect_map().T
                for j, name in enumerate(term.effect_names()):
                    idata.posterior[name] = (("chain", "draw"), effects[None, :, j])
        return idata

    def _resampled(self, model: int, draws: int) -> np.ndarray:
        """The draws :meth:`RobmaFit.to_inference_data` picks (the same generator and steps)."""
        res = self.models[model - 1]
        rng = np.random.default_rng(self.seed + model)
        cw = np.cumsum(res.weights)
        idx = np.minimum(np.searchsorted(cw, (rng.random() + np.arange(draws)) / draws * cw[-1]), cw.size - 1)
        return rng.permutation(idx)

    # ----------------------------------------------------------------- protocol verbs
    @property
    def coef_names(self) -> list[str]:
        return ["(Intercept)", *self._moderator_names()]

    @property
    def params(self) -> pd.Series:
        """Model-averaged posterior means of mu (``(Intercept)``) and the moderators' effects."""
        return pd.Series([float(w @ x) for x, w in self._coefficient_mixtures()], index=pd.Index(self.coef_names))

    def _coefficient_mixtures(self):
        return [self.mixture(n) for n in ["mu", *self._moderator_names()]]

    def vcov(self) -> pd.DataFrame:
        """Model-averaged posterior covariance of mu and the moderators' effects.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> fit.vcov().shape
        (2, 2)
        """
        mixtures = self._coefficient_mixtures()
        w = mixtures[0][1]
        X = np.column_stack([x for x, _ in mixtures])
        centred = X - w @ X
        cov = centred.T @ (centred * w[:, None])
        return pd.DataFrame(cov, index=self.coef_names, columns=self.coef_names)

    def _rows(self):
        names, terms, kinds = super()._rows()
        extra = self._moderator_names()
        return names + extra, terms + extra, kinds + ["fixed"] * len(extra)

    def predict(self, newdata=None, *, type: str = "terms", conditional: bool = False, level=0.95,
                output_scale=None) -> pd.DataFrame:
        r"""Model-averaged (or, ``conditional=True``, conditional on the effect) posterior predictions
        at moderator values, as RoBMA's ``predict.RoBMA.reg``: ``type="terms"`` the mean effect
        :math:`\mu + x'\beta`, ``type="effect"`` the true effect of a new study there (with the
        heterogeneity, :math:`\mu + x'\beta + \tau z`); mean, median and central ``level``
        interval on ``output_scale`` (default Cohen's d), one row per row of ``newdata``.

        ``newdata`` holds the moderators (the columns of ``mods``); they are coded as at fit time
        (continuous moderators standardized with the fitted mean and SD, factors in the meandif
        contrast of the fitted levels). ``None`` predicts at the fitted estimates. The predictions
        leave out the publication-bias adjustment (RoBMA's ``incorporate_publication_bias = FALSE``);
        the predictions of new estimates (RoBMA's ``type = "response"``) are not available.

        Examples
        --------
        >>> import pandas as pd
        >>> import multilevel as ml
        >>> dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
        >>> fit = ml.robma("yi", "vi", measure="OR", mods="~ ablat", data=dat, model_type="PP",
        ...                effect_direction="negative", draws=2000, seed=1)
        >>> pred = fit.predict(pd.DataFrame({"ablat": [10, 30, 50]}), output_scale="logOR")
        >>> list(pred.columns)
        ['Mean', 'Median', '0.025', '0.975']
        >>> bool(pred["Mean"].is_monotonic_decreasing)
        True
        """
        probs = _tails(level)
        scale = self._output_scale(output_scale)
        if newdata is None:
            X, index = self.design.X, list(self.data.labels)
        else:
            X, index = moderator_matrix(self.design, newdata)
        frames = [estimates_frame(range(len(rows)), [(row, w) for row in rows], probs)
                  for rows, w in prediction_samples(self, X, kind=type, conditional=bool(conditional), scale=scale)]
        out = pd.concat(frames, ignore_index=True)
        out.index = pd.Index(index)
        return out

    def __repr__(self) -> str:
        return (f"<RobmaRegFit: {len(self.models)} models, k = {self.data.k}, measure {self.measure}, "
                f"mods {self.design.formula}, seed {self.seed}>")
