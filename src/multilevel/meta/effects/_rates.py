"""Proportions and incidence rates: one group (``xi`` events of ``ni`` = ``xi + mi``, or ``xi`` events
over person-time ``ti``) and two groups (``x1i``, ``x2i`` events over ``t1i``, ``t2i``).

Proportions: raw (``PR``), log (``PLN``), logit (``PLO``), arcsine (``PAS``) and
Freeman-Tukey double arcsine (``PFT``). Rates: raw (``IR``), log (``IRLN``), square root
(``IRS``) and Freeman-Tukey (``IRFT``). Two groups: log rate ratio (``IRR``), rate
difference (``IRD``) and difference of square-root rates (``IRSD``).
"""

from __future__ import annotations

import numpy as np

from ._common import EscalcArgs, EscalcOptions, add_to_cells, by_vtype, drop_double_zero, vtypes, wmean

__all__ = ["MEASURES", "NO_ADD", "rate_cells"]


def _proportion_cells(a: EscalcArgs, o: EscalcOptions) -> tuple[np.ndarray, ...]:
    a.derive("mi", "ni", "xi")
    xi, mi = a.need(("xi", "mi"), o.measure)
    a.check(("xi", "mi"), lambda c: c < 0, "negative counts")
    a.check_values("ni (xi + mi)", xi + mi, lambda n: n <= 0, "group sizes <= 0")
    xi, mi = add_to_cells([xi, mi], o.add, o.to)
    return xi, mi, xi + mi


def _pr(a: EscalcArgs, o: EscalcOptions):
    xi, mi, ni = _proportion_cells(a, o)
    p = xi / ni
    mp = wmean(p, ni)
    vt = vtypes(o, len(p), ("UB", "LS", "AV"))
    return p, by_vtype(vt, {"UB": lambda: p * (1 - p) / (ni - 1), "LS": lambda: p * (1 - p) / ni,
                            "AV": lambda: mp * (1 - mp) / ni})


def _pln(a: EscalcArgs, o: EscalcOptions):
    xi, mi, ni = _proportion_cells(a, o)
    p = xi / ni
    mp = wmean(p, ni)
    vt = vtypes(o, len(p), ("LS", "AV"))
    return np.log(p), by_vtype(vt, {"LS": lambda: 1 / xi - 1 / ni, "AV": lambda: 1 / (mp * ni) - 1 / ni})


def _plo(a: EscalcArgs, o: EscalcOptions):
    xi, mi, ni = _proportion_cells(a, o)
    p = xi / ni
    mp = wmean(p, ni)
    vt = vtypes(o, len(p), ("LS", "AV"))
    return np.log(p / (1 - p)), by_vtype(vt, {"LS": lambda: 1 / xi + 1 / mi,
                                              "AV": lambda: 1 / (mp * ni) + 1 / ((1 - mp) * ni)})


def _pas(a: EscalcArgs, o: EscalcOptions):
    xi, mi, ni = _proportion_cells(a, o)
    return np.arcsin(np.sqrt(xi / ni)), 1 / (4 * ni)


def _pft(a: EscalcArgs, o: EscalcOptions):
    xi, mi, ni = _proportion_cells(a, o)
    yi = (np.arcsin(np.sqrt(xi / (ni + 1))) + np.arcsin(np.sqrt((xi + 1) / (ni + 1)))) / 2
    return yi, 1 / (4 * ni + 2)


def _rate(a: EscalcArgs, o: EscalcOptions) -> tuple[np.ndarray, np.ndarray]:
    xi, ti = a.need(("xi", "ti"), o.measure)
    a.check(("xi",), lambda c: c < 0, "negative counts")
    a.check(("ti",), lambda t: t <= 0, "person-times <= 0")
    (xi,) = add_to_cells([xi], o.add, o.to)
    return xi, ti


def _ir(a: EscalcArgs, o: EscalcOptions):
    xi, ti = _rate(a, o)
    return xi / ti, xi / ti**2


def _irln(a: EscalcArgs, o: EscalcOptions):
    xi, ti = _rate(a, o)
    return np.log(xi / ti), 1 / xi


def _irs(a: EscalcArgs, o: EscalcOptions):
    xi, ti = _rate(a, o)
    return np.sqrt(xi / ti), 1 / (4 * ti)


def _irft(a: EscalcArgs, o: EscalcOptions):
    xi, ti = _rate(a, o)
    rate = xi / ti
    return (np.sqrt(rate) + np.sqrt(rate + 1 / ti)) / 2, 1 / (4 * ti)


def rate_cells(a: EscalcArgs, o: EscalcOptions) -> tuple[np.ndarray, ...]:
    """Counts and person-times of two groups after ``drop00`` and the zero-count addition."""
    x1, x2, t1, t2 = a.need(("x1i", "x2i", "t1i", "t2i"), o.measure)
    a.check(("x1i", "x2i"), lambda c: c < 0, "negative counts")
    a.check(("t1i", "t2i"), lambda t: t <= 0, "person-times <= 0")
    if o.drop00:
        x1, x2 = drop_double_zero([(x1, x2)], [x1, x2])
    x1, x2 = add_to_cells([x1, x2], o.add, o.to)
    return x1, x2, t1, t2


def _irr(a: EscalcArgs, o: EscalcOptions):
    x1, x2, t1, t2 = rate_cells(a, o)
    return np.log(x1 / t1) - np.log(x2 / t2), 1 / x1 + 1 / x2


def _ird(a: EscalcArgs, o: EscalcOptions):
    x1, x2, t1, t2 = rate_cells(a, o)
    return x1 / t1 - x2 / t2, x1 / t1**2 + x2 / t2**2


def _irsd(a: EscalcArgs, o: EscalcOptions):
    x1, x2, t1, t2 = rate_cells(a, o)
    return np.sqrt(x1 / t1) - np.sqrt(x2 / t2), 1 / (4 * t1) + 1 / (4 * t2)


MEASURES = {"PR": _pr, "PLN": _pln, "PLO": _plo, "PAS": _pas, "PFT": _pft,
            "IR": _ir, "IRLN": _irln, "IRS": _irs, "IRFT": _irft, "IRR": _irr, "IRD": _ird, "IRSD": _irsd}

#: measures whose zero-count addition is 0 unless ``add`` is given (as metafor).
NO_ADD = ("IRSD", "PAS", "PFT", "IRS", "IRFT")
