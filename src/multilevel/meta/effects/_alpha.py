"""Measures of Cronbach's alpha ``ai`` of a scale with ``mi`` items given to ``ni`` subjects.

``ARAW`` is alpha itself, ``AHW`` Hakstian and Whalen's (1976) cube-root transformation
``1 - (1 - alpha)^(1/3)`` and ``ABT`` Bonett's (2002) ``-log(1 - alpha)``.
"""

from __future__ import annotations

import numpy as np

from ._common import EscalcArgs, EscalcOptions

__all__ = ["MEASURES"]


def _alpha(a: EscalcArgs, measure: str):
    alpha, items, n = a.need(("ai", "mi", "ni"), measure)
    a.check(("ai",), lambda x: x > 1, "alpha values > 1")
    a.check(("mi",), lambda m: m < 2, "numbers of items < 2")
    a.check(("ni",), lambda x: x <= 0, "sample sizes <= 0")
    return alpha, items, n


def _araw(a: EscalcArgs, o: EscalcOptions):
    alpha, m, n = _alpha(a, o.measure)
    return alpha.copy(), 2 * m * (1 - alpha) ** 2 / ((m - 1) * (n - 2))


def _ahw(a: EscalcArgs, o: EscalcOptions):
    alpha, m, n = _alpha(a, o.measure)
    return 1 - (1 - alpha) ** (1 / 3), 18 * m * (n - 1) * (1 - alpha) ** (2 / 3) / ((m - 1) * (9 * n - 11) ** 2)


def _abt(a: EscalcArgs, o: EscalcOptions):
    alpha, m, n = _alpha(a, o.measure)
    return -np.log(1 - alpha), 2 * m / ((m - 1) * (n - 2))


MEASURES = {"ARAW": _araw, "AHW": _ahw, "ABT": _abt}
