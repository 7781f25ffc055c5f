"""Measures of two independent groups with means ``m1i, m2i``, SDs ``sd1i, sd2i`` and sizes ``n1i, n2i``.

Raw (``MD``) and standardized mean differences (``SMD`` Hedges' g, ``SMDH`` with
heteroscedastic SDs, ``SMD1`` / ``SMD1H`` standardized by group 2's SD), the log ratio of
means (``ROM``), log ratios of coefficients of variation and of SDs (``CVR``, ``VR``),
point-biserial and biserial correlations (``RPB``, ``RBIS``) and standardized mean
differences turned into log odds ratios (``D2ORN`` normal, ``D2ORL`` logistic).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from ._common import EscalcArgs, EscalcOptions, by_vtype, hedges_correction, vtypes, wmean

__all__ = ["MEASURES"]

_ALL = ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")


def _groups(a: EscalcArgs, measure: str, names: tuple[str, ...] = _ALL) -> tuple[np.ndarray, ...]:
    """The six group summaries (those not in ``names`` may be absent: NaN), checked."""
    a.need(names, measure)
    a.check(("sd1i", "sd2i"), lambda s: s < 0, "negative standard deviations")
    a.check(("n1i", "n2i"), lambda n: n <= 0, "group sizes <= 0")
    k = len(a.labels)
    return tuple(np.asarray(a[n], dtype=float) if a.get(n) is not None else np.full(k, np.nan) for n in _ALL)


def _pooled(s1, s2, n1, n2):
    return np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))


def _smd_inputs(a: EscalcArgs, measure: str) -> tuple[np.ndarray, ...]:
    """Group summaries for SMD, where a given ``di`` (or ``ti``) replaces the means and SDs."""
    a.need(("n1i", "n2i"), measure)
    d = a.get("di")
    if a.get("ti") is not None:
        from_t = np.asarray(a["ti"], dtype=float) * np.sqrt(1 / np.asarray(a["n1i"], float) + 1 / np.asarray(a["n2i"], float))
        d = from_t if d is None else np.where(np.isnan(d), from_t, d)
    if d is None:
        return _groups(a, measure)
    d = np.asarray(d, dtype=float)
    m1, m2, s1, s2, n1, n2 = _groups(a, measure, ("n1i", "n2i"))
    has = ~np.isnan(d)
    return (np.where(has, d, m1), np.where(has, 0.0, m2), np.where(has, 1.0, s1), np.where(has, 1.0, s2), n1, n2)


def _md(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n1, n2 = _groups(a, o.measure)
    vt = vtypes(o, len(m1), ("UB", "LS", "HO"))
    return m1 - m2, by_vtype(vt, {"UB|LS": lambda: s1**2 / n1 + s2**2 / n2,
                                  "HO": lambda: _pooled(s1, s2, n1, n2) ** 2 * (1 / n1 + 1 / n2)})


def _smd_family(one: bool):
    def fn(a: EscalcArgs, o: EscalcOptions):
        if one:
            m1, m2, s1, s2, n1, n2 = _groups(a, o.measure, ("m1i", "m2i", "sd2i", "n1i", "n2i"))
            m, sd, npi = n2 - 1, s2, n2
        else:
            m1, m2, s1, s2, n1, n2 = _smd_inputs(a, o.measure)
            m, sd, npi = n1 + n2 - 2, _pooled(s1, s2, n1, n2), n1 + n2
        d = (m1 - m2) / sd
        cm = hedges_correction(m)
        yi = cm * d
        mean_g = wmean(yi, n1 + n2)
        vt = vtypes(o, len(yi), ("UB", "LS", "LS2", "AV"))
        return yi, by_vtype(vt, {
            "UB": lambda: 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * cm**2)) * yi**2,
            "LS": lambda: 1 / n1 + 1 / n2 + yi**2 / (2 * npi),
            "AV": lambda: 1 / n1 + 1 / n2 + mean_g**2 / (2 * npi),
            "LS2": lambda: cm**2 * (1 / n1 + 1 / n2 + d**2 / (2 * npi)),
        })
    return fn


def _smdh(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n1, n2 = _groups(a, o.measure)
    cm = hedges_correction(n1 + n2 - 2)
    v1, v2 = s1**2, s2**2
    yi = cm * (m1 - m2) / np.sqrt((v1 + v2) / 2)
    vt = vtypes(o, len(yi), ("LS", "LS2"))
    return yi, by_vtype(vt, {
        "LS": lambda: cm**2 * (yi**2 * (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)) / (2 * (v1 + v2) ** 2)
                               + (v1 / (n1 - 1) + v2 / (n2 - 1)) / ((v1 + v2) / 2)),
        "LS2": lambda: (yi**2 * (v1 / n1 + v2 / n2) / (2 * (v1 + v2) ** 2)
                        + 2 * (v1 / n1 + v2 / n2) / (v1 + v2)),
    })


def _smd1h(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n1, n2 = _groups(a, o.measure)
    yi = hedges_correction(n2 - 1) * (m1 - m2) / s2
    return yi, (s1**2 / s2**2) / n1 + 1 / n2 + yi**2 / (2 * n2)


def _rom(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n1, n2 = _groups(a, o.measure)
    sp = _pooled(s1, s2, n1, n2)
    cv1, cv2 = s1 / m1, s2 / m2
    ok = ~(np.isnan(n1) | np.isnan(n2) | np.isnan(cv1) | np.isnan(cv2))
    pooled_cv = (np.sum(n1[ok] * cv1[ok]) + np.sum(n2[ok] * cv2[ok])) / np.sum((n1 + n2)[ok])
    vt = vtypes(o, len(m1), ("LS", "HO", "AV", "AVHO"))
    mcv1, mcv2 = wmean(cv1, n1), wmean(cv2, n2)
    return np.log(m1 / m2), by_vtype(vt, {
        "LS": lambda: s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2),
        "HO": lambda: sp**2 / (n1 * m1**2) + sp**2 / (n2 * m2**2),
        "AV": lambda: mcv1**2 / n1 + mcv2**2 / n2,
        "AVHO": lambda: pooled_cv**2 * (1 / n1 + 1 / n2),
    })


def _cvr(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n1, n2 = _groups(a, o.measure)
    yi = np.log(s1 / m1) + 1 / (2 * (n1 - 1)) - np.log(s2 / m2) - 1 / (2 * (n2 - 1))
    return yi, 1 / (2 * (n1 - 1)) + s1**2 / (n1 * m1**2) + 1 / (2 * (n2 - 1)) + s2**2 / (n2 * m2**2)


def _vr(a: EscalcArgs, o: EscalcOptions):
    _, _, s1, s2, n1, n2 = _groups(a, o.measure, ("sd1i", "sd2i", "n1i", "n2i"))
    return np.log(s1 / s2) + 1 / (2 * (n1 - 1)) - 1 / (2 * (n2 - 1)), 1 / (2 * (n1 - 1)) + 1 / (2 * (n2 - 1))


def _cohen_d(a: EscalcArgs, measure: str):
    m1, m2, s1, s2, n1, n2 = _groups(a, measure)
    return (m1 - m2) / _pooled(s1, s2, n1, n2), n1, n2


def _rpb(a: EscalcArgs, o: EscalcOptions):
    d, n1, n2 = _cohen_d(a, o.measure)
    ni = n1 + n2
    h = (ni - 2) / n1 + (ni - 2) / n2
    yi = d / np.sqrt(d**2 + h)
    vt = vtypes(o, len(d), ("ST", "LS", "CS"))
    return yi, by_vtype(vt, {
        "ST|LS": lambda: h**2 / (h + d**2) ** 3 * (1 / n1 + 1 / n2 + d**2 / (2 * ni)),
        "CS": lambda: (1 - yi**2) ** 2 * (ni * yi**2 / (4 * n1 * n2) + (2 - 3 * yi**2) / (2 * ni)),
    })


def _rbis(a: EscalcArgs, o: EscalcOptions):
    d, n1, n2 = _cohen_d(a, o.measure)
    ni = n1 + n2
    h = (ni - 2) / n1 + (ni - 2) / n2
    p1, p2 = n1 / ni, n2 / ni
    z = -ndtri(p1)
    fz = np.exp(-z**2 / 2) / np.sqrt(2 * np.pi)
    yi = np.sqrt(p1 * p2) / fz * d / np.sqrt(d**2 + h)
    r = np.where(np.abs(yi) > 1, np.sign(yi), yi)
    vi = (p1 * p2 / fz**2 - (1.5 + (1 - p1 * z / fz) * (1 + p2 * z / fz)) * r**2 + r**4) / (ni - 1)
    return yi, vi


def _d_to_or(factor: float):
    def fn(a: EscalcArgs, o: EscalcOptions):
        d, n1, n2 = _cohen_d(a, o.measure)
        return factor * d, factor**2 * (1 / n1 + 1 / n2 + d**2 / (2 * (n1 + n2)))
    return fn


MEASURES = {
    "MD": _md, "SMD": _smd_family(False), "SMD1": _smd_family(True), "SMDH": _smdh, "SMD1H": _smd1h,
    "ROM": _rom, "CVR": _cvr, "VR": _vr, "RPB": _rpb, "RBIS": _rbis,
    "D2ORN": _d_to_or(1.65), "D2ORL": _d_to_or(np.pi / np.sqrt(3)), "D2OR": _d_to_or(np.pi / np.sqrt(3)),
}
