r"""R's optimizers where a metafor result depends on where they stop (arrays in, arrays out).

metafor's ``selmodel`` maximises its likelihood with ``optim(method = "BFGS")`` at R's default
tolerance (``reltol = sqrt(eps)``) and a finite-difference gradient, and takes standard errors
from ``numDeriv::hessian`` (Richardson extrapolation). Both stop short of the exact optimum by
more than the 1e-4 agreement the library promises (on ``dat.hackshaw1998`` the power selection
model's intercept moves by 0.3% between ``reltol = 1.5e-8`` and ``1e-14``), so the same
algorithms are used here, each written from its published description:

* :func:`r_bfgs` -- the variable-metric method of Nash (1990, *Compact Numerical Methods*,
  Algorithm 21) as R's ``optim`` runs it: an inverse-Hessian approximation reset to the
  identity when the update would lose positive definiteness or after ``2n`` gradient
  evaluations without a reset, a backtracking line search from step 1 (Armijo constant 1e-4,
  reduction 0.2), and the stop when the objective changes by at most
  ``reltol * (|f| + reltol)``; the gradient is the central difference with step ``ndeps``.
  Where the objective can evaluate several points at once, the line search tries its next
  step lengths together and takes them in order, so the path is the same.
* :func:`richardson_hessian` -- the Hessian of Linfield & Penny (2012, ``numDeriv``): central
  second differences at steps ``h = d |x|`` (``eps`` where ``|x|`` is below ``zero_tol``),
  halved ``r`` times and combined by Richardson extrapolation; the mixed derivatives come
  from the diagonal ones and the second difference along ``e_i + e_j``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

__all__ = ["r_bfgs", "bfgs_steps", "BfgsResult", "central_gradient", "gradient_points", "hessian_points",
           "richardson_hessian"]

_EPS = np.finfo(float).eps
_ACCTOL = 1e-4
_STEPREDN = 0.2
_RELTEST = 10.0


@dataclass(frozen=True)
class BfgsResult:
    """Where :func:`r_bfgs` stopped: parameters, objective, whether it converged, counts."""

    par: np.ndarray
    value: float
    converged: bool
    fn_count: int
    gr_count: int


ManyFn = Callable[[np.ndarray], np.ndarray]  # rows of parameters -> values (the same as fn row by row)


def central_gradient(fn: Callable[[np.ndarray], float], x: np.ndarray, ndeps: float = 1e-3,
                     fn_many: ManyFn | None = None) -> np.ndarray:
    """``optim``'s numerical gradient: ``(f(x + h e_i) - f(x - h e_i)) / (2 h)``, ``h = ndeps``.

    With ``fn_many`` the ``2n`` points are evaluated in one call.
    """
    if fn_many is not None:
        vals = fn_many(gradient_points(x, ndeps))
        g = (vals[: x.size] - vals[x.size:]) / (2 * ndeps)
        bad = np.flatnonzero(~np.isfinite(g))
        if bad.size:
            raise FloatingPointError(f"non-finite finite-difference value [{bad[0] + 1}]")
        return g
    g = np.empty(x.size)
    for i in range(x.size):
        xp = x.copy()
        xp[i] = x[i] + ndeps
        up = fn(xp)
        xp[i] = x[i] - ndeps
        down = fn(xp)
        g[i] = (up - down) / (2 * ndeps)
        if not math.isfinite(g[i]):
            raise FloatingPointError(f"non-finite finite-difference value [{i + 1}]")
    return g


def gradient_points(x: np.ndarray, ndeps: float) -> np.ndarray:
    """The ``2n`` points of :func:`central_gradient` at ``x``: ``x + h e_i``, then ``x - h e_i``."""
    steps = np.eye(x.size) * ndeps
    return np.vstack([x + steps, x - steps])


def _direction(B: np.ndarray, g: np.ndarray) -> np.ndarray:
    return -(B @ g)


def _update(B: np.ndarray, t: np.ndarray, c: np.ndarray) -> bool:
    """BFGS update of the inverse Hessian ``B`` in place; False when ``t'c <= 0`` (reset instead)."""
    d1 = float(t @ c)
    if d1 <= 0:
        return False
    bc = B @ c
    d2 = 1.0 + float(bc @ c) / d1
    B += (d2 * np.outer(t, t) - np.outer(bc, t) - np.outer(t, bc)) / d1
    return True


TrialFn = Callable[[np.ndarray], list]  # rows of parameters -> per row its value or the exception fn would raise


def r_bfgs(fn: Callable[[np.ndarray], float], x0: np.ndarray, *, maxit: int = 100,
           reltol: float = math.sqrt(_EPS), abstol: float = -math.inf, ndeps: float = 1e-3,
           gr: Callable[[np.ndarray], np.ndarray] | None = None, fn_many: ManyFn | None = None,
           fn_trial: TrialFn | None = None) -> BfgsResult:
    """Minimise ``fn`` from ``x0`` as R's ``optim(method = "BFGS")`` with its default controls.

    With ``fn_trial`` the backtracking line search evaluates its next step lengths (1, 0.2, 0.04,
    ...) several at a time, as many as the previous search needed plus one, and then takes them
    in order exactly as one at a time: the first acceptable point wins, the values of the later
    ones are dropped, and an error is raised only if the search reaches the point that fails.
    When the previous search took its first step, the points of the gradient at the first step
    length are evaluated in the same call (``fn_trial`` is expected to remember values, so that
    the gradient then finds them). :func:`bfgs_steps` is the same algorithm as a generator of
    evaluation requests, for running several minimisations side by side.

    Examples
    --------
    >>> res = r_bfgs(lambda x: (x[0] - 1) ** 2 + 10 * (x[1] + 2) ** 2, np.zeros(2))
    >>> np.round(res.par, 6).tolist(), res.converged
    ([1.0, -2.0], True)
    """
    steps = bfgs_steps(x0, maxit=maxit, reltol=reltol, abstol=abstol, ndeps=ndeps, analytic=gr is not None,
                       batched=fn_many is not None, trials=fn_trial is not None)
    answer = None
    while True:
        try:
            kind, points = steps.send(answer)
        except StopIteration as stop:
            return stop.value
        if kind == "one":
            answer = float(fn(points))
        elif kind == "grad":
            answer = gr(points)
        elif kind == "many":
            answer = fn_many(points)
        else:
            answer = fn_trial(points)


Request = tuple[str, np.ndarray]  # ("one", x) -> fn(x); ("grad", x) -> gr(x); ("many" | "trial", rows)


def bfgs_steps(x0: np.ndarray, *, maxit: int = 100, reltol: float = math.sqrt(_EPS), abstol: float = -math.inf,
               ndeps: float = 1e-3, analytic: bool = False, batched: bool = False, trials: bool = False
               ) -> Generator[Request, object, BfgsResult]:
    """:func:`r_bfgs` as a generator: it yields what it needs evaluated and receives the answer
    (a value, the gradient, the values of rows, or per row a value or the exception that
    ``fn`` raises there); an error is thrown into it where ``fn`` would raise."""
    b = np.array(x0, dtype=float)
    n = b.size
    f = float((yield "one", b))
    if not math.isfinite(f):
        raise FloatingPointError("initial value in 'vmmin' is not finite")
    fmin, funcount, gradcount, it = f, 1, 1, 1
    g = yield from _gradient(b, ndeps, analytic, batched)
    ilast = gradcount
    B = np.eye(n)
    batch = 2
    while True:
        if ilast == gradcount:
            B = np.eye(n)
        X, c = b.copy(), g.copy()
        t = _direction(B, g)
        gradproj = float(t @ g)
        if gradproj < 0.0:
            stencil = ndeps if not analytic and batch == 2 else None
            search = _LineSearch(trials, X, t, fmin, gradproj, batch, f, stencil)
            b, f, steplength, count, used = yield from search.run()
            funcount += used
            batch = min(used + 1, 8)
            enough = f > abstol and abs(f - fmin) > reltol * (abs(fmin) + reltol)
            if not enough:
                count, fmin = n, f
            if count < n:
                fmin = f
                g = yield from _gradient(b, ndeps, analytic, batched)
                gradcount += 1
                it += 1
                if not _update(B, steplength * t, g - c):
                    ilast = gradcount
            elif ilast < gradcount:
                count, ilast = 0, gradcount
        else:
            count = n if ilast == gradcount else 0
            ilast = gradcount
        if it >= maxit:
            break
        if gradcount - ilast > 2 * n:
            ilast = gradcount
        if count == n and ilast == gradcount:
            break
    return BfgsResult(b, fmin, it < maxit, funcount, gradcount)


def _gradient(x: np.ndarray, ndeps: float, analytic: bool, batched: bool) -> Generator[Request, object, np.ndarray]:
    """:func:`central_gradient` (or the analytic gradient) through requests."""
    if analytic:
        return np.asarray((yield "grad", x), dtype=float)
    if batched:
        vals = np.asarray((yield "many", gradient_points(x, ndeps)), dtype=float)
        g = (vals[: x.size] - vals[x.size:]) / (2 * ndeps)
        bad = np.flatnonzero(~np.isfinite(g))
        if bad.size:
            raise FloatingPointError(f"non-finite finite-difference value [{bad[0] + 1}]")
        return g
    g = np.empty(x.size)
    for i in range(x.size):
        xp = x.copy()
        xp[i] = x[i] + ndeps
        up = float((yield "one", xp.copy()))
        xp[i] = x[i] - ndeps
        down = float((yield "one", xp.copy()))
        g[i] = (up - down) / (2 * ndeps)
        if not math.isfinite(g[i]):
            raise FloatingPointError(f"non-finite finite-difference value [{i + 1}]")
    return g


class _LineSearch:
    """``vmmin``'s backtracking search along ``t`` from ``X``: step lengths 1, 0.2, 0.04, ... until
    the Armijo condition holds or the step no longer changes ``X`` (``count == n``)."""

    def __init__(self, trials: bool, X: np.ndarray, t: np.ndarray, fmin: float, gradproj: float, batch: int,
                 f: float, stencil: float | None = None):
        self.trials, self.X, self.t = trials, X, t
        self.fmin, self.gradproj, self.batch, self.f = fmin, gradproj, batch, f
        self.stencil = stencil  # ndeps of the gradient points to evaluate along with the first step

    def _candidates(self, steplength: float) -> tuple[list, list, list]:
        """The next step lengths (up to ``batch`` that change ``X``), their points and counts."""
        X, n = self.X, self.X.size
        steps, points, counts = [], [], []
        while len(steps) < self.batch:
            b = X + steplength * self.t
            count = int(np.sum(_RELTEST + X == _RELTEST + b))
            steps.append(steplength)
            points.append(b)
            counts.append(count)
            if count == n:
                break
            steplength *= _STEPREDN
        return steps, points, counts

    def run(self) -> Generator[Request, object, tuple[np.ndarray, float, float, int, int]]:
        """(point, its value, step length, count, evaluations) where the search stops; the value
        is that of the last point evaluated (the one before the search if none), as in ``vmmin``."""
        n, f, used, steplength = self.X.size, self.f, 0, 1.0
        while True:
            steps, points, counts = self._candidates(steplength)
            todo = [j for j, count in enumerate(counts) if count < n]
            if self.trials and len(todo) > 1:
                rows = [points[j] for j in todo]
                if self.stencil is not None and steplength == 1.0:
                    rows.append(gradient_points(points[0], self.stencil))
                outcomes = yield "trial", np.vstack(rows)
            else:
                outcomes = [None] * len(todo)
            for j, (steplength, b, count) in enumerate(zip(steps, points, counts)):
                if count == n:
                    return b, f, steplength, count, used
                value = outcomes[j]
                if isinstance(value, Exception):
                    raise value
                f = float((yield "one", b)) if value is None else value
                used += 1
                if math.isfinite(f) and f <= self.fmin + self.gradproj * steplength * _ACCTOL:
                    return b, f, steplength, count, used
            steplength = steps[-1] * _STEPREDN


def richardson_hessian(fn: Callable[[np.ndarray], float], x: np.ndarray, *, d: float = 0.1, eps: float = 1e-4,
                       r: int = 4, zero_tol: float = math.sqrt(_EPS / 7e-7), fn_many: ManyFn | None = None
                       ) -> np.ndarray:
    """Hessian of ``fn`` at ``x`` as ``numDeriv::hessian(method = "Richardson")`` (``v = 2``).

    The step sizes do not depend on the function values, so with ``fn_many`` every point is
    evaluated in one call.

    Examples
    --------
    >>> H = richardson_hessian(lambda x: x[0] ** 2 * x[1] + np.exp(x[1]), np.array([1.0, 0.5]), r=6)
    >>> np.round(H, 6).tolist()
    [[1.0, 2.0], [2.0, 1.648721]]
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    eye = np.eye(n)
    if fn_many is not None:
        fn = _Memo(fn_many, hessian_points(x, d=d, eps=eps, r=r, zero_tol=zero_tol))
    f0 = float(fn(x))
    hdiag = np.empty(n)
    for i in range(n):
        approx = np.empty(r)
        h = h0.copy()
        for k in range(r):
            f1, f2 = fn(x + eye[i] * h), fn(x - eye[i] * h)
            approx[k] = (f1 - 2 * f0 + f2) / h[i] ** 2
            h = h / 2
        hdiag[i] = _extrapolate(approx)
    H = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            approx = np.empty(r)
            h = h0.copy()
            for k in range(r):
                step = eye[i] * h + eye[j] * h
                f1, f2 = fn(x + step), fn(x - step)
                approx[k] = (f1 - 2 * f0 + f2 - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2) / (2 * h[i] * h[j])
                h = h / 2
            H[i, j] = H[j, i] = _extrapolate(approx)
    return H


def hessian_points(x: np.ndarray, *, d: float = 0.1, eps: float = 1e-4, r: int = 4,
                   zero_tol: float = math.sqrt(_EPS / 7e-7)) -> np.ndarray:
    """Every point at which :func:`richardson_hessian` evaluates ``fn`` (rows), ``x`` first."""
    x = np.asarray(x, dtype=float)
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    n, eye = x.size, np.eye(x.size)
    points = [x]
    for k in range(r):
        h = h0 / 2**k
        for i in range(n):
            points += [x + eye[i] * h, x - eye[i] * h]
            for j in range(i):
                step = eye[i] * h + eye[j] * h
                points += [x + step, x - step]
    return np.vstack(points)


class _Memo:
    """Every point the Hessian needs, evaluated in one call, then looked up."""

    def __init__(self, fn_many: ManyFn, points: np.ndarray):
        self.values = {p.tobytes(): float(v) for p, v in zip(points, fn_many(points))}

    def __call__(self, point: np.ndarray) -> float:
        return self.values[np.asarray(point, dtype=float).tobytes()]


def _extrapolate(approx: np.ndarray) -> float:
    a = approx.copy()
    r = a.size
    for m in range(1, r):
        for k in range(r - m):
            a[k] = (a[k + 1] * 4.0**m - a[k]) / (4.0**m - 1)
    return float(a[0])
