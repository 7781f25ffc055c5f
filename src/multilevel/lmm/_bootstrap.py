"""Parametric bootstrap of a linear mixed model (lme4's ``bootMer`` and ``confint(method = "boot")``).

Each replicate simulates a response from the fitted model
(:func:`~multilevel.lmm._predict.simulate_responses`), refits the same
structure to it (only the response changes, so the refit reuses the
precomputed problem) and records lme4's parameters: standard deviations and
correlations of the random effects, sigma, and the fixed effects.
Replicates run in chunks on worker processes (``concurrent.futures``), each
chunk with its own random stream spawned from ``seed``, so results do not
depend on the number of workers.
"""

from __future__ import annotations

import os
from concurrent.futures import as_completed

import numpy as np

from ._fit import fit_problem
from ._pool import process_pool
from ._predict import simulate_responses
from ._sdcor import sdcor_from_theta

__all__ = ["bootstrap_parameters", "percentile_intervals", "process_pool"]

_CHUNK = 25


def _run_chunk(problem, ks, theta, beta, sigma, reml, nsim, seed_seq) -> np.ndarray:
    rng = np.random.default_rng(seed_seq)
    ys = simulate_responses(problem, theta, beta, sigma, nsim, rng)
    out = np.empty((nsim, len(theta) + 1 + len(beta)))
    for s in range(nsim):
        est = fit_problem(problem.with_response(ys[:, s]), reml, start=theta, calc_derivs=False)
        sig = est.sigma
        out[s] = np.concatenate([sdcor_from_theta(est.theta, ks, sig), [sig], est.solution.beta])
    return out


def bootstrap_parameters(problem, ks: list[int], theta: np.ndarray, beta: np.ndarray, sigma: float, reml: bool,
                         *, nsim: int, seed=None, parallel: bool = True, progress: bool = True) -> np.ndarray:
    """``(nsim, num_params)`` bootstrap replicates of (sd/cor..., sigma, beta...)."""
    sizes = [min(_CHUNK, nsim - i) for i in range(0, nsim, _CHUNK)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    args = [(problem, list(ks), theta, beta, sigma, reml, size, sq) for size, sq in zip(sizes, seeds)]
    results: list[np.ndarray | None] = [None] * len(args)
    bar = _progress(nsim, progress)
    workers = min(2, os.cpu_count() or 1, len(args))
    try:
        if parallel and workers > 1:
            with process_pool(workers) as pool:
                futures = {pool.submit(_run_chunk, *a): i for i, a in enumerate(args)}
                for fut in as_completed(futures):
                    i = futures[fut]
                    results[i] = fut.result()
                    bar.update(sizes[i])
        else:
            for i, a in enumerate(args):
                results[i] = _run_chunk(*a)
                bar.update(sizes[i])
    finally:
        bar.close()
    return np.vstack(results)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="bootstrap", unit="fit", disable=not enabled, leave=False)


def percentile_intervals(replicates: np.ndarray, level: float) -> np.ndarray:
    """Percentile intervals ``(num_params, 2)`` from the replicates (failed fits, NaN rows, skipped)."""
    a = (1.0 - level) / 2.0
    ok = replicates[np.all(np.isfinite(replicates), axis=1)]
    return np.quantile(ok, [a, 1.0 - a], axis=0).T
