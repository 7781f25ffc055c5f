"""Choice between the two engines of :func:`multilevel.brma` and what differs between them.

* ``"quadrature"`` (:mod:`._grid`): the exact posterior on a grid with independent draws;
  NumPy only, no compilation. For models whose posterior, after the analytic integration of
  the estimate and cluster levels and of the normally distributed coefficients, has at most
  three dimensions (the default models: tau, or tau and rho).
* ``"nuts"`` (:mod:`._engine`): NumPyro's NUTS, compiled by JAX, for any model.
* ``"auto"`` (default): quadrature when it applies, NUTS otherwise.
"""

from __future__ import annotations

import importlib

import numpy as np

from .._exceptions import ArgumentError, ModelSpecificationError, MultilevelError
from ._grid import MAX_DIMENSION, supported, run_grid, complete_draws, extend_grid

__all__ = ["ENGINES", "choose", "fit", "complete", "extend", "is_iid"]

ENGINES = ("auto", "quadrature", "nuts")
_MISSING = "brma needs the optional dependencies: pip install 'multilevel[bayes]'"


def _jax_module(name: str):
    """One of our JAX-based private modules, with a clear error when JAX is missing."""
    try:
        return importlib.import_module(f"multilevel.bayes.{name}")
    except ImportError as err:
        if any(m in str(err) for m in ("jax", "numpyro")):
            raise MultilevelError(_MISSING) from None
        raise


def choose(engine, layout) -> str:
    """The engine to run: ``"quadrature"`` or ``"nuts"``."""
    if not isinstance(engine, str) or engine.lower() not in ENGINES:
        raise ArgumentError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    engine = engine.lower()
    if engine == "auto":
        return "quadrature" if supported(layout) else "nuts"
    if engine == "quadrature" and not supported(layout):
        sites = layout.sampled_sites()
        raise ModelSpecificationError(
            f"engine='quadrature' handles at most {MAX_DIMENSION} parameters after integration; this "
            f"model has {len(sites)} ({', '.join(sites)}): use engine='nuts' (or 'auto')")
    return engine


def fit(engine: str, layout, data, args, *, chains, draws, warmup, seed, progress):
    """Run the chosen engine; returns its run (draws per sampled site, (chains, draws))."""
    if choose(engine, layout) == "quadrature":
        return run_grid(layout, data, chains=chains, draws=draws, seed=seed)
    nuts = _jax_module("_engine")
    return nuts.run_nuts(layout, data.num_clusters, args, chains=chains, draws=draws, warmup=warmup,
                         seed=seed, progress=progress)


def is_iid(run) -> bool:
    """True for the quadrature engine's independent draws."""
    return getattr(run, "engine", "nuts") == "quadrature"


def complete(layout, data, args, run, seed: int):
    """(B, z, loglik): collapsed coefficients and cluster effects drawn from their exact
    conditionals, and the pointwise log-likelihood, for every draw of ``run``."""
    if is_iid(run):
        chains, draws = run.diverging.shape
        return complete_draws(run.state[0], run.draws, chains, draws, np.random.default_rng(seed))
    post = _jax_module("_posterior")
    return post.complete_draws(layout, data.num_clusters, args, run.draws, seed)


def extend(layout, data, args, run, *, draws: int, seed: int, progress: bool):
    """``run`` with ``draws`` more draws per chain."""
    if is_iid(run):
        return extend_grid(run, draws=draws, seed=seed)
    nuts = _jax_module("_engine")
    return nuts.continue_nuts(layout, data.num_clusters, args, run, draws=draws, progress=progress)
