"""The sampler seam: NumPyro's NUTS kernel driven by jitted loops, with compiled kernels cached.

:func:`run_nuts` and :func:`continue_nuts` are the only entry points the rest of the package
uses; another engine only has to return an :class:`EngineRun`. NumPyro's functional HMC API
(``numpyro.infer.hmc.hmc``) provides the NUTS transition and its window adaptation; this module
only vectorizes it over chains (``jax.vmap``: one compiled program runs all chains in lock step)
and scans over draws. Everything compiled is cached per model structure, so a second fit of
the same shape (e.g. new data, a new seed) skips compilation.

Chains run vectorized on one device rather than in parallel on several: on CPU the parallel
mode needs ``XLA_FLAGS=--xla_force_host_platform_device_count`` set before JAX is first
imported (a process-wide side effect we do not impose on users), and for models this small
the vectorized program is as fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc import hmc
from numpyro.infer.util import initialize_model

from ._layout import Layout
from ._model import make_model

__all__ = ["EngineRun", "run_nuts", "continue_nuts", "compiled"]

_CACHE: dict[Any, "_Compiled"] = {}


@dataclass(frozen=True)
class EngineRun:
    """Output of the engine: constrained draws per site, shaped (chains, draws)."""

    draws: dict[str, np.ndarray]
    unconstrained: dict[str, np.ndarray]
    diverging: np.ndarray
    num_steps: np.ndarray
    state: Any
    time_warmup: float
    time_sampling: float


class _Compiled:
    """The jitted pieces for one (layout, number of clusters, shape of the data)."""

    def __init__(self, layout: Layout, num_clusters: int, args):
        model = make_model(layout, num_clusters)
        info = initialize_model(jax.random.PRNGKey(0), model, model_args=args, dynamic_args=True)
        self.potential_fn_gen = info.potential_fn
        self.postprocess_fn_gen = info.postprocess_fn
        self.template = info.param_info.z
        init_kernel, sample_kernel = hmc(potential_fn_gen=self.potential_fn_gen, algo="NUTS")
        self.sites = list(self.template)

        def init_one(key, z, args, num_warmup):
            return init_kernel(z, num_warmup=num_warmup, dense_mass=True, target_accept_prob=0.8,
                               model_args=args, rng_key=key)

        def warmup(state, args, num_warmup):
            one = lambda s: jax.lax.fori_loop(  # noqa: E731
                0, num_warmup, lambda i, x: sample_kernel(x, model_args=args), s)
            return _over_chains(one, state)

        def sample(state, args, n):
            def one(s):
                def step(x, _):
                    x = sample_kernel(x, model_args=args)
                    return x, (x.z, x.diverging, x.num_steps)
                return jax.lax.scan(step, s, None, length=n)
            return _over_chains(one, state)

        def constrain(z, args):
            fn = self.postprocess_fn_gen(*args)
            return jax.vmap(jax.vmap(fn))(z)

        self.init = jax.jit(jax.vmap(init_one, in_axes=(0, 0, None, None)), static_argnums=3)
        self.warmup = jax.jit(warmup, static_argnums=2)
        self.sample = jax.jit(sample, static_argnums=2)
        self.constrain = jax.jit(constrain)
        self.potential = jax.jit(lambda z, args: jax.vmap(self.potential_fn_gen(*args))(z))


def _over_chains(fn, state):
    return jax.vmap(fn)(state)


def compiled(layout: Layout, num_clusters: int, args) -> _Compiled:
    """The cached compiled kernel for this model structure."""
    key = (layout, num_clusters, tuple(np.shape(a) for a in args))
    if key not in _CACHE:
        _CACHE[key] = _Compiled(layout, num_clusters, args)
    return _CACHE[key]


def _chunks(total: int, progress: bool) -> list[int]:
    if not progress or total < 2000:
        return [total]
    size = max(total // 10, 1)
    return [size] * (total // size) + ([total % size] if total % size else [])


def _sample(comp, state, args, draws, progress, chains):
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=draws * chains, desc="sampling", unit="draw", delay=1.0, leave=False)
    parts = []
    for n in _chunks(draws, progress):
        state, out = comp.sample(state, args, n)
        jax.block_until_ready(out)
        parts.append(out)
        if bar is not None:
            bar.update(n * chains)
    if bar is not None:
        bar.close()
    z = {k: jnp.concatenate([p[0][k] for p in parts], axis=1) for k in comp.sites}
    div = np.concatenate([np.asarray(p[1]) for p in parts], axis=1)
    steps = np.concatenate([np.asarray(p[2]) for p in parts], axis=1)
    return state, z, div, steps


def _finish(comp, state, z, div, steps, args, t_warm, t_samp) -> EngineRun:
    cons = comp.constrain(z, args)
    draws = {k: np.asarray(v) for k, v in cons.items()}
    return EngineRun(draws, {k: np.asarray(v) for k, v in z.items()}, div, steps, state, t_warm, t_samp)


def run_nuts(layout: Layout, num_clusters: int, args, *, chains: int, draws: int, warmup: int,
             seed: int, progress: bool) -> EngineRun:
    """Warm up and sample ``chains`` NUTS chains (random initial values in (-2, 2) on the
    unconstrained scale, as Stan and NumPyro do)."""
    args = tuple(jnp.asarray(a) for a in args)
    comp = compiled(layout, num_clusters, args)
    key_init, key_run = jax.random.split(jax.random.PRNGKey(seed))
    init_keys = jax.random.split(key_init, len(comp.sites) or 1)
    z0 = {k: jax.random.uniform(init_keys[i], (chains, *jnp.shape(v)), minval=-2.0, maxval=2.0)
          for i, (k, v) in enumerate(comp.template.items())}
    t0 = time.perf_counter()
    state = comp.init(jax.random.split(key_run, chains), z0, args, warmup)
    state = comp.warmup(state, args, warmup)
    jax.block_until_ready(state)
    t1 = time.perf_counter()
    state, z, div, steps = _sample(comp, state, args, draws, progress, chains)
    t2 = time.perf_counter()
    return _finish(comp, state, z, div, steps, args, t1 - t0, t2 - t1)


def continue_nuts(layout: Layout, num_clusters: int, args, previous: EngineRun, *, draws: int,
                  progress: bool) -> EngineRun:
    """Sample ``draws`` more draws per chain from where ``previous`` stopped (adaptation kept)."""
    args = tuple(jnp.asarray(a) for a in args)
    comp = compiled(layout, num_clusters, args)
    chains = previous.diverging.shape[0]
    t0 = time.perf_counter()
    state, z, div, steps = _sample(comp, previous.state, args, draws, progress, chains)
    t1 = time.perf_counter()
    new = _finish(comp, state, z, div, steps, args, 0.0, t1 - t0)
    cat = lambda a, b: {k: np.concatenate([a[k], b[k]], axis=1) for k in a}  # noqa: E731
    return EngineRun(cat(previous.draws, new.draws), cat(previous.unconstrained, new.unconstrained),
                     np.concatenate([previous.diverging, div], axis=1),
                     np.concatenate([previous.num_steps, steps], axis=1), state,
                     previous.time_warmup, previous.time_sampling + new.time_sampling)
