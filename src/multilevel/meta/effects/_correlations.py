"""Correlation measures: raw (``COR``), bias-corrected (``UCOR``) and Fisher-z (``ZCOR``) correlations
from ``ri`` and ``ni``; partial (``PCOR``, ``ZPCOR``) and semi-partial (``SPCOR``) correlations
from the t statistic ``ti`` of a regression coefficient, with ``mi`` other predictors and,
for ``SPCOR``, the model's ``r2i``.

``UCOR`` is Olkin and Pratt's (1958) unbiased estimator
``r * 2F1(1/2, 1/2; (n - 2)/2; 1 - r^2)``; its ``vtype="UB"`` variance is Hedges' (1989)
unbiased estimator.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import beta as beta_fn
from scipy.special import hyp2f1

from ..._exceptions import ArgumentError, MissingDataWarning
from ._common import EscalcArgs, EscalcOptions, by_vtype, vtypes, wmean

__all__ = ["MEASURES"]


def _hyp_integral(a: float, b: float, c: float, z: float) -> float:
    """Euler's integral ``2F1(a, b; c; z) = B(b, c - b)^-1 int_0^1 t^(b-1) (1-t)^(c-b-1) (1-zt)^-a dt``."""
    from scipy.integrate import quad

    value, _ = quad(lambda t: (1 - z * t) ** (-a), 0.0, 1.0, weight="alg", wvar=(b - 1, c - b - 1),
                    epsabs=0.0, epsrel=1e-13, limit=200)
    return float(value / beta_fn(b, c - b))


def _hyp(a: float, b: float, g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gauss' hypergeometric function where ``g > a + b`` (NaN elsewhere, as metafor).

    SciPy's ``hyp2f1`` fails (NaN) for large ``g`` with ``x`` near 1 (large samples with
    small correlations); those values come from Euler's integral.
    """
    ok = ~np.isnan(g) & ~np.isnan(x) & (np.nan_to_num(g) > a + b)
    out = np.full(np.shape(g), np.nan)
    out[ok] = hyp2f1(a, b, g[ok], x[ok])
    for i in np.flatnonzero(ok & ~np.isfinite(out)):
        out[i] = _hyp_integral(a, b, float(g[i]), float(x[i]))
    return out


def _corr(a: EscalcArgs, o: EscalcOptions):
    ri, ni = a.need(("ri", "ni"), o.measure)
    a.check(("ri",), lambda r: np.abs(r) > 1, "correlations > 1 or < -1")
    a.check(("ni",), lambda n: n <= 0, "sample sizes <= 0")
    if o.measure != "UCOR" and np.any(np.atleast_1d(np.asarray(o.vtype, dtype=object)) == "UB"):
        raise ArgumentError(f"vtype='UB' is available for measure 'UCOR' only, not {o.measure!r}")
    if o.measure == "UCOR" and np.any(ni <= 4):
        warnings.warn("the bias-corrected correlation cannot be computed when ni <= 4 (yi is missing)",
                      MissingDataWarning, stacklevel=5)
    return ri, ni


def _cor_family(unbiased: bool):
    def fn(a: EscalcArgs, o: EscalcOptions):
        ri, ni = _corr(a, o)
        yi = ri * _hyp(0.5, 0.5, (ni - 2) / 2, 1 - ri**2) if unbiased else ri.copy()
        mean_r = wmean(yi, ni)
        vt = vtypes(o, len(ri), ("UB", "LS", "AV"))
        vi = by_vtype(vt, {
            "UB": lambda: yi**2 - (1 - (ni - 3) / (ni - 2) * (1 - ri**2) * _hyp(1, 1, ni / 2, 1 - ri**2)),
            "LS": lambda: (1 - yi**2) ** 2 / (ni - 1),
            "AV": lambda: (1 - mean_r**2) ** 2 / (ni - 1),
        })
        return yi, np.where(ni <= 3, np.nan, vi)
    return fn


def _zcor(a: EscalcArgs, o: EscalcOptions):
    ri, ni = _corr(a, o)
    if np.any(ni <= 3):
        warnings.warn("the sampling variance cannot be computed when ni <= 3 (vi is missing)",
                      MissingDataWarning, stacklevel=4)
    with np.errstate(divide="ignore"):
        return np.arctanh(ri), np.where(ni <= 3, np.nan, 1 / (ni - 3))


def _partial_inputs(a: EscalcArgs, o: EscalcOptions, names: tuple[str, ...]):
    a.need(names, o.measure)
    if "r2i" in names:
        a.check(("r2i",), lambda r: (r > 1) | (r < 0), "R^2 values > 1 or < 0")
    a.check(("ni",), lambda n: n <= 0, "sample sizes <= 0")
    a.check(("mi",), lambda m: m < 0, "negative numbers of predictors")
    ti, ni, mi = (np.asarray(a[n], dtype=float) for n in ("ti", "ni", "mi"))
    df = ni - mi - 1
    a.check_values("ni - mi - 1 (the residual df)", df, lambda d: d <= 0, "values <= 0")
    return ti, ni, df


def _pcor(a: EscalcArgs, o: EscalcOptions):
    ti, ni, df = _partial_inputs(a, o, ("ti", "ni", "mi"))
    yi = ti / np.sqrt(ti**2 + df)
    mean_r = wmean(yi, ni)
    vt = vtypes(o, len(yi), ("LS", "AV"))
    return yi, by_vtype(vt, {"LS": lambda: (1 - yi**2) ** 2 / df, "AV": lambda: (1 - mean_r**2) ** 2 / df})


def _zpcor(a: EscalcArgs, o: EscalcOptions):
    ti, ni, df = _partial_inputs(a, o, ("ti", "ni", "mi"))
    return np.arctanh(ti / np.sqrt(ti**2 + df)), 1 / df


def _spcor(a: EscalcArgs, o: EscalcOptions):
    ti, ni, df = _partial_inputs(a, o, ("ti", "ni", "mi", "r2i"))
    r2 = np.asarray(a["r2i"], dtype=float)
    yi = ti * np.sqrt(1 - r2) / np.sqrt(df)
    mean_r = wmean(yi, ni)

    def var(r):
        return (r2**2 - 2 * r2 + (r2 - r**2) + 1 - (r2 - r**2) ** 2) / ni

    vt = vtypes(o, len(yi), ("LS", "AV"))
    return yi, by_vtype(vt, {"LS": lambda: var(yi), "AV": lambda: var(mean_r)})


MEASURES = {"COR": _cor_family(False), "UCOR": _cor_family(True), "ZCOR": _zcor,
            "PCOR": _pcor, "ZPCOR": _zpcor, "SPCOR": _spcor}
