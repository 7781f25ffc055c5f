"""Root finding as R's ``uniroot`` (Brent's zeroin), so iterative estimators stop where metafor's do."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["r_uniroot"]



def r_uniroot(fn: Any, lower: float, upper: float, *, tol: float = np.finfo(float).eps ** 0.25,
              maxiter: int = 1000, f_lower: float | None = None, f_upper: float | None = None,
              last_at_limit: bool = False) -> float:
    """Root of ``fn`` in ``[lower, upper]`` by Brent's method with R's ``uniroot`` stopping rule.

    metafor finds tau^2 (PM estimator, Q-profile and profile-likelihood limits)
    with ``uniroot(tol = .Machine$double.eps^0.25)``; using the same algorithm and
    tolerance returns the same iterate, so results agree far below that tolerance.

    With ``last_at_limit``, the last iterate is returned when the iteration limit is reached
    (R's ``uniroot`` warns and returns it) instead of raising.

    Raises
    ------
    ValueError
        When ``fn`` has the same sign at both ends or the iteration limit is reached.

    Examples
    --------
    >>> round(r_uniroot(lambda x: x**2 - 2, 0, 2, tol=1e-12), 10)
    1.4142135624
    """
    eps = np.finfo(float).eps
    a, b = float(lower), float(upper)
    fa = float(fn(a)) if f_lower is None else float(f_lower)
    fb = float(fn(b)) if f_upper is None else float(f_upper)
    if fa * fb > 0:
        raise ValueError("f() values at end points not of opposite sign")
    if fa == 0:
        return a
    if fb == 0:
        return b
    c, fc = a, fa
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = float(fn(b))
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    if last_at_limit:
        return b
    raise ValueError("iteration limit reached in root finding")
