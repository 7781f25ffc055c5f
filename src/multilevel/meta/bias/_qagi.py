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
_WK15 = np.concatenate([_WGK[:7], [_WGK[7]], _WGK[:7][::-1]])
_WG15 = np.concatenate([_WG[:7], [_WG[7]], _WG[:7][::-1]])
_OFFSETS = np.concatenate([-_XGK[:7], [0.0], _XGK[:7][::-1]])

Rule = tuple[float, float, float, float]  # result, abserr, resabs, resasc


def kronrod_batch(fold: Callable[[np.ndarray, np.ndarray], np.ndarray], owners: np.ndarray,
                  a: np.ndarray, b: np.ndarray) -> list[Rule]:
    """``qk15i`` on intervals ``(a[j], b[j])`` of (0, 1] for integrals ``owners[j]``.

    ``fold(owners, y)`` returns ``f(y) + f(-y)`` for the (m, 15) points ``y`` of each owner.
    """
    centr, hlgth = 0.5 * (a + b), 0.5 * (b - a)
    t = centr[:, None] + hlgth[:, None] * _OFFSETS[None, :]
    fv = fold(owners, (1.0 - t) / t) / t / t
    resk, resg = fv @ _WK15, fv @ _WG15
    resabs = np.abs(fv) @ _WK15
    resasc = np.abs(fv - 0.5 * resk[:, None]) @ _WK15
    result, resasc, resabs = resk * hlgth, resasc * hlgth, resabs * hlgth
    abserr = np.abs((resk - resg) * hlgth)
    with np.errstate(all="ignore"):
        scaled = resasc * np.minimum(1.0, (200 * abserr / resasc) ** 1.5)
    abserr = np.where((resasc != 0) & (abserr != 0), scaled, abserr)
    abserr = np.where(resabs > _UFLOW / (50 * _EPMACH), np.maximum(50 * _EPMACH * resabs, abserr), abserr)
    return list(zip(result.tolist(), abserr.tolist(), resabs.tolist(), resasc.tolist()))


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


def _qagie(epsabs: float, epsrel: float, limit: int) -> Generator[list, list, tuple[float, int]]:
    """One integral: yields lists of intervals to integrate, receives their Kronrod rules."""
    (result, abserr, defabs, resabs), = yield [(0.0, 1.0)]
    ier = 0
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
    extrap = noext = False
    ierro = iroff1 = iroff2 = iroff3 = 0
    ksgn = 1 if dres >= (1 - 50 * _EPMACH) * defabs else -1
    small = erlarg = ertest = correc = 0.0
    last = 1
    for last in range(2, limit + 1):
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


def qagi_many(fold: Callable[[np.ndarray, np.ndarray], np.ndarray], m: int, *, epsabs: float, epsrel: float,
              limit: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Integrals of ``m`` functions over the real line, each as QUADPACK's ``qagi`` computes it.

    ``fold(owners, y)`` gets the integral indices (length n) and points ``y`` (n, 15) and returns
    ``f(y) + f(-y)`` for each. Returns the values and QUADPACK's error codes (0 = success; the
    codes above 2 are reported one lower, as QUADPACK does).
    """
    gens = [_qagie(epsabs, epsrel, limit) for _ in range(m)]
    requests = {i: next(g) for i, g in enumerate(gens)}
    values, codes = np.zeros(m), np.zeros(m, dtype=int)
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
                value, ier = stop.value
                values[i], codes[i] = value, ier - 1 if ier > 2 else ier
        requests = nxt
    return values, codes
