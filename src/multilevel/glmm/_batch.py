"""PIRLS at many parameter points at once (arrays only).

The finite-difference gradient and Hessian at the optimum need the deviance at
``2 n^2`` points (``n`` parameters), all from the same starting linear predictor.
Run one by one, a small problem spends most of its time in per-call overhead, so
here the points go through lme4's ``pwrssUpdate`` together: the family functions
and the sparse products with the data act on one array with a row per point, and
only each point's small factorization is its own. A point leaves the batch when
its iteration stops; a point whose iteration would halve a step, fail or run out
of iterations is evaluated on its own by :meth:`GlmmProblem.pirls` instead (the
same deterministic computation), so every point gets what a single evaluation
gives. For large data one point at a time is as fast (the arithmetic dominates and the
arrays of a batch would not stay in cache).

Nothing here imports pandas, formulas or result classes.
"""

from __future__ import annotations

import numpy as np

from ._pirls import GlmmProblem, PirlsState

__all__ = ["pirls_many"]

_MAX_CELLS = 300_000  # points x observations per batch: the arrays stay in cache
_MAX_ROWS = 20_000  # larger data: one point at a time (measured faster for 100,000 rows)


def pirls_many(problem: GlmmProblem, thetas, eta0, betas, *, tol: float = 1e-7, maxit: int = 100
               ) -> list[PirlsState]:
    """:meth:`GlmmProblem.pirls` with ``beta`` given (lme4's second stage) at each row of
    ``thetas`` and ``betas``, all from ``eta0``."""
    thetas, betas = np.atleast_2d(thetas), np.atleast_2d(betas)
    m = thetas.shape[0]
    size = _MAX_CELLS // max(problem.n, 1)
    if problem._blocked is None or m < 2 or problem.n > _MAX_ROWS:
        return [problem.pirls(t, eta0, b, tol=tol, maxit=maxit) for t, b in zip(thetas, betas)]
    out = []
    for lo in range(0, m, size):
        out.extend(_batch(problem, thetas[lo:lo + size], eta0, betas[lo:lo + size], tol, maxit))
    return out


def _batch(problem: GlmmProblem, thetas, eta0, betas, tol, maxit):
    ops, kernel = problem._blocked, problem._kernel
    m = thetas.shape[0]
    templates = [problem.templates(t) for t in thetas]
    base = problem.offset + betas @ problem.X.T  # (m, n)
    eta = np.repeat(np.asarray(eta0, dtype=float)[None, :], m, axis=0)
    mu = kernel.mu(eta)
    lin = eta - base
    old = np.full(m, np.finfo(float).max)
    active = np.arange(m)
    out: list = [None] * m
    for it in range(maxit):
        w, v = kernel.working(eta, mu, lin)
        H = np.ascontiguousarray(ops.cross_many(w).T)
        C = ops.rhs_many(v).T
        u, b = np.empty((active.size, problem.q)), np.empty((active.size, problem.q))
        try:
            facs = ops.assemble_many([templates[i] for i in active], H)
        except np.linalg.LinAlgError:  # some point's system is not positive definite: each on its own
            break
        for j, (i, fac) in enumerate(zip(active, facs)):
            u[j] = fac.solve_u(ops.apply_lambda_t(templates[i], C[j]))
            b[j] = ops.apply_lambda(templates[i], u[j])
        lin = ops.lin_many(b)
        eta = base[active] + lin
        mu = kernel.mu(eta)
        pdev = kernel.deviance(mu, eta)[0] + np.einsum("ij,ij->i", u, u)
        done = np.abs((old - pdev) / pdev) < tol
        alone = ~done & (np.isnan(pdev) | (pdev > old))  # halving: left to a single evaluation
        for j in np.flatnonzero(done):
            out[active[j]] = _state(problem, kernel, facs[j], u[j], betas[active[j]], eta[j], mu[j], it + 1)
        for j in np.flatnonzero(alone):
            i = active[j]
            out[i] = problem.pirls(thetas[i], eta0, betas[i], tol=tol, maxit=maxit)
        keep = ~(done | alone)
        if not keep.any():
            return out
        active, old, eta, mu, lin = active[keep], pdev[keep], eta[keep], mu[keep], lin[keep]
    for i in active:  # out of iterations or a failed factorization: the single evaluation raises the error
        out[i] = problem.pirls(thetas[i], eta0, betas[i], tol=tol, maxit=maxit)
    return out


def _state(problem, kernel, fac, u, beta, eta, mu, iterations) -> PirlsState:
    eta, mu = eta.copy(), mu.copy()
    value = fac.ldL2 + float(u @ u) + kernel.aic(mu, *kernel.deviance(mu, eta))
    return PirlsState(u.copy(), np.asarray(beta, dtype=float).copy(), eta, mu, fac.ldL2, value, fac, fac.RX,
                      iterations, kernel)
