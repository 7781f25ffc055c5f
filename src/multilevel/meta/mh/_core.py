"""Array functions of the Mantel-Haenszel and Peto methods (no pandas, no result objects).

Each pooling function takes the study tables as float arrays (rows with missing cells
already removed) and returns a :class:`Pooled` estimate on the analysis scale (log for
OR, RR and IRR). The tests (Cochran-Mantel-Haenszel, Breslow-Day with Tarone's
correction, the Mantel-Haenszel test for rates) and the heterogeneity and likelihood
statistics of the study-level outcomes ``yi`` are separate functions.

References
----------
Mantel, N., & Haenszel, W. (1959). Statistical aspects of the analysis of data from
retrospective studies of disease. *Journal of the National Cancer Institute*, 22, 719-748.

Robins, J., Breslow, N., & Greenland, S. (1986). Estimators of the Mantel-Haenszel variance
consistent in both sparse data and large-strata limiting models. *Biometrics*, 42, 311-323.

Greenland, S., & Robins, J. M. (1985). Estimation of a common effect parameter from sparse
follow-up data. *Biometrics*, 41, 55-68.

Sato, T., Greenland, S., & Robins, J. M. (1989). On the variance estimator for the
Mantel-Haenszel risk difference. *Biometrics*, 45, 1323-1324.

Tarone, R. E. (1985). On heterogeneity tests based on efficient scores. *Biometrika*, 72, 91-95.

Yusuf, S., Peto, R., Lewis, J., Collins, R., & Sleight, P. (1985). Beta blockade during and
after myocardial infarction. *Progress in Cardiovascular Diseases*, 27, 335-371.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc

__all__ = ["Pooled", "TableTests", "mh_odds_ratio", "mh_risk_ratio", "mh_risk_difference", "mh_rate_ratio",
           "mh_rate_difference", "cmh_tests", "tarone_test", "mh_rate_test", "peto_pool", "peto_heterogeneity",
           "heterogeneity", "fit_statistics"]


@dataclass(frozen=True)
class Pooled:
    """A pooled estimate and its standard error (NaN when not estimable)."""

    estimate: float
    se: float


@dataclass(frozen=True)
class TableTests:
    """Tests of the 2x2 tables (NaN where not computable; metafor prints a note instead)."""

    CO: float = np.nan
    COp: float = np.nan
    MH: float = np.nan
    MHp: float = np.nan
    BD: float = np.nan
    BDp: float = np.nan
    TA: float = np.nan
    TAp: float = np.nan
    k_pos: float = np.nan

    def __post_init__(self):
        for name in ("CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp", "k_pos"):
            object.__setattr__(self, name, float(getattr(self, name)))


_NAN = Pooled(np.nan, np.nan)


def mh_odds_ratio(ai, bi, ci, di) -> Pooled:
    """Mantel-Haenszel log odds ratio with the Robins-Breslow-Greenland variance."""
    n = ai + bi + ci + di
    P, Q = (ai + di) / n, (bi + ci) / n
    R, S = (ai / n) * di, (bi / n) * ci
    r, s = R.sum(), S.sum()
    if r == 0 or s == 0:
        return _NAN
    var = 0.5 * ((P * R).sum() / r**2 + (P * S + Q * R).sum() / (r * s) + (Q * S).sum() / s**2)
    return Pooled(float(np.log(r / s)), float(np.sqrt(var)))


def mh_risk_ratio(ai, bi, ci, di) -> Pooled:
    """Mantel-Haenszel log risk ratio with the Greenland-Robins variance."""
    n1, n2 = ai + bi, ci + di
    n = n1 + n2
    r, s = (ai * (n2 / n)).sum(), (ci * (n1 / n)).sum()
    if ai.sum() == 0 or ci.sum() == 0:
        return _NAN
    var = ((n1 / n) * (n2 / n) * (ai + ci) - (ai / n) * ci).sum() / (r * s)
    return Pooled(float(np.log(r / s)), float(np.sqrt(var)))


def mh_risk_difference(ai, bi, ci, di) -> Pooled:
    """Mantel-Haenszel risk difference with the Sato-Greenland-Robins variance."""
    n1, n2 = ai + bi, ci + di
    n = n1 + n2
    w = (n1 * (n2 / n)).sum()
    rd = (ai * (n2 / n) - ci * (n1 / n)).sum() / w
    num = rd * (ci * (n1 / n) ** 2 - ai * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2).sum() \
        + (ai * (n2 - ci) / n + ci * (n1 - ai) / n).sum() / 2
    return Pooled(float(rd), float(np.sqrt(num / w**2)))


def mh_rate_ratio(x1, x2, t1, t2) -> Pooled:
    """Mantel-Haenszel log incidence rate ratio (Greenland-Robins variance)."""
    t = t1 + t2
    r, s = (x1 * (t2 / t)).sum(), (x2 * (t1 / t)).sum()
    if x1.sum() == 0 or x2.sum() == 0:
        return _NAN
    var = ((t1 / t) * (t2 / t) * (x1 + x2)).sum() / (r * s)
    return Pooled(float(np.log(r / s)), float(np.sqrt(var)))


def mh_rate_difference(x1, x2, t1, t2) -> Pooled:
    """Mantel-Haenszel incidence rate difference."""
    t = t1 + t2
    w = ((t1 / t) * t2).sum()
    ird = ((x1 * t2 - x2 * t1) / t).sum() / w
    return Pooled(float(ird), float(np.sqrt(((((t1 / t) * t2) ** 2) * (x1 / t1**2 + x2 / t2**2)).sum()) / w))


def cmh_tests(ai, bi, ci, di, *, correct: bool) -> tuple[float, float, float, float]:
    """Cochran's and the Cochran-Mantel-Haenszel statistics (``CO, COp, MH, MHp``), 1 df."""
    n1, n2 = ai + bi, ci + di
    n = n1 + n2
    events, nonevents = ai + ci, bi + di
    if events.sum() == 0 or nonevents.sum() == 0:
        return np.nan, np.nan, np.nan, np.nan
    dev = (abs((ai - (n1 / n) * events).sum()) - (0.5 if correct else 0.0)) ** 2
    co = dev / ((n1 / n) * (n2 / n) * (events * (nonevents / n))).sum()
    mh = dev / ((n1 / n) * (n2 / n) * (events * (nonevents / (n - 1)))).sum()
    return co, float(chdtrc(1, co)), mh, float(chdtrc(1, mh))


def tarone_test(ai, bi, ci, di, log_or: float) -> tuple[float, float, float, float, int]:
    """Breslow-Day statistic and Tarone's corrected version at the pooled odds ratio.

    Returns ``BD, BDp, TA, TAp, k_pos`` (tables with positive expected count and both
    outcomes; the tests have ``k_pos - 1`` df).
    """
    if np.isnan(log_or):
        return np.nan, np.nan, np.nan, np.nan, 0
    psi = np.exp(log_or)
    n1, n2 = ai + bi, ci + di
    n = n1 + n2
    events, nonevents = ai + ci, bi + di
    if psi == 1:
        e11 = (n1 / n) * events
    else:
        A = psi * (n1 + events) + (n2 - events)
        B = np.sqrt(A**2 - 4 * n1 * events * psi * (psi - 1))
        e11 = (A - B) / (2 * (psi - 1))
    pos = (e11 > 0) & (events > 0) & (nonevents > 0)
    k_pos = int(pos.sum())
    e11 = e11[pos]
    e12, e21 = n1[pos] - e11, events[pos] - e11
    e22 = e11 - n1[pos] - events[pos] + n[pos]
    var = 1 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
    dev = ai[pos] - e11
    bd = max(0.0, float((dev**2 / var).sum()))
    ta = max(0.0, bd - float(dev.sum() ** 2 / var.sum()))
    if k_pos > 1:
        return bd, float(chdtrc(k_pos - 1, bd)), ta, float(chdtrc(k_pos - 1, ta)), k_pos
    return bd, np.nan, ta, np.nan, k_pos


def mh_rate_test(x1, x2, t1, t2, *, correct: bool) -> tuple[float, float]:
    """Mantel-Haenszel test of a common rate ratio of 1 (1 df)."""
    events = x1 + x2
    if events.sum() == 0:
        return np.nan, np.nan
    t = t1 + t2
    stat = (abs((x1 - events * (t1 / t)).sum()) - (0.5 if correct else 0.0)) ** 2 / (events * (t1 / t) * (t2 / t)).sum()
    return stat, float(chdtrc(1, stat))


def _peto_parts(ai, bi, ci, di):
    n1, n2 = ai + bi, ci + di
    n = n1 + n2
    events, nonevents = ai + ci, bi + di
    expected = events * n1 / n
    var = events * nonevents * (n1 / n) * (n2 / n) / (n - 1)
    return ai - expected, var


def peto_pool(ai, bi, ci, di) -> Pooled:
    """Peto's log odds ratio: summed observed minus expected events over the summed variances.

    Returns NaN when no table has both outcomes (the caller reports it).
    """
    dev, var = _peto_parts(ai, bi, ci, di)
    total = var.sum()
    if total == 0:
        return _NAN
    return Pooled(float(dev.sum() / total), float(np.sqrt(1 / total)))


def peto_heterogeneity(ai, bi, ci, di, k_yi: int) -> tuple[float, float, float, float, int]:
    """Peto's test of heterogeneity ``QE, QEp, I2, H2, k_pos`` (tables with a positive variance)."""
    dev, var = _peto_parts(ai, bi, ci, di)
    pos = var > 0
    k_pos = int(pos.sum())
    qe = max(0.0, float((dev[pos] ** 2 / var[pos]).sum() - dev.sum() ** 2 / var[pos].sum()))
    if k_pos > 1:
        return qe, float(chdtrc(k_yi - 1, qe)), max(0.0, 100 * (qe - (k_yi - 1)) / qe), qe / (k_yi - 1), k_pos
    return qe, 1.0, 0.0, 1.0, k_pos


def heterogeneity(yi, vi, beta: float) -> tuple[float, float, float, float]:
    """Cochran's Q of the outcomes about ``beta`` with its p-value, I^2 (percent) and H^2."""
    k = yi.size
    if k <= 1:
        return 0.0, 1.0, 0.0, 1.0
    qe = max(0.0, float((((yi - beta) ** 2) / vi).sum()))
    return qe, float(chdtrc(k - 1, qe)), max(0.0, 100 * (qe - (k - 1)) / qe), qe / (k - 1)


def fit_statistics(yi, vi, rss: float) -> dict[str, dict[str, float]]:
    """metafor's ``fit.stats`` of an equal-effects model with residual sum of squares ``rss``:
    ``{"ML": {...}, "REML": {...}}`` with keys ``ll, dev, AIC, BIC, AICc``."""
    k = yi.size
    if k < 1:
        nan = dict.fromkeys(("ll", "dev", "AIC", "BIC", "AICc"), np.nan)
        return {"ML": nan, "REML": dict(nan)}
    logv = np.log(vi).sum()
    ll_ml = -0.5 * k * np.log(2 * np.pi) - 0.5 * logv - 0.5 * rss
    ll_reml = (-0.5 * (k - 1) * np.log(2 * np.pi) + 0.5 * np.log(k) - 0.5 * logv
               - 0.5 * np.log((1 / vi).sum()) - 0.5 * rss)
    saturated = -0.5 * k * np.log(2 * np.pi) - 0.5 * logv
    dev_ml = -2 * ll_ml if np.any(vi <= 0) else -2 * (ll_ml - saturated)
    ml = {"ll": ll_ml, "dev": dev_ml, "AIC": -2 * ll_ml + 2, "BIC": -2 * ll_ml + np.log(k),
          "AICc": -2 * ll_ml + 2 * max(k, 3) / (max(k, 3) - 2)}
    with np.errstate(divide="ignore", invalid="ignore"):
        reml = {"ll": ll_reml, "dev": -2 * ll_reml, "AIC": -2 * ll_reml + 2, "BIC": -2 * ll_reml + np.log(k - 1),
                "AICc": -2 * ll_reml + 2 * max(k - 1, 3) / (max(k - 1, 3) - 2)}
    return {"ML": {k_: float(v) for k_, v in ml.items()}, "REML": {k_: float(v) for k_, v in reml.items()}}
