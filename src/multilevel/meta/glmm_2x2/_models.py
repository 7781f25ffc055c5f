"""The models of :func:`rma_glmm`: the unconditional ones with fixed study effects (``UM.FS``) and
random study effects (``UM.RS``), and the conditional model with the exact likelihood (``CM.EL``),
each as the equal-effects, saturated and random-effects fit that metafor's ``rma.glmm`` compares
(internal)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._exceptions import ConvergenceWarning
from ...glmm import glmer
from . import _conditional, _core


@dataclass(frozen=True)
class ModelFit:
    """Numbers of one fitted unconditional model (internal)."""

    beta: float
    var: float
    tau2: float
    sigma2: float
    ll: float
    ll_fe: float
    ll_qe: float
    qe_wald: float
    parms: int
    messages: tuple[tuple[type, str], ...]
    se_tau2: float = float("nan")


def _frame(long: dict[str, np.ndarray], k: int, interactions: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame({"xi": long["xi"], "mi": long["mi"], "intrcpt": long["group1"],
                          "const": 1.0, "group": long["group12"],
                          "study": pd.Categorical(long["study"] + 1, categories=np.arange(1, k + 1))})
    dummies = _core.study_dummies(long["study"], k)
    for j in range(interactions):
        frame[f"s{j + 1}g"] = dummies[:, j] * long["group1"]
    return frame


def _glmer(formula: str, frame: pd.DataFrame, nagq: int, start=None) -> tuple[object, tuple[tuple[type, str], ...]]:
    """A glmer fit and its warnings (category, message), to be raised once for the user's call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = glmer(formula, frame, "binomial", nAGQ=nagq, start=start)
    return fit, tuple((w.category, str(w.message)) for w in caught)


def fixed_study(long: dict[str, np.ndarray], k: int, method: str, nagq: int) -> ModelFit:
    """UM.FS: logistic regression with study intercepts, the log odds ratio random when ML."""
    dummies = _core.study_dummies(long["study"], k)
    x, m, g1 = long["xi"], long["mi"], long["group1"][:, None]
    fe = _core.logistic_glm(x, m, np.hstack([g1, dummies]))
    qe = _core.logistic_glm(x, m, np.hstack([g1, dummies, dummies[:, :-1] * g1]))
    wald = _core.wald_quadratic(qe.beta[k + 1:], qe.cov[k + 1:, k + 1:])
    if method != "ML":
        return ModelFit(float(fe.beta[0]), float(fe.cov[0, 0]), 0.0, float("nan"), fe.loglik, fe.loglik,
                        qe.loglik, wald, 1 + k, ())
    fit, msgs = _glmer("cbind(xi, mi) ~ 0 + intrcpt + study + (0 + group | study)", _frame(long, k), nagq)
    cond_dev = float((fit.residuals("deviance") ** 2).sum())
    return ModelFit(float(fit.fixef.iloc[0]), float(fit.vcov().iloc[0, 0]), float(fit.theta[0] ** 2),
                    float("nan"), qe.loglik - cond_dev / 2, fe.loglik, qe.loglik, wald, 2 + k, msgs)


def random_study(long: dict[str, np.ndarray], k: int, method: str, nagq: int) -> ModelFit:
    """UM.RS: random study intercepts (variance sigma2), the log odds ratio random when ML."""
    frame = _frame(long, k, interactions=k - 1)
    fe, msgs = _glmer("cbind(xi, mi) ~ 0 + intrcpt + const + (1 | study)", frame, nagq)
    sigma2_fe = float(fe.theta[0] ** 2)
    inter = " + ".join(f"s{j + 1}g" for j in range(k - 1))
    qe, _ = _glmer(f"cbind(xi, mi) ~ 0 + intrcpt + const + {inter} + (1 | study)", frame, nagq,
                   start=np.sqrt([sigma2_fe]))
    vq = qe.vcov().to_numpy()
    wald = _core.wald_quadratic(qe.fixef.to_numpy()[2:], vq[2:, 2:])
    if method != "ML":
        return ModelFit(float(fe.fixef.iloc[0]), float(fe.vcov().iloc[0, 0]), 0.0, sigma2_fe, fe.loglik,
                        fe.loglik, qe.loglik, wald, 3, msgs)
    fit, msgs = _glmer("cbind(xi, mi) ~ 0 + intrcpt + const + (1 | study) + (0 + group | study)", frame, nagq)
    return ModelFit(float(fit.fixef.iloc[0]), float(fit.vcov().iloc[0, 0]), float(fit.theta[1] ** 2),
                    float(fit.theta[0] ** 2), fit.loglik, fe.loglik, qe.loglik, wald, 4, msgs)


def conditional_exact(cells: list[np.ndarray], k: int, method: str) -> ModelFit:
    """CM.EL: Fisher's noncentral hypergeometric likelihood of each table, the log odds ratios
    normal across tables when ML (see :mod:`._conditional`)."""
    tables = _conditional.Tables.from_cells(*cells)
    fe = _conditional.fe_fit(tables)
    ll_qe, wald = _conditional.saturated_fit(tables) if k > 1 else (fe.ll, float("nan"))
    if method != "ML":
        return ModelFit(fe.beta, fe.var, 0.0, float("nan"), fe.ll, fe.ll, ll_qe, wald, 1, ())
    ml = _conditional.ml_fit(tables, fe)
    messages = ml.messages + _se_plausibility(_conditional.peto_se_ratio(*cells, ml.var))
    return ModelFit(ml.beta, ml.var, ml.tau2, float("nan"), ml.ll, fe.ll, ll_qe, wald, 2, messages, ml.se_tau2)


def _se_plausibility(ratio: float) -> tuple[tuple[type, str], ...]:
    """metafor's warning when the standard error of the pooled log odds ratio is 100 times smaller
    or larger than that of Peto's random-effects model of the same tables."""
    if not np.isfinite(ratio) or 1 / 100 < ratio < 100:
        return ()
    size, times = ("small", ratio) if ratio >= 100 else ("large", 1 / ratio)
    return ((ConvergenceWarning, f"the standard error of the pooled log odds ratio appears unusually {size} "
             f"({times:.3g} times {'smaller' if size == 'small' else 'larger'} than that of Peto's random-effects "
             "model of the same tables); the Hessian is poorly determined (e.g. tau^2 near 0): "
             "treat the results with caution"),)
