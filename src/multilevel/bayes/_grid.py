"""The quadrature engine: the exact posterior on a grid and independent draws from it.

After the estimate and cluster levels and the normally distributed coefficients are
integrated out analytically (:mod:`._grid_model`), a brma model with few variance
parameters has a posterior of dimension at most three (the default multilevel model: tau and
rho). Such a posterior is computed here without MCMC:

1. the log posterior is written on the unconstrained scale (log for a lower bound, logit for
   two bounds: the transforms NUTS uses) and its mode and curvature are found by Newton steps;
2. a coarse grid on axes aligned with that curvature gives the posterior mean and covariance,
   and a second coarse grid on axes aligned with those finds the box where the density is
   within ``exp(-30)`` of its maximum;
3. the density is evaluated at the centres of a fine regular grid of cells over that box. The
   log marginal likelihood is the midpoint rule on it (for smooth densities that vanish at the
   box faces the rule converges geometrically); its error is estimated by the same rule on the
   grid of every other cell;
4. independent draws: a cell is drawn with probability proportional to its mass, then a point
   uniformly within the cell. The remaining coefficients and cluster effects are drawn from
   their exact Gaussian conditionals given each draw, as after NUTS.

NumPy only: a fit with this engine neither imports nor compiles anything from JAX.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._grid_model import (
    Segments,
    cluster_effects_conditional,
    collapsed_conditional,
    collapsed_loglik,
    pointwise_loglik,
    variance_parts,
)
from ._layout import Layout

__all__ = ["GridRun", "MAX_DIMENSION", "supported", "run_grid", "extend_grid", "complete_draws"]

MAX_DIMENSION = 3
_FINE = {1: 2048, 2: 160, 3: 64}  # cells per axis of the fine grid
_COARSE = {1: 400, 2: 48, 3: 20}  # nodes per axis of the grids that place the box
_DROP = 30.0  # the box reaches where the log density is this far below its maximum
_CHUNK = 2**21  # elements of the (points, estimates) arrays evaluated at once (16 MiB)


@dataclass(frozen=True)
class GridRun:
    """Output of the quadrature engine, with the fields of the NUTS engine's run.

    ``log_ml`` is the log marginal likelihood by the midpoint rule on the fine grid and
    ``log_ml_error`` its difference from the rule on every other cell (an upper estimate of
    the quadrature error). ``state`` keeps the grid, so that more draws can be added.
    """

    draws: dict[str, np.ndarray]
    unconstrained: dict[str, np.ndarray]
    diverging: np.ndarray
    num_steps: np.ndarray
    state: Any
    time_warmup: float
    time_sampling: float
    cpu_warmup: float
    cpu_sampling: float
    log_ml: float
    log_ml_error: float
    engine: str = "quadrature"


def supported(layout: Layout) -> bool:
    """True when the posterior left after integration has at most three dimensions."""
    return len(layout.sampled_sites()) <= MAX_DIMENSION


# ----------------------------------------------------------------------------- transforms, priors
def _to_constrained(u, lo, hi):
    """(value, log Jacobian) of the transform NUTS uses for the support [lo, hi]."""
    if math.isinf(lo) and math.isinf(hi):
        return u, np.zeros_like(u)
    if math.isinf(hi):
        return lo + np.exp(u), u
    if math.isinf(lo):
        return hi - np.exp(u), u
    log_s, log_1ms = -np.logaddexp(0.0, -u), -np.logaddexp(0.0, u)
    return lo + (hi - lo) * np.exp(log_s), math.log(hi - lo) + log_s + log_1ms


def _log_phi_interval(a: float, b: float) -> float:
    """log(Phi(b) - Phi(a)), accurate in either tail."""
    up = 0.5 * math.erfc(a / math.sqrt(2)) - 0.5 * math.erfc(b / math.sqrt(2))
    if a > 0:
        return math.log(up)
    low = 0.5 * math.erfc(-b / math.sqrt(2)) - 0.5 * math.erfc(-a / math.sqrt(2))
    return math.log(low)


def _prior_logpdf(p, x):
    """Log density of a prior; normal and beta priors without SciPy (an import saved)."""
    if p.family == "normal":
        m, s = p.params
        log_mass = _log_phi_interval((p.lower - m) / s, (p.upper - m) / s)
        return -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi) - log_mass
    if p.family == "beta" and (p.lower, p.upper) == (0.0, 1.0):
        a, b = p.params
        log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
        if a == 1 and b == 1:
            return np.full(np.shape(x), -log_beta)
        with np.errstate(divide="ignore"):
            return (a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - log_beta
    return p.logpdf(x)


# ----------------------------------------------------------------------------- the log posterior
class LogPosterior:
    """log p(theta | y) + const on the unconstrained scale of the sampled sites, in the order
    of :meth:`Layout.sampled_sites`, vectorized over rows of ``U`` (G, d)."""

    def __init__(self, layout: Layout, data):
        self.layout, self.data = layout, data
        self.sites = layout.sampled_sites()
        self.priors = [layout.prior_of(s) for s in self.sites]
        # rows in cluster order, so that cluster sums need no reordering (the model is invariant)
        order = np.argsort(data.cluster, kind="stable") if data.cluster is not None else slice(None)
        self.d = SimpleNamespace(y=data.y[order], v=data.v[order], X=data.X[order], Z=data.Z[order],
                                 k=data.k)
        self.seg = (Segments(data.cluster[order], data.num_clusters) if data.cluster is not None
                    else None)
        self.idx = np.asarray(layout.collapsed, dtype=int)
        self.mean_varies = any(s in dict(layout.fixed) for s in self.sites)

    @property
    def dim(self) -> int:
        return len(self.sites)

    def constrain(self, U):
        """({site: values}, log Jacobian) at the rows of ``U``."""
        vals, logjac = {}, np.zeros(U.shape[0])
        for j, (site, p) in enumerate(zip(self.sites, self.priors)):
            vals[site], lj = _to_constrained(U[:, j], p.lower, p.upper)
            logjac = logjac + lj
        return vals, logjac

    def parameters(self, vals: dict, n: int):
        """(B, tau, rho, delta) at ``n`` points, collapsed coefficients at 0, fixed (point)
        priors at their value."""
        lay = self.layout
        get = lambda site, p: vals[site] if site in vals else np.full(n, p.params[0])  # noqa: E731
        B = np.column_stack([np.zeros(n) if j in lay.collapsed else get(s, p)
                             for j, (s, p) in enumerate(lay.fixed)])
        rho = get("rho", lay.rho) if lay.rho is not None else np.zeros(n)
        delta = (np.column_stack([get(s, p) for s, p in lay.scale]) if lay.scale
                 else np.zeros((n, 0)))
        return B, get("tau", lay.tau), rho, delta

    def __call__(self, U) -> np.ndarray:
        U = np.atleast_2d(np.asarray(U, dtype=float))
        step = max(64, _CHUNK // self.data.k)
        return np.concatenate([self._eval(U[i:i + step]) for i in range(0, len(U), step)])

    def _eval(self, U):
        vals, out = self.constrain(U)
        for site, p in zip(self.sites, self.priors):
            out = out + _prior_logpdf(p, vals[site])
        B, tau, rho, delta = self.parameters(vals, U.shape[0])
        bd, lay = self.d, self.layout
        tw2, tb = variance_parts(tau, rho, delta, bd.Z)
        B = B if self.mean_varies else B[:1]
        r = bd.y[None, :] - B @ bd.X.T - bd.X[:, self.idx] @ np.asarray(lay.collapsed_mean)
        r = r if self.mean_varies else r[0]
        out = out + collapsed_loglik(r, bd.X[:, self.idx], np.asarray(lay.collapsed_sd), bd.v, tw2, tb,
                                     self.seg)
        return np.where(np.isfinite(out), out, -np.inf)


# ----------------------------------------------------------------------------- mode and box
def _derivatives(f, u, h=1e-3):
    """Value, gradient and Hessian of ``f`` at ``u`` by central differences (one batched call)."""
    d = len(u)
    E = np.eye(d) * h
    pts = [u] + [u + E[i] for i in range(d)] + [u - E[i] for i in range(d)]
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    for i, j in pairs:
        pts += [u + E[i] + E[j], u + E[i] - E[j], u - E[i] + E[j], u - E[i] - E[j]]
    v = f(np.array(pts))
    fp, fm = v[1:d + 1], v[d + 1:2 * d + 1]
    H = np.diag((fp - 2 * v[0] + fm) / h**2)
    for q, (i, j) in enumerate(pairs):
        pp, pm, mp, mm = v[2 * d + 1 + 4 * q: 2 * d + 5 + 4 * q]
        H[i, j] = H[j, i] = (pp - pm - mp + mm) / (4 * h**2)
    return v[0], (fp - fm) / (2 * h), H


def _mode(f, d: int):
    """Mode and negative Hessian: a coarse search over [-6, 6]^d, then damped Newton steps."""
    axis = np.linspace(-6.0, 6.0, 25 if d < 3 else 13)
    start = np.stack([m.reshape(-1) for m in np.meshgrid(*([axis] * d), indexing="ij")], axis=1)
    u = start[int(np.argmax(f(start)))]
    for _ in range(100):
        val, g, H = _derivatives(f, u)
        try:
            np.linalg.cholesky(-H)
            step = np.linalg.solve(-H, g)
        except np.linalg.LinAlgError:
            step = g / max(1.0, np.abs(np.diag(H)).max())
        t = 1.0
        while t > 1e-6 and not f((u + t * step)[None])[0] >= val:
            t /= 2
        u = u + t * step
        if np.max(np.abs(t * step)) < 1e-7:
            break
    _, _, H = _derivatives(f, u)
    return u, -H


def _whitener(mean, cov_or_precision, precision: bool):
    """Cholesky factor L of the covariance (u = mean + L s)."""
    cov = np.linalg.inv(cov_or_precision) if precision else cov_or_precision
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return np.diag(np.sqrt(np.maximum(np.abs(np.diag(cov)), 1e-4)))


def _regular(lo, hi, n):
    """Cell centres (N, d) of a regular grid on the box [lo, hi] with ``n`` cells per axis."""
    h = (hi - lo) / n
    axes = [lo[i] + (np.arange(n) + 0.5) * h[i] for i in range(len(lo))]
    return np.stack([m.reshape(-1) for m in np.meshgrid(*axes, indexing="ij")], axis=1), h


def _moments(f, m, L, half: float, n: int):
    S, _ = _regular(np.full(len(m), -half), np.full(len(m), half), n)
    U = m + S @ L.T
    lf = f(U)
    w = np.exp(lf - lf.max())
    w /= w.sum()
    mean = w @ U
    return mean, (U - mean).T @ ((U - mean) * w[:, None])


def _box(f, m, L, n: int):
    """Per-axis bounds (whitened coordinates s) of the region within ``_DROP`` of the maximum.
    Searched on a grid regular in t, s = _SINH sinh(t), reaching |s| = 100 (and farther while
    the region touches the faces), so that long tails (e.g. of logit rho) are found at once."""
    t_lo = t_hi = np.full(len(m), np.arcsinh(100.0 / _SINH))
    t_lo = -t_lo
    for _ in range(4):
        T, h = _regular(t_lo, t_hi, n)
        lf = f(m + (_SINH * np.sinh(T)) @ L.T)
        keep = T[lf > lf.max() - _DROP]
        new_lo, new_hi = keep.min(0) - h, keep.max(0) + h
        touch_lo, touch_hi = new_lo <= t_lo + h, new_hi >= t_hi - h
        if not (touch_lo.any() or touch_hi.any()):
            break
        t_lo, t_hi = np.where(touch_lo, t_lo - 2.0, new_lo), np.where(touch_hi, t_hi + 2.0, new_hi)
    return _SINH * np.sinh(new_lo), _SINH * np.sinh(new_hi)


_SINH = 2.0  # s = _SINH * sinh(t): cells of width _SINH * dt near the centre, wider in the tails


@dataclass(frozen=True)
class Grid:
    """The fine grid: regular cells in t, s = _SINH sinh(t) (whitened), u = mean + L s; the log
    density times the Jacobian ds/dt at the cell centres."""

    mean: np.ndarray
    L: np.ndarray
    centres: np.ndarray
    width: np.ndarray
    log_mass: np.ndarray
    log_ml: float
    log_ml_error: float

    def sample(self, n: int, rng) -> np.ndarray:
        """``n`` independent draws (n, d) on the unconstrained scale."""
        p = np.exp(self.log_mass - self.log_mass.max())
        cdf = np.cumsum(p)
        cell = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(p) - 1)
        T = self.centres[cell] + (rng.random((n, len(self.width))) - 0.5) * self.width
        return self.mean + (_SINH * np.sinh(T)) @ self.L.T


def build_grid(f: LogPosterior) -> Grid:
    """Mode, moments, box and fine grid of the log posterior ``f`` (dimension 1 to 3)."""
    d = f.dim
    u0, prec = _mode(f, d)
    m1, C1 = _moments(f, u0, _whitener(u0, prec, True), 8.0, _COARSE[d])
    L = _whitener(m1, C1, False)
    lo, hi = _box(f, m1, L, _COARSE[d])
    t_lo, t_hi = np.arcsinh(lo / _SINH), np.arcsinh(hi / _SINH)
    T, h = _regular(t_lo, t_hi, _FINE[d])
    lf = f(m1 + (_SINH * np.sinh(T)) @ L.T) + np.sum(np.log(_SINH * np.cosh(T)), axis=1)
    log_vol = float(np.sum(np.log(h)) + np.sum(np.log(np.abs(np.diag(L)))))
    top = lf.max()
    log_ml = float(top + np.log(np.sum(np.exp(lf - top))) + log_vol)
    index = np.round((T - t_lo) / h - 0.5).astype(int)
    every_other = np.all(index % 2 == 0, axis=1)
    coarse = float(top + np.log(np.sum(np.exp(lf[every_other] - top))) + log_vol + d * math.log(2))
    face = lf[np.any((index == 0) | (index == _FINE[d] - 1), axis=1)].max()
    return Grid(m1, L, T, h, lf, log_ml, abs(log_ml - coarse) + math.exp(face - top))


# ----------------------------------------------------------------------------- draws
def _draw_sites(f: LogPosterior, grid: Grid | None, chains: int, draws: int, rng):
    """Constrained and unconstrained draws per site, each (chains, draws)."""
    if grid is None:
        return {}, {}
    U = grid.sample(chains * draws, rng)
    vals, _ = f.constrain(U)
    shape = (chains, draws)
    return ({s: vals[s].reshape(shape) for s in f.sites},
            {s: U[:, j].reshape(shape) for j, s in enumerate(f.sites)})


def complete_draws(f: LogPosterior, draws: dict[str, np.ndarray], chains: int, n_draws: int, rng):
    """(B, z, loglik) shaped (chains, draws, .): collapsed coefficients and cluster effects
    drawn from their exact conditionals, and the pointwise log-likelihood (per cluster, or per
    estimate in the data's order without clusters), per draw."""
    n = chains * n_draws
    flat = {s: v.reshape(-1) for s, v in draws.items()}
    B, tau, rho, delta = f.parameters(flat, n)
    bd, lay, idx = f.d, f.layout, f.idx
    m0, sd0 = np.asarray(lay.collapsed_mean), np.asarray(lay.collapsed_sd)
    z_all, ll_all = [], []
    step = max(64, _CHUNK // bd.k)
    for i in range(0, n, step):
        s = slice(i, min(n, i + step))
        tw2, tb = variance_parts(tau[s], rho[s], delta[s], bd.Z)
        if idx.size:
            r = bd.y[None, :] - B[s] @ bd.X.T - bd.X[:, idx] @ m0
            mean, chol = collapsed_conditional(r, bd.X[:, idx], sd0, bd.v, tw2, tb, f.seg)
            eps = rng.standard_normal((mean.shape[0], idx.size))
            B[s, idx] = m0 + mean + np.einsum("gij,gj->gi", chol, eps)
        resid = bd.y[None, :] - B[s] @ bd.X.T
        if f.seg is not None:
            zm, zsd = cluster_effects_conditional(resid, bd.v, tw2, tb, f.seg)
            z_all.append(zm + zsd * rng.standard_normal(zm.shape))
        else:
            z_all.append(np.zeros((resid.shape[0], 0)))
        ll_all.append(pointwise_loglik(resid, bd.v, tw2, tb, f.seg))
    shape = (chains, n_draws)
    return (B.reshape(*shape, -1), np.concatenate(z_all).reshape(*shape, -1),
            np.concatenate(ll_all).reshape(*shape, -1))


def _no_free_parameters(f: LogPosterior) -> float:
    return float(f(np.zeros((1, 0)))[0])


def run_grid(layout: Layout, data, *, chains: int, draws: int, seed: int) -> GridRun:
    """Exact posterior on a grid and ``chains`` x ``draws`` independent draws from it."""
    t0, c0 = time.perf_counter(), time.process_time()
    f = LogPosterior(layout, data)
    grid = build_grid(f) if f.dim else None
    log_ml, err = (grid.log_ml, grid.log_ml_error) if grid is not None else (_no_free_parameters(f), 0.0)
    t1, c1 = time.perf_counter(), time.process_time()
    cons, unc = _draw_sites(f, grid, chains, draws, np.random.default_rng(seed))
    t2, c2 = time.perf_counter(), time.process_time()
    flags = np.zeros((chains, draws), dtype=bool)
    return GridRun(cons, unc, flags, np.zeros((chains, draws), dtype=np.int32), (f, grid),
                   t1 - t0, t2 - t1, c1 - c0, c2 - c1, log_ml, err)


def extend_grid(previous: GridRun, *, draws: int, seed: int) -> GridRun:
    """``draws`` more independent draws per chain, appended to those of ``previous``."""
    f, grid = previous.state
    chains = previous.diverging.shape[0]
    t0, c0 = time.perf_counter(), time.process_time()
    cons, unc = _draw_sites(f, grid, chains, draws, np.random.default_rng(seed))
    t1, c1 = time.perf_counter(), time.process_time()
    cat = lambda a, b: {k: np.concatenate([a[k], b[k]], axis=1) for k in a}  # noqa: E731
    flags = np.zeros((chains, previous.diverging.shape[1] + draws), dtype=bool)
    return GridRun(cat(previous.draws, cons), cat(previous.unconstrained, unc), flags,
                   np.zeros(flags.shape, dtype=np.int32), previous.state, previous.time_warmup,
                   previous.time_sampling + t1 - t0, previous.cpu_warmup,
                   previous.cpu_sampling + c1 - c0, previous.log_ml, previous.log_ml_error)
