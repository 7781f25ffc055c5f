r"""QUADPACK's ``qagi`` (Piessens et al., 1983) for many integrals over the real line at once.

R's ``integrate(f, -Inf, Inf)`` maps the real line onto (0, 1] by :math:`y = (1 - t)/t` (folding
:math:`\pm y`), applies the 15-point Gauss-Kronrod rule, and bisects the interval with the
largest error estimate until the summed error is below ``max(epsabs, epsrel |I|)``, accelerating
the sequence of partial results with Wynn's epsilon algorithm once the bisection reaches small
intervals. Each integral here runs that algorithm as a generator that asks for Kronrod rules on
intervals; the driver evaluates the pending rules of all integrals in one vectorised call, so
the results are those of the scalar algorithm (and of R) while the integrand is evaluated in
batches.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np

from ._selquad import continue_many

__all__ = ["qagi_many"]

_EPMACH = np.finfo(float).eps
_UFLOW = np.finfo(float).tiny
_OFLOW = np.finfo(float).max

_XGK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                 0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                 0.586087235467691130294144838258730, 0.405845151377397166906606412076961,
                 0.207784955007898467600689403773245, 0.0])
_WGK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                 0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                 0.204432940075298892414161999234649, 0.209482141084727828012999174891714])
_WG = np.array([0.0, 0.129484966168869693270611432679082, 0.0, 0.279705391489276667901467771423780,
                0.0, 0.381830050505118944950369775488975, 0.0, 0.417959183673469387755102040816327])
_OFFSETS = np.concatenate([-_XGK[:7], [0.0], _XGK[:7][::-1]])

Rule = tuple[float, float, float, float]  # result, abserr, resabs, resasc


def kronrod_arrays(fold: Callable[[np.ndarray, np.ndarray], np.ndarray], owners: np.ndarray,
                   a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``qk15i`` on intervals ``(a[j], b[j])`` of (0, 1] for integrals ``owners[j]``.

    ``fold(owners, y)`` returns ``f(y) + f(-y)`` for the (m, 15) points ``y`` of each owner; a
    fold with a method ``at_intervals(owners, a, b, y)`` is called through it instead, so that it
    can share work between rows on the same interval. Returns the arrays (result, abserr, resabs, resasc).
    """
    centr, hlgth = 0.5 * (a + b), 0.5 * (b - a)
    t = centr[:, None] + hlgth[:, None] * _OFFSETS[None, :]
    y = (1.0 - t) / t
    at_intervals = getattr(fold, "at_intervals", None)
    fv = (fold(owners, y) if at_intervals is None else at_intervals(owners, a, b, y)) / t / t
    # qk15i's sums, in its order (so that a rule does not depend on the other rows of the batch)
    fc = fv[:, 7]
    resg, resk = _WG[7] * fc, _WGK[7] * fc
    resabs = np.abs(resk)
    for j in range(7):
        f1, f2 = fv[:, j], fv[:, 14 - j]
        fsum = f1 + f2
        resg = resg + _WG[j] * fsum
        resk = resk + _WGK[j] * fsum
        resabs = resabs + _WGK[j] * (np.abs(f1) + np.abs(f2))
    reskh = resk * 0.5
    resasc = _WGK[7] * np.abs(fc - reskh)
    for j in range(7):
        resasc = resasc + _WGK[j] * (np.abs(fv[:, j] - reskh) + np.abs(fv[:, 14 - j] - reskh))
    result, resasc, resabs = resk * hlgth, resasc * hlgth, resabs * hlgth
    abserr = np.abs((resk - resg) * hlgth)
    with np.errstate(all="ignore"):
        scaled = resasc * np.minimum(1.0, (200 * abserr / resasc) ** 1.5)
    abserr = np.where((resasc != 0) & (abserr != 0), scaled, abserr)
    abserr = np.where(resabs > _UFLOW / (50 * _EPMACH), np.maximum(50 * _EPMACH * resabs, abserr), abserr)
    return result, abserr, resabs, resasc


def kronrod_batch(fold: Callable[[np.ndarray, np.ndarray], np.ndarray], owners: np.ndarray,
                  a: np.ndarray, b: np.ndarray) -> list[Rule]:
    """:func:`kronrod_arrays` as a list of (result, abserr, resabs, resasc) tuples."""
    return list(zip(*(arr.tolist() for arr in kronrod_arrays(fold, owners, a, b))))


class _Epsilon:
    """Wynn's epsilon table of QUADPACK's ``qelg`` (1-based storage as the original)."""

    def __init__(self) -> None:
        self.tab = [0.0] * 53
        self.res3la = [0.0] * 4
        self.nres = 0

    def extrapolate(self, n: int) -> tuple[int, float, float]:
        e = self.tab
        self.nres += 1
        abserr, result = _OFLOW, e[n]
        if n < 3:
            return n, result, max(abserr, 5 * _EPMACH * abs(result))
        e[n + 2] = e[n]
        newelm = (n - 1) // 2
        e[n] = _OFLOW
        num = k1 = n
        for i in range(1, newelm + 1):
            k2, k3 = k1 - 1, k1 - 2
            res = e[k1 + 2]
            e0, e1, e2 = e[k3], e[k2], res
            e1abs, delta2, delta3 = abs(e1), e2 - e1, e1 - e0
            err2, err3 = abs(delta2), abs(delta3)
            tol2, tol3 = max(abs(e2), e1abs) * _EPMACH, max(e1abs, abs(e0)) * _EPMACH
            if err2 <= tol2 and err3 <= tol3:
                return n, res, max(err2 + err3, 5 * _EPMACH * abs(res))
            e3 = e[k1]
            e[k1] = e1
            delta1 = e1 - e3
            err1, tol1 = abs(delta1), max(e1abs, abs(e3)) * _EPMACH
            if err1 <= tol1 or err2 <= tol2 or err3 <= tol3:
                n = i + i - 1
                break
            ss = 1 / delta1 + 1 / delta2 - 1 / delta3
            if abs(ss * e1) <= 1e-4:
                n = i + i - 1
                break
            res = e1 + 1 / ss
            e[k1] = res
            k1 -= 2
            error = err2 + abs(res - e2) + err3
            if error <= abserr:
                abserr, result = error, res
        if n == 50:
            n = 2 * (50 // 2) - 1
        ib = 2 if num % 2 == 0 else 1
        for _ in range(newelm + 1):
            e[ib] = e[ib + 2]
            ib += 2
        if num != n:
            indx = num - n + 1
            for i in range(1, n + 1):
                e[i] = e[indx]
                indx += 1
        if self.nres < 4:
            self.res3la[self.nres] = result
            abserr = _OFLOW
        else:
            r = self.res3la
            abserr = abs(result - r[3]) + abs(result - r[2]) + abs(result - r[1])
            r[1], r[2], r[3] = r[2], r[3], result
        return n, result, max(abserr, 5 * _EPMACH * abs(result))


def _sort(limit: int, last: int, maxerr: int, elist: list, iord: list, nrmax: int) -> tuple[int, float, int]:
    """QUADPACK's ``qpsrt``: keep ``iord`` ordering the error estimates; return (maxerr, errmax, nrmax)."""
    if last <= 2:
        iord[1], iord[2] = 1, 2
    else:
        errmax = elist[maxerr]
        if nrmax != 1:
            for _ in range(nrmax - 1):
                isucc = iord[nrmax - 1]
                if errmax <= elist[isucc]:
                    break
                iord[nrmax] = isucc
                nrmax -= 1
        jupbn = limit + 3 - last if last > limit // 2 + 2 else last
        errmin = elist[last]
        jbnd, ibeg = jupbn - 1, nrmax + 1
        inserted = False
        for i in range(ibeg, jbnd + 1):
            isucc = iord[i]
            if errmax >= elist[isucc]:
                iord[i - 1] = maxerr
                k = jbnd
                placed = False
                for _ in range(i, jbnd + 1):
                    isucc = iord[k]
                    if errmin < elist[isucc]:
                        iord[k + 1] = last
                        placed = True
                        break
                    iord[k + 1] = isucc
                    k -= 1
                if not placed:
                    iord[i] = last
                inserted = True
                break
            iord[i - 1] = isucc
        if not inserted:
            iord[jbnd] = maxerr
            iord[jupbn] = last
    maxerr = iord[nrmax]
    return maxerr, elist[maxerr], nrmax


# the locals of _qagie after the convergence test of iteration ``last`` (where a resumed integral continues)
_RESUME = ("last", "alist", "blist", "rlist", "elist", "iord", "eps", "result", "defabs", "ksgn", "errmax", "maxerr",
           "area", "errsum", "abserr", "nrmax", "ktmin", "numrl2", "iroff1", "iroff2", "iroff3", "ierro", "ier",
           "small", "erlarg", "ertest", "erlast", "a1", "b1", "erro12", "extrap", "noext", "correc")


def _qagie(epsabs: float, epsrel: float, limit: int, resume: dict | None = None
           ) -> Generator[list, list, tuple[float, int]]:
    """One integral: yields lists of intervals to integrate, receives their Kronrod rules.

    ``resume`` (the values of :data:`_RESUME` by name) continues an integral whose first
    iterations were done elsewhere, from just after the convergence test of iteration ``last``.
    """
    if resume is None:
        ier, ierro, iroff2, iroff3, correc = 0, 0, 0, 0, 0.0
        extrap = noext = False
        (result, abserr, defabs, resabs), = yield [(0.0, 1.0)]
        alist, blist, rlist, elist = [0.0] * (limit + 1), [0.0] * (limit + 1), [0.0] * (limit + 1), [0.0] * (limit + 1)
        iord = [0] * (limit + 1)
        alist[1], blist[1], rlist[1], elist[1], iord[1] = 0.0, 1.0, result, abserr, 1
        dres = abs(result)
        errbnd = max(epsabs, epsrel * dres)
        if abserr <= 100 * _EPMACH * defabs and abserr > errbnd:
            ier = 2
        if limit == 1:
            ier = 1
        if ier != 0 or (abserr <= errbnd and abserr != resabs) or abserr == 0:
            return result, ier
        eps = _Epsilon()
        eps.tab[1] = result
        errmax, maxerr, area, errsum = abserr, 1, result, abserr
        abserr, nrmax, ktmin, numrl2 = _OFLOW, 1, 0, 2
        iroff1 = 0
        ksgn = 1 if dres >= (1 - 50 * _EPMACH) * defabs else -1
        small = erlarg = ertest = 0.0
        first = last = 2
    else:
        (last, alist, blist, rlist, elist, iord, eps, result, defabs, ksgn, errmax, maxerr, area, errsum, abserr,
         nrmax, ktmin, numrl2, iroff1, iroff2, iroff3, ierro, ier, small, erlarg, ertest, erlast, a1, b1, erro12,
         extrap, noext, correc) = (resume[name] for name in _RESUME)
        first = last
    for last in range(first, limit + 1):
        if resume is None or last > first:
            a1, b1 = alist[maxerr], 0.5 * (alist[maxerr] + blist[maxerr])
            a2, b2 = b1, blist[maxerr]
            erlast = errmax
            (area1, error1, _, defab1), (area2, error2, _, defab2) = yield [(a1, b1), (a2, b2)]
            area12, erro12 = area1 + area2, error1 + error2
            errsum = errsum + erro12 - errmax
            area = area + area12 - rlist[maxerr]
            if not (defab1 == error1 or defab2 == error2):
                if not (abs(rlist[maxerr] - area12) > 1e-5 * abs(area12) or erro12 < 0.99 * errmax):
                    if extrap:
                        iroff2 += 1
                    else:
                        iroff1 += 1
                if last > 10 and erro12 > errmax:
                    iroff3 += 1
            rlist[maxerr], rlist[last] = area1, area2
            errbnd = max(epsabs, epsrel * abs(area))
            if iroff1 + iroff2 >= 10 or iroff3 >= 20:
                ier = 2
            if iroff2 >= 5:
                ierro = 3
            if last == limit:
                ier = 1
            if max(abs(a1), abs(b2)) <= (1 + 100 * _EPMACH) * (abs(a2) + 1000 * _UFLOW):
                ier = 4
            if error2 > error1:
                alist[maxerr], alist[last], blist[last] = a2, a1, b1
                rlist[maxerr], rlist[last] = area2, area1
                elist[maxerr], elist[last] = error2, error1
            else:
                alist[last], blist[maxerr], blist[last] = a2, b1, b2
                elist[maxerr], elist[last] = error1, error2
            maxerr, errmax, nrmax = _sort(limit, last, maxerr, elist, iord, nrmax)
            if errsum <= errbnd:
                return sum(rlist[1:last + 1]), ier
            if ier != 0:
                break
        if last == 2:
            small, erlarg, ertest = 0.375, errsum, errbnd
            eps.tab[2] = area
            continue
        if noext:
            continue
        erlarg -= erlast
        if abs(b1 - a1) > small:
            erlarg += erro12
        if not extrap:
            if abs(blist[maxerr] - alist[maxerr]) > small:
                continue
            extrap, nrmax = True, 2
        if ierro != 3 and erlarg > ertest:
            jupbnd = limit + 3 - last if last > 2 + limit // 2 else last
            go_on = False
            for _ in range(nrmax, jupbnd + 1):
                maxerr = iord[nrmax]
                errmax = elist[maxerr]
                if abs(blist[maxerr] - alist[maxerr]) > small:
                    go_on = True
                    break
                nrmax += 1
            if go_on:
                continue
        numrl2 += 1
        eps.tab[numrl2] = area
        numrl2, reseps, abseps = eps.extrapolate(numrl2)
        ktmin += 1
        if ktmin > 5 and abserr < 1e-3 * errsum:
            ier = 5
        if abseps < abserr:
            ktmin, abserr, result, correc = 0, abseps, reseps, erlarg
            ertest = max(epsabs, epsrel * abs(reseps))
            if abserr <= ertest:
                break
        if numrl2 == 1:
            noext = True
        if ier == 5:
            break
        maxerr, errmax, nrmax = iord[1], elist[iord[1]], 1
        extrap = False
        small *= 0.5
        erlarg = errsum
    return _finish(result, abserr, area, errsum, rlist, last, ier, ierro, correc, ksgn, defabs)


def _finish(result, abserr, area, errsum, rlist, last, ier, ierro, correc, ksgn, defabs) -> tuple[float, int]:
    total = sum(rlist[1:last + 1])
    if abserr == _OFLOW:
        return total, ier
    if ier + ierro != 0:
        if ierro == 3:
            abserr += correc
        if ier == 0:
            ier = 3
        if result != 0 and area != 0:
            if abserr / abs(result) > errsum / abs(area):
                return total, ier
        elif abserr > errsum:
            return total, ier
        elif area == 0:
            return result, ier
    if ksgn == -1 and max(abs(result), abs(area)) <= defabs * 0.01:
        return result, ier
    if 0.01 > result / area or result / area > 100 or errsum > abs(area):
        ier = 6
    return result, ier


def _bisect(fold, owners: np.ndarray, a1: np.ndarray, b1: np.ndarray, b2: np.ndarray, st: dict) -> tuple:
    """One vectorised iteration of ``qagie`` up to the sort, for integrals whose largest error
    sits in the interval (a1, b2), stored at position 1; returns the two halves' rules."""
    n = owners.size
    res, err, _, defab = kronrod_arrays(fold, np.concatenate([owners, owners]), np.concatenate([a1, b1]),
                                        np.concatenate([b1, b2]))
    area1, area2, error1, error2 = res[:n], res[n:], err[:n], err[n:]
    area12, erro12 = area1 + area2, error1 + error2
    st["errsum"] = st["errsum"] + erro12 - st["errmax"]
    st["area"] = st["area"] + area12 - st["r1"]
    roundoff = ~((defab[:n] == error1) | (defab[n:] == error2))
    roundoff &= ~((np.abs(st["r1"] - area12) > 1e-5 * np.abs(area12)) | (erro12 < 0.99 * st["errmax"]))
    st["iroff1"] = st["iroff1"] + roundoff
    st["erlast"], st["erro12"] = st["errmax"], erro12
    swap = error2 > error1
    # (the halves of intervals of length 1/2 or more never trigger qagie's roundoff stop, ier = 4)
    return swap, np.where(swap, area2, area1), np.where(swap, area1, area2), np.where(swap, error2, error1), \
        np.where(swap, error1, error2)


def _select(st: dict, keep: np.ndarray) -> dict:
    return {key: value[keep] for key, value in st.items()}


def _first_iterations(fold, m: int, epsabs: float, epsrel: float, values: np.ndarray, codes: np.ndarray
                      ) -> tuple[np.ndarray, dict]:
    """``qagie``'s first rule and its first two bisections for all ``m`` integrals at once.

    Fills ``values`` and ``codes`` of the integrals that converge; returns the others and
    their state after the convergence test of the second bisection (iteration ``last = 3``).
    """
    owners = np.arange(m)
    result, abserr, defabs, resabs = kronrod_arrays(fold, owners, np.zeros(m), np.ones(m))
    dres = np.abs(result)
    errbnd = np.maximum(epsabs, epsrel * dres)
    ier = np.where((abserr <= 100 * _EPMACH * defabs) & (abserr > errbnd), 2, 0)
    done = (ier != 0) | ((abserr <= errbnd) & (abserr != resabs)) | (abserr == 0)
    values[done], codes[done] = result[done], ier[done]
    live = ~done
    st = {"owner": owners[live], "result": result[live], "defabs": defabs[live], "errmax": abserr[live],
          "errsum": abserr[live], "area": result[live], "r1": result[live], "iroff1": np.zeros(live.sum(), int)}
    st["ksgn"] = np.where(dres[live] >= (1 - 50 * _EPMACH) * st["defabs"], 1, -1)
    n = st["owner"].size
    if n == 0:
        return np.zeros(0, bool), st
    # last = 2: bisect (0, 1)
    half = np.full(n, 0.5)
    swap, r1, r2, e1, e2 = _bisect(fold, st["owner"], np.zeros(n), half, np.ones(n), st)
    errbnd = np.maximum(epsabs, epsrel * np.abs(st["area"]))
    st.update(a1=np.where(swap, 0.5, 0.0), b1=np.where(swap, 1.0, 0.5), a2=np.where(swap, 0.0, 0.5),
              b2=np.where(swap, 0.5, 1.0), r1=r1, r2=r2, e1=e1, e2=e2, errmax=e1)
    # (owner, result, defabs, ksgn, iroff1 and the rest are all arrays of length n here)
    done = st["errsum"] <= errbnd
    values[st["owner"][done]] = st["r1"][done] + st["r2"][done]
    st["erlarg"], st["ertest"], st["tab2"] = st["errsum"], errbnd, st["area"]  # and small = 0.375
    st = _select(st, ~done)
    if st["owner"].size == 0:
        return np.zeros(0, bool), st
    # last = 3: bisect interval 1, the one with the larger error
    lo, hi = st["a1"], st["b1"]
    mid = 0.5 * (lo + hi)
    swap, r1, r3, e1, e3 = _bisect(fold, st["owner"], lo, mid, hi, st)
    st.update(r1=r1, r3=r3, e1=e1, e3=e3, a3=np.where(swap, lo, mid), b3=np.where(swap, mid, hi),
              a1=np.where(swap, mid, lo), b1=np.where(swap, hi, mid), bis_a1=lo, bis_b1=mid)
    errbnd = np.maximum(epsabs, epsrel * np.abs(st["area"]))
    done = st["errsum"] <= errbnd
    values[st["owner"][done]] = st["r1"][done] + st["r2"][done] + st["r3"][done]
    return ~done, st


def qagi_many(fold: Callable[[np.ndarray, np.ndarray], np.ndarray], m: int, *, epsabs: float, epsrel: float,
              limit: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Integrals of ``m`` functions over the real line, each as QUADPACK's ``qagi`` computes it.

    ``fold(owners, y)`` gets the integral indices (length n) and points ``y`` (n, 15) and returns
    ``f(y) + f(-y)`` for each. Returns the values and QUADPACK's error codes (0 = success; the
    codes above 2 are reported one lower, as QUADPACK does).

    The first rule and the first two bisections, which settle most smooth integrands, run for
    all integrals at once on arrays, and so do the further iterations (:mod:`._selquad`) up to
    ``limit / 2 + 2`` intervals; the few integrals that need more continue one by one.
    """
    values, codes = np.zeros(m), np.zeros(m, dtype=int)
    if limit < 8:
        gens = {i: _qagie(epsabs, epsrel, limit) for i in range(m)}
    else:
        open_, st = _first_iterations(fold, m, epsabs, epsrel, values, codes)
        st = _select(st, open_) if open_.size else st
        rest = continue_many(fold, kronrod_arrays, st, epsabs, epsrel, limit, values, codes) if open_.any() else []
        gens = {owner: _qagie(epsabs, epsrel, limit, _with_epsilon(state)) for owner, state in rest}
    requests = {}
    for i, gen in gens.items():
        try:
            requests[i] = next(gen)
        except StopIteration as stop:
            values[i], codes[i] = _code(stop.value)
    while requests:
        owners = np.array([i for i, reqs in requests.items() for _ in reqs])
        a = np.array([iv[0] for reqs in requests.values() for iv in reqs])
        b = np.array([iv[1] for reqs in requests.values() for iv in reqs])
        rules = kronrod_batch(fold, owners, a, b)
        pos, nxt = 0, {}
        for i, reqs in requests.items():
            answer = rules[pos:pos + len(reqs)]
            pos += len(reqs)
            try:
                nxt[i] = gens[i].send(answer)
            except StopIteration as stop:
                values[i], codes[i] = _code(stop.value)
        requests = nxt
    return values, codes


def _with_epsilon(state: dict) -> dict:
    eps = _Epsilon()
    eps.tab, eps.res3la, eps.nres = state.pop("tab"), state.pop("res3la"), state.pop("nres")
    return {**state, "eps": eps}


def _code(outcome: tuple[float, int]) -> tuple[float, int]:
    value, ier = outcome
    return value, ier - 1 if ier > 2 else ier
