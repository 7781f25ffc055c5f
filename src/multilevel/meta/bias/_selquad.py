r"""QUADPACK's ``qagi`` continued on arrays: many integrals in lockstep, one bisection per step.

:func:`._qagi.qagi_many` runs the first rule and the first two bisections of every integral on
arrays; the integrals still open (for the selection models: most integrands with a kink, such as
the beta selection function at its p-value clamps) continue here, all at once. Every
integral bisects one interval per iteration of ``qagie``, so the open integrals share the
iteration number ``last`` and each step is the scalar algorithm applied row by row:

* the bookkeeping of the bisection (error sums, the roundoff counters, the error flags);
* ``qpsrt``, which keeps the intervals ordered by decreasing error estimate: while ``last``
  is at most ``limit / 2 + 2`` the list is complete, and the new positions of the two halves
  are found by comparisons on arrays (with ``qpsrt``'s placing of ties);
* the extrapolation phase and Wynn's epsilon algorithm (``qelg``), row-wise with masks.

Integrals that need more than ``limit / 2 + 2`` intervals (where ``qpsrt`` keeps a truncated
list) are handed back to the scalar generator of :mod:`._qagi` with their full state. The
results are those of the scalar algorithm, bit for bit (tested against it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["continue_many"]

_EPMACH = np.finfo(float).eps
_UFLOW = np.finfo(float).tiny
_OFLOW = np.finfo(float).max

Fold = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _rows(m: int) -> np.ndarray:
    return np.arange(m)


class _Batch:
    """The locals of ``qagie`` for ``n`` integrals (interval lists as (n, width) matrices, 1-based)."""

    MATRICES = ("A", "B", "R", "E", "IORD", "TAB", "RES3LA")

    def __init__(self, st: dict, width: int):
        n = st["owner"].size
        self.width = width  # columns the interval lists need at the hand-over (limit // 2 + 3)
        L = min(8, width)   # the lists and the epsilon table grow with ``last`` (see ``widen``)
        self.owner = st["owner"]
        self.A, self.B, self.R, self.E = (np.zeros((n, L)) for _ in range(4))
        for col, suffix in enumerate("123", start=1):
            self.A[:, col], self.B[:, col] = st["a" + suffix], st["b" + suffix]
            self.R[:, col], self.E[:, col] = st["r" + suffix], st["e" + suffix]
        e1, e2, e3 = st["e1"], st["e2"], st["e3"]
        self.IORD = np.zeros((n, L), dtype=int)
        first = e1 >= e2
        self.IORD[:, 1] = np.where(first, 1, 2)
        self.IORD[:, 2] = np.where(first, np.where(e3 < e2, 2, 3), 1)
        self.IORD[:, 3] = np.where(first, np.where(e3 < e2, 3, 2), 3)
        self.TAB = np.zeros((n, 8))
        self.TAB[:, 1], self.TAB[:, 2] = st["result"], st["tab2"]
        self.RES3LA = np.zeros((n, 4))
        self.nres = np.zeros(n, dtype=int)
        r = _rows(n)
        self.maxerr = self.IORD[:, 1].copy()
        self.errmax = self.E[r, self.maxerr]
        self.result, self.defabs, self.ksgn = st["result"].copy(), st["defabs"].copy(), st["ksgn"].copy()
        self.area, self.errsum = st["area"].copy(), st["errsum"].copy()
        self.abserr = np.full(n, _OFLOW)
        self.nrmax, self.ktmin, self.numrl2 = np.ones(n, int), np.zeros(n, int), np.full(n, 2)
        self.iroff1 = st["iroff1"].astype(int)
        self.iroff2, self.iroff3, self.ierro, self.ier = (np.zeros(n, int) for _ in range(4))
        self.small = np.full(n, 0.375)
        self.erlarg, self.ertest, self.erlast = st["erlarg"].copy(), st["ertest"].copy(), st["erlast"].copy()
        self.a1, self.b1, self.erro12 = st["bis_a1"].copy(), st["bis_b1"].copy(), st["erro12"].copy()
        self.extrap, self.noext = np.zeros(n, bool), np.zeros(n, bool)
        self.correc = np.zeros(n)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows outside ``mask``."""
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(self, name, value[mask])

    def widen(self, last: int) -> None:
        """Make room for iteration ``last``: intervals up to ``last`` and the epsilon table up to
        entry ``last + 2`` (at most 52). Columns past those in use are never read, so the lists are
        zero-padded as ``qagie`` initialises them."""
        for names, cap in ((("A", "B", "R", "E", "IORD"), self.width), (("TAB",), 53)):
            have = getattr(self, names[0]).shape[1]
            need = min(last + 3, cap)
            if have < need:
                cols = min(max(2 * have, need), cap)
                for name in names:
                    old = getattr(self, name)
                    setattr(self, name, np.concatenate([old, np.zeros((old.shape[0], cols - have), old.dtype)],
                                                       axis=1))

    @property
    def size(self) -> int:
        return self.owner.size


def _bisect(b: _Batch, fold: Fold, kronrod: Callable, last: int, epsabs: float, epsrel: float) -> np.ndarray:
    """Bisect the interval with the largest error of every row (iteration ``last``), up to the
    sort; returns ``errbnd``."""
    n, r, me = b.size, _rows(b.size), b.maxerr
    lo, hi = b.A[r, me], b.B[r, me]
    a1, b1 = lo, 0.5 * (lo + hi)
    a2, b2 = b1, hi
    b.erlast = b.errmax
    res, err, _, defab = kronrod(fold, np.concatenate([b.owner, b.owner]), np.concatenate([a1, a2]),
                                        np.concatenate([b1, b2]))
    area1, area2, error1, error2 = res[:n], res[n:], err[:n], err[n:]
    area12, erro12 = area1 + area2, error1 + error2
    b.errsum = b.errsum + erro12 - b.errmax
    rme = b.R[r, me]
    b.area = b.area + area12 - rme
    c0 = ~((defab[:n] == error1) | (defab[n:] == error2))
    c1 = c0 & ~((np.abs(rme - area12) > 1e-5 * np.abs(area12)) | (erro12 < 0.99 * b.errmax))
    b.iroff2 = b.iroff2 + (c1 & b.extrap)
    b.iroff1 = b.iroff1 + (c1 & ~b.extrap)
    if last > 10:
        b.iroff3 = b.iroff3 + (c0 & (erro12 > b.errmax))
    errbnd = np.maximum(epsabs, epsrel * np.abs(b.area))
    b.ier = np.where((b.iroff1 + b.iroff2 >= 10) | (b.iroff3 >= 20), 2, b.ier)
    b.ierro = np.where(b.iroff2 >= 5, 3, b.ierro)
    roundoff = np.maximum(np.abs(a1), np.abs(b2)) <= (1 + 100 * _EPMACH) * (np.abs(a2) + 1000 * _UFLOW)
    b.ier = np.where(roundoff, 4, b.ier)
    sw = error2 > error1
    b.A[r, me], b.A[:, last] = np.where(sw, a2, a1), np.where(sw, a1, a2)
    b.B[r, me], b.B[:, last] = np.where(sw, b2, b1), np.where(sw, b1, b2)
    b.R[r, me], b.R[:, last] = np.where(sw, area2, area1), np.where(sw, area1, area2)
    b.E[r, me], b.E[:, last] = np.where(sw, error2, error1), np.where(sw, error1, error2)
    b.a1, b.b1, b.erro12 = a1, b1, erro12
    _sort(b, last)
    return errbnd


def _sort(b: _Batch, last: int) -> None:
    """``qpsrt`` with a complete list (``last <= limit / 2 + 2``): place the bisected interval
    (error ``errmax``) and the new one (error ``errmin <= errmax``) in the descending list."""
    n, r = b.size, _rows(b.size)
    old = b.IORD[:, 1:last]                                     # positions 1 .. last-1
    keep = np.arange(last - 1)[None, :] != (b.nrmax - 1)[:, None]
    others = old[keep].reshape(n, last - 2)
    e_oth = b.E[r[:, None], others]
    errmax, errmin = b.E[r, b.maxerr], b.E[:, last]
    j = np.arange(last - 2)[None, :]
    # upward: past the entries above nrmax with a smaller error (stops at one >= errmax)
    block = (j < (b.nrmax - 1)[:, None]) & (e_oth >= errmax[:, None])
    p_block = np.where(block.any(axis=1), (last - 3) - np.argmax(block[:, ::-1], axis=1), -1) + 1
    up = (b.nrmax > 1) & (p_block < b.nrmax - 1)
    # downward: before the first entry below with an error <= errmax
    below = (j >= (b.nrmax - 1)[:, None]) & (errmax[:, None] >= e_oth)
    q_down = np.where(below.any(axis=1), np.argmax(below, axis=1) + 1, last - 1)
    q = np.where(up, p_block + 1, q_down)
    b.nrmax = np.where(up, q, b.nrmax)
    # the new interval: after the lowest entry below errmax's place with an error > errmin
    after = (j >= (q - 1)[:, None]) & (e_oth > errmin[:, None])
    pos_last = np.where(after.any(axis=1), (last - 3) - np.argmax(after[:, ::-1], axis=1) + 3, q + 1)
    f = np.arange(1, last + 1)[None, :]
    src = np.where(f < q[:, None], f - 1, np.where(f < pos_last[:, None], f - 2, f - 3))
    picked = np.take_along_axis(others, np.clip(src, 0, last - 3), axis=1)
    new = np.where(f == q[:, None], b.maxerr[:, None], np.where(f == pos_last[:, None], last, picked))
    b.IORD[:, 1:last + 1] = new
    b.maxerr = b.IORD[r, b.nrmax]
    b.errmax = b.E[r, b.maxerr]


def _post(b: _Batch, last: int, epsabs: float, epsrel: float) -> np.ndarray:
    """The rest of iteration ``last`` after the convergence test; returns the rows that stop."""
    n, r = b.size, _rows(b.size)
    act = ~b.noext
    er = b.erlarg - b.erlast
    er = np.where(np.abs(b.b1 - b.a1) > b.small, er + b.erro12, er)
    b.erlarg = np.where(act, er, b.erlarg)
    fresh = act & ~b.extrap
    wide = np.abs(b.B[r, b.maxerr] - b.A[r, b.maxerr]) > b.small
    act &= ~(fresh & wide)
    start = fresh & ~wide
    b.extrap = b.extrap | start
    b.nrmax = np.where(start, 2, b.nrmax)
    search = np.flatnonzero(act & (b.ierro != 3) & (b.erlarg > b.ertest))
    if search.size:
        pos = np.arange(b.IORD.shape[1])[None, :]
        ids = b.IORD[search]
        lengths = np.abs(np.take_along_axis(b.B[search], ids, 1) - np.take_along_axis(b.A[search], ids, 1))
        large = (pos >= b.nrmax[search, None]) & (pos <= last) & (lengths > b.small[search, None])
        found = large.any(axis=1)
        scanned = b.nrmax[search] <= last  # (an empty scan leaves maxerr, errmax and nrmax as they are)
        nr = np.where(found, np.argmax(large, axis=1), np.where(scanned, last + 1, b.nrmax[search]))
        b.maxerr[search] = np.where(scanned, ids[np.arange(search.size), np.minimum(nr, last)], b.maxerr[search])
        b.nrmax[search] = nr
        b.errmax[search] = b.E[search, b.maxerr[search]]
        act[search[found]] = False
    stop = np.zeros(n, bool)
    ex = np.flatnonzero(act)
    if ex.size:
        stop[ex] = _extrapolate(b, ex, epsabs, epsrel)
    return stop


def _extrapolate(b: _Batch, ex: np.ndarray, epsabs: float, epsrel: float) -> np.ndarray:
    """The epsilon-algorithm step of ``qagie`` for rows ``ex``; returns which of them stop."""
    b.numrl2[ex] += 1
    b.TAB[ex, b.numrl2[ex]] = b.area[ex]
    tab, res3la, nres = b.TAB[ex], b.RES3LA[ex], b.nres[ex]
    numrl2, reseps, abseps = _qelg(tab, res3la, nres, b.numrl2[ex].copy())
    b.TAB[ex], b.RES3LA[ex], b.nres[ex], b.numrl2[ex] = tab, res3la, nres, numrl2
    b.ktmin[ex] += 1
    ier5 = (b.ktmin[ex] > 5) & (b.abserr[ex] < 1e-3 * b.errsum[ex])
    b.ier[ex] = np.where(ier5, 5, b.ier[ex])
    better = abseps < b.abserr[ex]
    b.ktmin[ex] = np.where(better, 0, b.ktmin[ex])
    b.abserr[ex] = np.where(better, abseps, b.abserr[ex])
    b.result[ex] = np.where(better, reseps, b.result[ex])
    b.correc[ex] = np.where(better, b.erlarg[ex], b.correc[ex])
    b.ertest[ex] = np.where(better, np.maximum(epsabs, epsrel * np.abs(reseps)), b.ertest[ex])
    stop = better & (b.abserr[ex] <= b.ertest[ex])
    b.noext[ex] = b.noext[ex] | (~stop & (numrl2 == 1))
    stop |= b.ier[ex] == 5
    go = ex[~stop]
    b.maxerr[go] = b.IORD[go, 1]
    b.errmax[go] = b.E[go, b.maxerr[go]]
    b.nrmax[go] = 1
    b.extrap[go] = False
    b.small[go] *= 0.5
    b.erlarg[go] = b.errsum[go]
    return stop


def _qelg(e: np.ndarray, res3la: np.ndarray, nres: np.ndarray, n: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wynn's epsilon algorithm (``qelg``) on the rows of the tables ``e`` (1-based), in place."""
    m = n.size
    r = _rows(m)
    nres += 1
    abserr = np.full(m, _OFLOW)
    result = e[r, n].copy()
    out_err = np.full(m, np.nan)
    done = n < 3
    out_err[done] = np.maximum(_OFLOW, 5 * _EPMACH * np.abs(result[done]))
    act = np.flatnonzero(~done)
    num = n.copy()
    newelm = (n - 1) // 2
    e[act, n[act] + 2] = e[act, n[act]]
    e[act, n[act]] = _OFLOW
    k1 = n.copy()
    looping = ~done
    early = np.zeros(m, bool)
    with np.errstate(all="ignore"):
        for i in range(1, int(newelm[act].max(initial=0)) + 1):
            rows = np.flatnonzero(looping & (i <= newelm))
            if rows.size == 0:
                break
            k = k1[rows]
            res, e0, e1 = e[rows, k + 2], e[rows, k - 2], e[rows, k - 1]
            e2 = res
            e1abs, delta2, delta3 = np.abs(e1), e2 - e1, e1 - e0
            err2, err3 = np.abs(delta2), np.abs(delta3)
            tol2 = np.maximum(np.abs(e2), e1abs) * _EPMACH
            tol3 = np.maximum(e1abs, np.abs(e0)) * _EPMACH
            conv = (err2 <= tol2) & (err3 <= tol3)
            if conv.any():
                cr = rows[conv]
                result[cr] = res[conv]
                out_err[cr] = np.maximum(err2[conv] + err3[conv], 5 * _EPMACH * np.abs(res[conv]))
                early[cr] = True
                looping[cr] = False
            go = ~conv
            rows, k, e1, e2, e1abs = rows[go], k[go], e1[go], e2[go], e1abs[go]
            delta2, delta3, err2, err3 = delta2[go], delta3[go], err2[go], err3[go]
            tol2, tol3 = tol2[go], tol3[go]
            e3 = e[rows, k]
            e[rows, k] = e1
            delta1 = e1 - e3
            err1, tol1 = np.abs(delta1), np.maximum(e1abs, np.abs(e3)) * _EPMACH
            ss = 1 / delta1 + 1 / delta2 - 1 / delta3
            brk = (err1 <= tol1) | (err2 <= tol2) | (err3 <= tol3)
            brk |= ~brk & (np.abs(ss * e1) <= 1e-4)
            n[rows[brk]] = 2 * i - 1
            looping[rows[brk]] = False
            cont = ~brk
            rows, k, ss, e1, e2, err2, err3 = rows[cont], k[cont], ss[cont], e1[cont], e2[cont], err2[cont], err3[cont]
            res = e1 + 1 / ss
            e[rows, k] = res
            k1[rows] = k - 2
            error = err2 + np.abs(res - e2) + err3
            better = error <= abserr[rows]
            abserr[rows[better]] = error[better]
            result[rows[better]] = res[better]
    fin = np.flatnonzero(~done & ~early)
    if fin.size:
        _qelg_finish(e, res3la, nres, n, num, newelm, fin, result, abserr, out_err)
    return n, result, out_err


def _qelg_finish(e, res3la, nres, n, num, newelm, fin, result, abserr, out_err) -> None:
    """Shift the epsilon table and estimate the error from the last three results (``qelg``'s end)."""
    n[fin] = np.where(n[fin] == 50, 49, n[fin])
    ib = np.where(num % 2 == 0, 2, 1)
    for j in range(int(newelm[fin].max(initial=0)) + 1):
        rows = fin[j <= newelm[fin]]
        e[rows, ib[rows] + 2 * j] = e[rows, ib[rows] + 2 * j + 2]
    moved = fin[num[fin] != n[fin]]
    for i in range(1, int(n[moved].max(initial=0)) + 1):
        rows = moved[i <= n[moved]]
        e[rows, i] = e[rows, num[rows] - n[rows] + i]
    first = fin[nres[fin] < 4]
    res3la[first, nres[first]] = result[first]
    abserr[first] = _OFLOW
    later = fin[nres[fin] >= 4]
    if later.size:
        rl = res3la[later]
        abserr[later] = (np.abs(result[later] - rl[:, 3]) + np.abs(result[later] - rl[:, 2])
                         + np.abs(result[later] - rl[:, 1]))
        res3la[later, 1], res3la[later, 2], res3la[later, 3] = rl[:, 2], rl[:, 3], result[later]
    out_err[fin] = np.maximum(abserr[fin], 5 * _EPMACH * np.abs(result[fin]))


def continue_many(fold: Fold, kronrod: Callable, st: dict, epsabs: float, epsrel: float, limit: int,
                  values: np.ndarray, codes: np.ndarray) -> list[tuple[int, dict]]:
    """Continue the integrals of ``st`` (the state after the convergence test of iteration 3)
    on arrays; fill ``values`` and ``codes`` of those that finish and return the others as
    (owner, full ``qagie`` state after the convergence test of iteration ``limit // 2 + 2``;
    the epsilon table as ``tab``, ``res3la``, ``nres``). ``kronrod(fold, owners, a, b)`` gives
    the 15-point rules (result, abserr, resabs, resasc) on intervals of (0, 1]."""
    handoff = limit // 2 + 2
    b = _Batch(st, handoff + 1)
    last = 3
    while b.size:
        stop = _post(b, last, epsabs, epsrel)
        _finish_rows(b, stop, last, values, codes)
        if not b.size:
            break
        last += 1
        b.widen(last)
        errbnd = _bisect(b, fold, kronrod, last, epsabs, epsrel)
        conv = b.errsum <= errbnd
        if conv.any():
            values[b.owner[conv]] = np.cumsum(b.R[conv, 1:last + 1], axis=1)[:, -1]
            codes[b.owner[conv]] = np.where(b.ier[conv] > 2, b.ier[conv] - 1, b.ier[conv])
            b.keep(~conv)
        _finish_rows(b, b.ier != 0, last, values, codes)
        if last == handoff:
            return [(int(b.owner[j]), _state(b, j, last, limit)) for j in range(b.size)]
    return []


def _finish_rows(b: _Batch, rows: np.ndarray, last: int, values: np.ndarray, codes: np.ndarray) -> None:
    """``qagie``'s final choice between the extrapolated result and the sum of the intervals
    (label 100 onwards) for the rows that stop, then drop them."""
    if not rows.any():
        return
    j = np.flatnonzero(rows)
    result, area, errsum, ier = b.result[j], b.area[j], b.errsum[j], b.ier[j].copy()
    total = np.cumsum(b.R[j, 1:last + 1], axis=1)[:, -1]
    plain = b.abserr[j] == _OFLOW               # never extrapolated: the sum
    flagged = ~plain & (ier + b.ierro[j] != 0)
    abserr = np.where(b.ierro[j] == 3, b.abserr[j] + b.correc[j], b.abserr[j])
    ier = np.where(flagged & (ier == 0), 3, ier)
    with np.errstate(all="ignore"):
        both = (result != 0) & (area != 0)
        take_sum = flagged & np.where(both, abserr / np.abs(result) > errsum / np.abs(area), abserr > errsum)
        take_res = flagged & ~both & ~(abserr > errsum) & (area == 0)
        small = ~plain & ~take_sum & ~take_res & (b.ksgn[j] == -1) & (
            np.maximum(np.abs(result), np.abs(area)) <= b.defabs[j] * 0.01)
        rest = ~plain & ~take_sum & ~take_res & ~small
        ratio = result / area
        ier = np.where(rest & ((0.01 > ratio) | (ratio > 100) | (errsum > np.abs(area))), 6, ier)
    values[b.owner[j]] = np.where(plain | take_sum, total, result)
    codes[b.owner[j]] = np.where(ier > 2, ier - 1, ier)
    b.keep(~rows)


def _state(b: _Batch, j: int, last: int, limit: int) -> dict:
    """Row ``j`` as the locals of the scalar ``qagie`` (see ``._qagi._RESUME``)."""
    pad = limit + 1 - b.A.shape[1]
    out = {"last": last, "alist": b.A[j].tolist() + [0.0] * pad, "blist": b.B[j].tolist() + [0.0] * pad,
           "rlist": b.R[j].tolist() + [0.0] * pad, "elist": b.E[j].tolist() + [0.0] * pad,
           "iord": b.IORD[j].tolist() + [0] * pad, "tab": b.TAB[j].tolist() + [0.0] * (53 - b.TAB.shape[1]),
           "res3la": b.RES3LA[j].tolist(),
           "nres": int(b.nres[j])}
    for name in ("result", "defabs", "errmax", "area", "errsum", "abserr", "small", "erlarg", "ertest", "erlast",
                 "a1", "b1", "erro12", "correc"):
        out[name] = float(getattr(b, name)[j])
    for name in ("ksgn", "maxerr", "nrmax", "ktmin", "numrl2", "iroff1", "iroff2", "iroff3", "ierro", "ier"):
        out[name] = int(getattr(b, name)[j])
    out["extrap"], out["noext"] = bool(b.extrap[j]), bool(b.noext[j])
    return out
