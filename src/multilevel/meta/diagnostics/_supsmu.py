r"""Friedman's super smoother (R's ``supsmu``), used to smooth the QQ-plot envelope as metafor does.

Three running-lines smoothers (spans 0.05, 0.2 and 0.5 of the observations: "tweeter",
"midrange" and "woofer") are fitted with leave-one-out residuals; the residuals are smoothed
with the midrange span, each point takes the span whose smoothed residual is smallest (pulled
toward the woofer by the bass control :math:`0 < \alpha \le 10`), the chosen spans are smoothed,
the fit at each point is interpolated between the two neighbouring spans' smooths, and the
result is smoothed once more with the tweeter span. Tied abscissae share their mean smooth.

The spans and constants are the single-precision values of the reference implementation
(0.05 and 0.2 are not exact in binary), so that window widths and interpolation weights agree.

Reference: Friedman, J. H. (1984). A variable span smoother. Technical Report No. 5, Laboratory
for Computational Statistics, Stanford University.
"""

from __future__ import annotations

import numpy as np

__all__ = ["supsmu"]

_SPANS = tuple(float(np.float32(s)) for s in (0.05, 0.2, 0.5))
_BIG, _SML, _EPS = 1.0e20, float(np.float32(1.0e-7)), float(np.float32(1.0e-3))


class _Window:
    """Weighted running means, variance and covariance of the points in a window."""

    def __init__(self) -> None:
        self.xm = self.ym = self.var = self.cvar = self.sw = 0.0

    def add(self, x: float, y: float, w: float) -> None:
        old = self.sw
        self.sw += w
        if self.sw > 0:
            self.xm = (old * self.xm + w * x) / self.sw
            self.ym = (old * self.ym + w * y) / self.sw
        t = self.sw * w * (x - self.xm) / old if old > 0 else 0.0
        self.var += t * (x - self.xm)
        self.cvar += t * (y - self.ym)

    def remove(self, x: float, y: float, w: float) -> None:
        old = self.sw
        self.sw -= w
        t = old * w * (x - self.xm) / self.sw if self.sw > 0 else 0.0
        self.var -= t * (x - self.xm)
        self.cvar -= t * (y - self.ym)
        if self.sw > 0:
            self.xm = (old * self.xm - w * x) / self.sw
            self.ym = (old * self.ym - w * y) / self.sw


def _running_lines(x: np.ndarray, y: np.ndarray, w: np.ndarray, span: float, vsmlsq: float,
                   cv: bool) -> tuple[np.ndarray, np.ndarray]:
    """Local linear fits over windows of ``span * n`` points (and absolute leave-one-out residuals)."""
    n = x.shape[0]
    half = max(int(0.5 * span * n + 0.5), 2)
    win = _Window()
    for j in range(min(2 * half + 1, n)):
        win.add(x[j], y[j], w[j])
    smo, acvr = np.zeros(n), np.zeros(n)
    for j in range(n):
        out, inn = j - half - 1, j + half
        if out >= 0 and inn < n:
            win.remove(x[out], y[out], w[out])
            win.add(x[inn], y[inn], w[inn])
        slope = win.cvar / win.var if win.var > vsmlsq else 0.0
        smo[j] = slope * (x[j] - win.xm) + win.ym
        if cv:
            h = 1.0 / win.sw if win.sw > 0 else 0.0
            if win.var > vsmlsq:
                h += (x[j] - win.xm) ** 2 / win.var
            a = 1.0 - w[j] * h
            if a > 0:
                acvr[j] = abs(y[j] - smo[j]) / a
            elif j > 0:
                acvr[j] = acvr[j - 1]
    return _average_ties(x, smo, w), acvr


def _average_ties(x: np.ndarray, smo: np.ndarray, w: np.ndarray) -> np.ndarray:
    out = smo.copy()
    start = 0
    n = x.shape[0]
    while start < n:
        stop = start
        while stop + 1 < n and x[stop + 1] <= x[stop]:
            stop += 1
        if stop > start:
            ww = w[start:stop + 1]
            out[start:stop + 1] = (ww @ smo[start:stop + 1]) / ww.sum() if ww.sum() > 0 else 0.0
        start = stop + 1
    return out


def _scale(x: np.ndarray) -> float:
    n = x.shape[0]
    i = n // 4 - 1
    j = 3 * (n // 4) - 1
    scale = x[j] - x[i]
    while scale <= 0:
        j = min(j + 1, n - 1)
        i = max(i - 1, 0)
        scale = x[j] - x[i]
    return scale


def _variable_span(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float, vsmlsq: float) -> np.ndarray:
    fits, resid = [], []
    for span in _SPANS:
        smo, acvr = _running_lines(x, y, w, span, vsmlsq, cv=True)
        fits.append(smo)
        resid.append(_running_lines(x, acvr, w, _SPANS[1], vsmlsq, cv=False)[0])
    chosen = np.empty(x.shape[0])
    for j in range(x.shape[0]):
        resmin = _BIG
        for span, r in zip(_SPANS, resid):
            if r[j] < resmin:
                resmin, chosen[j] = r[j], span
        if 0 < alpha <= 10 and 0 < resmin < resid[2][j]:
            chosen[j] += (_SPANS[2] - chosen[j]) * max(_SML, resmin / resid[2][j]) ** (10.0 - alpha)
    spans = np.clip(_running_lines(x, chosen, w, _SPANS[1], vsmlsq, cv=False)[0], _SPANS[0], _SPANS[2])
    f = spans - _SPANS[1]
    low = f < 0
    blend = np.where(low, -f / (_SPANS[1] - _SPANS[0]), f / (_SPANS[2] - _SPANS[1]))
    mixed = np.where(low, (1 - blend) * fits[1] + blend * fits[0], (1 - blend) * fits[1] + blend * fits[2])
    return _running_lines(x, mixed, w, _SPANS[0], vsmlsq, cv=False)[0]


def supsmu(x: np.ndarray, y: np.ndarray, *, bass: float = 0.0,
           weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Super smoother of ``y`` on ``x`` with automatic (cross-validated) spans, as R's ``supsmu``.

    Returns the distinct sorted abscissae and the smooth there. ``bass`` (0 to 10) favours
    larger spans; 0 leaves the choice to cross-validation.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    order = np.lexsort((y[ok], x[ok]))
    x, y, w = x[ok][order], y[ok][order], w[ok][order]
    if x[-1] <= x[0]:
        smo = np.full(x.shape, (w @ y) / w.sum() if w.sum() > 0 else 0.0)
    else:
        smo = _variable_span(x, y, w, float(bass), (_EPS * _scale(x)) ** 2)
    keep = np.r_[True, x[1:] != x[:-1]]
    return x[keep], smo[keep]
