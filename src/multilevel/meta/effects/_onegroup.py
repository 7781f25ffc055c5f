"""Measures of one group: a mean ``mi`` with SD ``sdi`` in ``ni`` subjects, or a change between two
measurements of the same subjects (means ``m1i, m2i``, SDs ``sd1i, sd2i``, correlation ``ri``).

``MN``, ``MNLN`` (log mean), ``SMN`` (standardized mean), ``CVLN`` (log coefficient of
variation), ``SDLN`` (log SD); ``MC`` (raw mean change), ``SMCC`` (standardized by the SD
of the change scores), ``SMCR`` / ``SMCRH`` (standardized by the first SD, the latter
without assuming equal SDs), ``ROMC`` (log ratio of means), ``CVRC`` and ``VRC``.
"""

from __future__ import annotations

import numpy as np

from ._common import EscalcArgs, EscalcOptions, by_vtype, hedges_correction, vtypes

__all__ = ["MEASURES"]


def _single(a: EscalcArgs, measure: str, names=("mi", "sdi", "ni")) -> tuple[np.ndarray, ...]:
    a.need(names, measure)
    a.check(("sdi",), lambda s: s < 0, "negative standard deviations")
    a.check(("ni",), lambda n: n <= 0, "sample sizes <= 0")
    if measure in ("MNLN", "CVLN"):
        a.check(("mi",), lambda m: m < 0, "negative means")
    k = len(a.labels)
    return tuple(np.asarray(a[n], dtype=float) if a.get(n) is not None else np.full(k, np.nan)
                 for n in ("mi", "sdi", "ni"))


def _mn(a: EscalcArgs, o: EscalcOptions):
    m, s, n = _single(a, o.measure)
    return m, s**2 / n


def _mnln(a: EscalcArgs, o: EscalcOptions):
    m, s, n = _single(a, o.measure)
    return np.log(m), s**2 / (n * m**2)


def _cvln(a: EscalcArgs, o: EscalcOptions):
    m, s, n = _single(a, o.measure)
    return np.log(s / m) + 1 / (2 * (n - 1)), 1 / (2 * (n - 1)) + s**2 / (n * m**2)


def _sdln(a: EscalcArgs, o: EscalcOptions):
    _, s, n = _single(a, o.measure, ("sdi", "ni"))
    return np.log(s) + 1 / (2 * (n - 1)), 1 / (2 * (n - 1))


def _smn(a: EscalcArgs, o: EscalcOptions):
    m, s, n = _single(a, o.measure)
    yi = hedges_correction(n - 1) * m / s
    return yi, 1 / n + yi**2 / (2 * n)


_CHANGE = ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri")


def _change(a: EscalcArgs, measure: str, names: tuple[str, ...] = _CHANGE) -> tuple[np.ndarray, ...]:
    a.need(names, measure)
    a.check(("sd1i", "sd2i"), lambda s: s < 0, "negative standard deviations")
    a.check(("ri",), lambda r: np.abs(r) > 1, "correlations > 1 or < -1")
    a.check(("ni",), lambda n: n <= 0, "sample sizes <= 0")
    k = len(a.labels)
    return tuple(np.asarray(a[n], dtype=float) if a.get(n) is not None else np.full(k, np.nan) for n in _CHANGE)


def _mc(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n, r = _change(a, o.measure)
    return m1 - m2, (s1**2 + s2**2 - 2 * r * s1 * s2) / n


def _smcc(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n, r = _change(a, o.measure)
    cm = hedges_correction(n - 1)
    d = (m1 - m2) / np.sqrt(s1**2 + s2**2 - 2 * r * s1 * s2)
    yi = cm * d
    vt = vtypes(o, len(yi), ("LS", "LS2"))
    return yi, by_vtype(vt, {"LS": lambda: 1 / n + yi**2 / (2 * n),
                             "LS2": lambda: cm**2 * (1 / n + d**2 / (2 * n))})


def _smcr(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, _, n, r = _change(a, o.measure, ("m1i", "m2i", "sd1i", "ni", "ri"))
    cm = hedges_correction(n - 1)
    d = (m1 - m2) / s1
    yi = cm * d
    vt = vtypes(o, len(yi), ("LS", "LS2"))
    return yi, by_vtype(vt, {"LS": lambda: 2 * (1 - r) / n + yi**2 / (2 * n),
                             "LS2": lambda: cm**2 * (2 * (1 - r) / n + d**2 / (2 * n))})


def _smcrh(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n, r = _change(a, o.measure)
    cm = hedges_correction(n - 1)
    yi = cm * (m1 - m2) / s1
    var_change = s1**2 + s2**2 - 2 * r * s1 * s2
    return yi, cm**2 * (var_change / (s1**2 * (n - 1)) + yi**2 / (2 * (n - 1)))


def _romc(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n, r = _change(a, o.measure)
    return np.log(m1 / m2), s1**2 / (n * m1**2) + s2**2 / (n * m2**2) - 2 * r * s1 * s2 / (m1 * m2 * n)


def _cvrc(a: EscalcArgs, o: EscalcOptions):
    m1, m2, s1, s2, n, r = _change(a, o.measure)
    vi = (1 - r**2) / (n - 1) + (m1**2 * s2**2 + m2**2 * s1**2 - 2 * m1 * m2 * r * s1 * s2) / (m1**2 * m2**2 * n)
    return np.log(s1 / m1) - np.log(s2 / m2), vi


def _vrc(a: EscalcArgs, o: EscalcOptions):
    _, _, s1, s2, n, r = _change(a, o.measure, ("sd1i", "sd2i", "ni", "ri"))
    return np.log(s1 / s2), (1 - r**2) / (n - 1)


MEASURES = {
    "MN": _mn, "MNLN": _mnln, "CVLN": _cvln, "SDLN": _sdln, "SMN": _smn,
    "MC": _mc, "SMCC": _smcc, "SMCR": _smcr, "SMCRH": _smcrh, "ROMC": _romc, "CVRC": _cvrc, "VRC": _vrc,
}
