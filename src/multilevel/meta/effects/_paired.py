"""Measures of paired (matched) binary data, from the 2x2 table of pairs.

``ai`` counts the pairs with the event in both members, ``bi`` the event only in the first
(treated) member, ``ci`` only in the second, ``di`` in neither. ``MPRD``, ``MPRR`` and
``MPOR`` compare the marginal proportions ``(ai + bi) / n`` and ``(ai + ci) / n``;
``MPORC`` is the conditional (McNemar) log odds ratio ``log(bi / ci)`` and ``MPPETO`` its
Peto version (Zou 2007; Curtin et al. 2002).
"""

from __future__ import annotations

import numpy as np

from ._common import EscalcArgs, EscalcOptions
from ._tables import table_cells

__all__ = ["MEASURES"]


def _marginal(a: EscalcArgs, o: EscalcOptions):
    ai, bi, ci, di = table_cells(a, o)
    n = ai + bi + ci + di
    return n, bi / n, ci / n, (ai + bi) / n, (ai + ci) / n


def _mprd(a: EscalcArgs, o: EscalcOptions):
    n, p12, p21, p1, p2 = _marginal(a, o)
    return p1 - p2, (p12 * (1 - p12) + 2 * p12 * p21 + p21 * (1 - p21)) / n


def _mprr(a: EscalcArgs, o: EscalcOptions):
    n, p12, p21, p1, p2 = _marginal(a, o)
    return np.log(p1) - np.log(p2), (p12 + p21) / (n * p1 * p2)


def _mpor(a: EscalcArgs, o: EscalcOptions):
    n, p12, p21, p1, p2 = _marginal(a, o)
    yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
    vi = (p12 * (1 - p12) + p21 * (1 - p21) + 2 * p12 * p21) / (n * p1 * (1 - p1) * p2 * (1 - p2))
    return yi, vi


def _mporc(a: EscalcArgs, o: EscalcOptions):
    _, bi, ci, _ = table_cells(a, o)
    return np.log(bi) - np.log(ci), 1 / bi + 1 / ci


def _mppeto(a: EscalcArgs, o: EscalcOptions):
    _, bi, ci, _ = table_cells(a, o)
    expected, var = (bi + ci) / 2, (bi + ci) / 4
    return (bi - expected) / var, 1 / var


MEASURES = {"MPRD": _mprd, "MPRR": _mprr, "MPOR": _mpor, "MPORC": _mporc, "MPPETO": _mppeto}
