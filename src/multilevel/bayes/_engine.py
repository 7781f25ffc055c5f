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

Compiled programs are also kept across processes in JAX's persistent compilation cache
(:mod:`._jax_cache`, configured when this module is first imported).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from functools import partial

from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, trace
from numpyro.infer.hmc import hmc
from numpyro.infer.util import potential_energy

from ._jax_cache import configure as _configure_cache
from ._layout import Layout
from ._model import make_model

__all__ = ["EngineRun", "run_nuts", "continue_nuts", "compiled"]

_CACHE: dict[Any, "_Compiled"] = {}
_configure_cache()


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
    cpu_warmup: float = 0.0
    cpu_sampling: float = 0.0


CHUNK = 1000  # draws per compiled call: warm-up and sampling share one program
TARGET_ACCEPT = 0.7
DENSE = True


class _Compiled:
    """The jitted pieces for one (layout, number of clusters, shape of the data)."""

    def __init__(self, layout: Layout, num_clusters: int, args):
        model = make_model(layout, num_clusters)
        tr = trace(seed(model, 0)).get_trace(*args)
        sites = {k: s for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}
        self.sites = list(sites)
        self.transforms = {k: biject_to(s["fn"].support) for k, s in sites.items()}
        self.potential_fn_gen = lambda *a: partial(potential_energy, model, a, {})  # noqa: E731
        init_kernel, sample_kernel = hmc(potential_fn_gen=self.potential_fn_gen, algo="NUTS")

        def init_one(key, z, args, num_warmup):
            return init_kernel(z, num_warmup=num_warmup, dense_mass=DENSE, target_accept_prob=TARGET_ACCEPT,
                               model_args=args, rng_key=key)

        def block(state, args, n):
            """``n`` (dynamic, <= CHUNK) NUTS transitions per chain, draws kept in a buffer."""
            def one(s):
                buf = ({k: jnp.zeros((CHUNK, *jnp.shape(v))) for k, v in s.z.items()},
                       jnp.zeros(CHUNK, bool), jnp.zeros(CHUNK, jnp.result_type(s.num_steps)))

                def step(i, carry):
                    x, (zb, db, nb) = carry
                    x = sample_kernel(x, model_args=args)
                    zb = {k: zb[k].at[i].set(x.z[k]) for k in zb}
                    return x, (zb, db.at[i].set(x.diverging), nb.at[i].set(x.num_steps))
                return jax.lax.fori_loop(0, n, step, (s, buf))
            return jax.vmap(one)(state)

        def constrain(z, args):
            return {k: self.transforms[k](v) for k, v in z.items()}

        self.init = jax.jit(jax.vmap(init_one, in_axes=(0, 0, None, None)), static_argnums=3)
        self.block = jax.jit(block)
        self.constrain = jax.jit(constrain)
        self.potential = jax.jit(lambda z, args: jax.vmap(self.potential_fn_gen(*args))(z))


def compiled(layout: Layout, num_clusters: int, args) -> _Compiled:
    """The cached compiled kernel for this model structure."""
    key = (layout, num_clusters, tuple(np.shape(a) for a in args))
    if key not in _CACHE:
        _CACHE[key] = _Compiled(layout, num_clusters, args)
    return _CACHE[key]


def _advance(comp, state, args, total, bar=None, chains=1, keep=True):
    parts = []
    done = 0
    while done < total:
        n = min(CHUNK, total - done)
        state, (z, div, steps) = comp.block(state, args, n)
        if keep:
            parts.append(({k: np.asarray(v[:, :n]) for k, v in z.items()}, np.asarray(div[:, :n]),
                          np.asarray(steps[:, :n])))
        else:
            jax.block_until_ready(state)
        done += n
        if bar is not None:
            bar.update(n * chains)
    return state, parts


def _progress_bar(progress, total, desc):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="draw", delay=1.0, leave=False)


def _sample(comp, state, args, draws, progress, chains):
    bar = _progress_bar(progress, draws * chains, "sampling")
    state, parts = _advance(comp, state, args, draws, bar, chains)
    if bar is not None:
        bar.close()
    z = {k: np.concatenate([p[0][k] for p in parts], axis=1) for k in comp.sites}
    div = np.concatenate([p[1] for p in parts], axis=1)
    steps = np.concatenate([p[2] for p in parts], axis=1)
    return state, z, div, steps


def _finish(comp, state, z, div, steps, args, times) -> EngineRun:
    cons = comp.constrain(z, args)
    draws = {k: np.asarray(v) for k, v in cons.items()}
    return EngineRun(draws, z, div, steps, state, *times)


def run_nuts(layout: Layout, num_clusters: int, args, *, chains: int, draws: int, warmup: int,
             seed: int, progress: bool) -> EngineRun:
    """Warm up and sample ``chains`` NUTS chains (random initial values in (-2, 2) on the
    unconstrained scale, as Stan and NumPyro do)."""
    args = tuple(jnp.asarray(a) for a in args)
    comp = compiled(layout, num_clusters, args)
    key_init, key_run = jax.random.split(jax.random.PRNGKey(seed))
    init_keys = jax.random.split(key_init, len(comp.sites) or 1)
    z0 = {k: jax.random.uniform(init_keys[i], (chains,), minval=-2.0, maxval=2.0)
          for i, k in enumerate(comp.sites)}
    t0, c0 = time.perf_counter(), time.process_time()
    state = comp.init(jax.random.split(key_run, chains), z0, args, warmup)
    bar = _progress_bar(progress, warmup * chains, "warm-up")
    state, _ = _advance(comp, state, args, warmup, bar, chains, keep=False)
    if bar is not None:
        bar.close()
    t1, c1 = time.perf_counter(), time.process_time()
    state, z, div, steps = _sample(comp, state, args, draws, progress, chains)
    t2, c2 = time.perf_counter(), time.process_time()
    return _finish(comp, state, z, div, steps, args, (t1 - t0, t2 - t1, c1 - c0, c2 - c1))


def continue_nuts(layout: Layout, num_clusters: int, args, previous: EngineRun, *, draws: int,
                  progress: bool) -> EngineRun:
    """Sample ``draws`` more draws per chain from where ``previous`` stopped (adaptation kept)."""
    args = tuple(jnp.asarray(a) for a in args)
    comp = compiled(layout, num_clusters, args)
    chains = previous.diverging.shape[0]
    t0, c0 = time.perf_counter(), time.process_time()
    state, z, div, steps = _sample(comp, previous.state, args, draws, progress, chains)
    t1, c1 = time.perf_counter(), time.process_time()
    new = _finish(comp, state, z, div, steps, args, (0.0, t1 - t0, 0.0, c1 - c0))
    cat = lambda a, b: {k: np.concatenate([a[k], b[k]], axis=1) for k in a}  # noqa: E731
    return EngineRun(cat(previous.draws, new.draws), cat(previous.unconstrained, new.unconstrained),
                     np.concatenate([previous.diverging, div], axis=1),
                     np.concatenate([previous.num_steps, steps], axis=1), state,
                     previous.time_warmup, previous.time_sampling + new.time_sampling,
                     previous.cpu_warmup, previous.cpu_sampling + new.cpu_sampling)
