"""Measures of 2x2 tables of two independent groups: cells ``ai, bi`` (group 1) and ``ci, di`` (group 2).

``ai`` and ``ci`` count the events; ``bi = n1i - ai`` and ``di = n2i - ci`` may be given as
group sizes instead. Odds, risk and arcsine differences compare the groups; ``PHI``,
``YUQ``, ``YUY``, ``RTET`` and ``PBIT`` treat the table as a cross-classification of two
dichotomies; ``OR2DN`` / ``OR2DL`` turn a log odds ratio into a standardized mean difference.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from ._common import EscalcArgs, EscalcOptions, add_to_cells, by_vtype, drop_double_zero, vtypes, wmean
from ._tetrachoric import tetrachoric

__all__ = ["MEASURES", "table_cells", "table_cells_raw"]


def table_cells_raw(a: EscalcArgs, measure: str) -> list[np.ndarray]:
    """The four cells as given (``bi``, ``di`` filled from ``n1i``, ``n2i``), checked."""
    a.derive("bi", "n1i", "ai")
    a.derive("di", "n2i", "ci")
    cells = list(a.need(("ai", "bi", "ci", "di"), measure))
    a.check(("ai", "bi", "ci", "di"), lambda c: c < 0, "negative counts")
    return cells


def table_cells(a: EscalcArgs, o: EscalcOptions) -> list[np.ndarray]:
    """The four cells after ``drop00`` and the zero-cell addition."""
    cells = table_cells_raw(a, o.measure)
    if o.drop00:
        ai, bi, ci, di = cells
        cells = drop_double_zero([(ai, ci), (bi, di)], cells)
    return add_to_cells(cells, o.add, o.to)


def _log_or(ai, bi, ci, di):
    return np.log(ai / bi) - np.log(ci / di), 1 / ai + 1 / bi + 1 / ci + 1 / di


def _or(a: EscalcArgs, o: EscalcOptions):
    return _log_or(*table_cells(a, o))


def _rr(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    n1, n2 = ai + bi, ci + di
    return np.log(ai / n1) - np.log(ci / n2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2


def _rd(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    vt = vtypes(o, len(ai), ("UB", "LS", "AV"))
    m1, m2 = wmean(p1, n1), wmean(p2, n2)
    vi = by_vtype(vt, {
        "UB": lambda: p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1),
        "LS": lambda: p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2,
        "AV": lambda: m1 * (1 - m1) / n1 + m2 * (1 - m2) / n2,
    })
    return p1 - p2, vi


def _peto(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    n1, n2 = ai + bi, ci + di
    ni = n1 + n2
    events, nonevents = ai + ci, bi + di
    expected = events * n1 / ni
    var = events * nonevents * (n1 / ni) * (n2 / ni) / (ni - 1)
    return (ai - expected) / var, 1 / var


def _as(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    n1, n2 = ai + bi, ci + di
    return np.arcsin(np.sqrt(ai / n1)) - np.arcsin(np.sqrt(ci / n2)), 1 / (4 * n1) + 1 / (4 * n2)


def _phi_st(ai, bi, ci, di):
    """Variance of phi when both margins are random (stratified sampling), Yule's delta method."""
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    q1, q2 = 1 - p1, 1 - p2
    mix = p2 * q1 + p1 * q2
    num = (4 * n1**3 * p1**2 * p2 * q1**2 * q2 + 4 * n2**3 * p1 * p2**2 * q1 * q2**2
           + n1 * n2**2 * p2 * q2 * mix * (p2 * q1 + p1 * (4 * q1 + q2))
           + n1**2 * n2 * p1 * q1 * mix * (p1 * q2 + p2 * (q1 + 4 * q2)))
    return (n1 + n2) ** 2 * num / (4 * (ai + ci) ** 3 * (bi + di) ** 3)


def _phi(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    ni = ai + bi + ci + di
    r1, r2, c1, c2 = (ai + bi) / ni, (ci + di) / ni, (ai + ci) / ni, (bi + di) / ni
    yi = (ai * di - bi * ci) / np.sqrt((ai + bi) * (ci + di) * (ai + ci) * (bi + di))
    vt = vtypes(o, len(ai), ("ST", "LS", "CS"))

    def multinomial():
        return (1 - yi**2 + yi * (1 + yi**2 / 2) * (r1 - r2) * (c1 - c2) / np.sqrt(r1 * r2 * c1 * c2)
                - 0.75 * yi**2 * ((r1 - r2) ** 2 / (r1 * r2) + (c1 - c2) ** 2 / (c1 * c2))) / ni

    return yi, by_vtype(vt, {"ST": lambda: _phi_st(ai, bi, ci, di), "LS|CS": multinomial})


def _yule(power: float, scale: float):
    def fn(a: EscalcArgs, o: EscalcOptions):
        ai, bi, ci, di = table_cells(a, o)
        odds = ((ai / bi) / (ci / di)) ** power
        yi = (odds - 1) / (odds + 1)
        return yi, scale * (1 - yi**2) ** 2 * (1 / ai + 1 / bi + 1 / ci + 1 / di)
    return fn


def _rtet(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    yi, vi = np.full(ai.shape, np.nan), np.full(ai.shape, np.nan)
    for i in range(ai.size):
        if not np.isnan([ai[i], bi[i], ci[i], di[i]]).any():
            yi[i], vi[i] = tetrachoric(ai[i], bi[i], ci[i], di[i])
    return yi, vi


def _pbit(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    z1, z2 = ndtri(p1), ndtri(p2)
    vi = 2 * np.pi * p1 * (1 - p1) * np.exp(z1**2) / n1 + 2 * np.pi * p2 * (1 - p2) * np.exp(z2**2) / n2
    return z1 - z2, vi


def _or_to_d(factor: float):
    def fn(a: EscalcArgs, o: EscalcOptions):
        yi, vi = _log_or(*table_cells(a, o))
        return yi * factor, vi * factor**2
    return fn


MEASURES = {
    "OR": _or, "RR": _rr, "RD": _rd, "PETO": _peto, "AS": _as, "PHI": _phi,
    "YUQ": _yule(1.0, 0.25), "YUY": _yule(0.5, 1 / 16), "RTET": _rtet, "PBIT": _pbit,
    "OR2DN": _or_to_d(1 / 1.65), "OR2DL": _or_to_d(np.sqrt(3) / np.pi), "OR2D": _or_to_d(np.sqrt(3) / np.pi),
}

#: measures whose zero-cell addition is 0 unless ``add`` is given (as metafor).
NO_ADD = ("AS", "PHI", "RTET")
