"""Profile likelihood of ``rma_mv`` variance components and its confidence intervals.

The profile at a value of one component holds it fixed and re-estimates the
others (warm-started at the optimum). Interval bounds are the roots of
``-2 (ll(value) - ll_max) - qchisq(level, 1)`` found by R's ``uniroot`` (the library's one
root-finding rule, :func:`~multilevel.meta.shared._roots.r_uniroot`, at metafor's tolerance) on
metafor's search intervals: ``[0, max(10, 100 * estimate)]`` for variances and
``[-1, 1]`` for correlations; when the profile stays below the cut-off at an
edge, the edge is the bound (printed with ``<`` or ``>`` as metafor does when
the edge is not the end of the parameter space). An edge at which the model
cannot be fitted is moved towards the estimate in ten steps, as metafor does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy

from ..._exceptions import ModelSpecificationError
from ..._rformat import render_table
from ..plots._profile_plot import plot_profile
from ..shared._format import fcf
from ..shared._roots import r_uniroot
from ._components import component_names
from ._fit import optimize
from ..._display import FrameMapping, TextReport

__all__ = ["component_names", "profile_ll", "confint_frame", "ConfintReport", "ProfileLikelihood", "profile"]

_EPTRIES = 10
_XTOL = np.finfo(float).eps ** 0.25  # metafor: uniroot(tol = .Machine$double.eps^0.25)


def is_correlation(name: str) -> bool:
    return name.split(".")[0] in ("rho", "phi")


def _r_label(name: str) -> tuple[str, str | None]:
    """metafor's printed row names: ``sigma^2.1`` / ``sigma.1``, ``tau^2`` / ``tau``, ``rho``."""
    base, _, num = name.partition(".")
    suffix = f".{num}" if num else ""
    if base in ("rho", "phi"):
        return f"{base}{suffix}", None
    root = base[:-1]
    return f"{root}^2{suffix}", f"{root}{suffix}"


def profile_ll(fit: Any, index: int, value: float, start: np.ndarray | None = None) -> tuple[float, np.ndarray] | None:
    """Profile log-likelihood of component ``index`` at ``value`` (None if the model cannot be fitted)."""
    est = fit._comps.values
    nat = est.copy() if start is None else start.copy()
    # a variance at exactly 0 stays there on the log scale: restart it from the estimate
    absorbed = (nat == 0) & (est > 0) & ~fit._layout.is_rho()
    nat[absorbed] = est[absorbed]
    nat[index] = value
    free = ~fit._comps.fixed.copy()
    free[index] = False
    state = optimize(fit._batch, fit._layout, nat, free, reml=fit.method == "REML")
    if state is None:
        return None
    return state.ll(fit.method == "REML"), state.nat


def _search_range(fit: Any, index: int) -> tuple[float, float, float, float]:
    """(vc_min, vc_max, parameter-space lower end, upper end) as metafor's confint.

    The ends only decide whether an edge bound is printed with ``<`` / ``>``:
    as metafor, a correlation edge above -1 (AR, CAR: the search starts at 0)
    and every edge of a spatial range are marked.
    """
    est = float(fit._comps.values[index])
    if fit._layout.is_rho()[index]:
        kind = int(fit._layout.kinds()[index])
        if kind == 3:
            return 0.0, max(10.0, 10.0 * est), -1.0, np.inf
        if _struct_of(fit, index) in ("AR", "HAR", "CAR"):
            return min(0.0, est), 1.0, -1.0, 1.0
        return -1.0, 1.0, -1.0, 1.0
    vmax = 10.0 if est <= np.sqrt(np.finfo(float).eps) else max(10.0, 100.0 * est)
    return 0.0, vmax, 0.0, np.inf


def _struct_of(fit: Any, index: int) -> str | None:
    """Structure of the ``~ inner | outer`` term a correlation parameter belongs to."""
    lay = fit._layout
    second = index >= lay.ns + lay.nt + lay.nr
    term = fit._h if second else fit._g
    return None if term is None else term.struct


def _bound(fit: Any, index: int, crit: float, side: int, xtol: float = _XTOL) -> tuple[float, str]:
    """One interval bound: (value, sign) with sign '<' / '>' for edge bounds inside the space."""
    est = float(fit._comps.values[index])
    vmin, vmax, lo_end, hi_end = _search_range(fit, index)
    edge = vmin if side < 0 else vmax
    ll_max = fit.loglik
    warm: list[np.ndarray] = [fit._comps.values]

    def f(v: float) -> float:
        res = profile_ll(fit, index, v, warm[-1])
        if res is None:
            return np.nan
        warm.append(res[1])
        return -2.0 * (res[0] - ll_max) - crit

    step = abs(edge - est) / _EPTRIES
    for _ in range(_EPTRIES):
        fe = f(edge)
        if np.isfinite(fe):
            if fe < 0:
                inside = (edge > lo_end) if side < 0 else (edge < hi_end)
                return edge, ("<" if side < 0 else ">") if inside else ""
            warm.append(fit._comps.values)
            a, b = (edge, est) if side < 0 else (est, edge)
            root = r_uniroot(lambda v: _finite(f(v), side), a, b, tol=xtol)
            return float(root), ""
        edge = edge + step if side < 0 else edge - step
    return np.nan, ""


def _finite(value: float, side: int) -> float:
    # a point where the model cannot be fitted counts as outside the interval
    return value if np.isfinite(value) else 1.0


def _intervals(fit: Any, level: float, xtol: float) -> list[tuple[str, float, float, float, str, str]]:
    crit = float(scipy.stats.chi2.ppf(level / 100.0, 1))
    names = component_names(fit)
    out = []
    for i, name in enumerate(names):
        if fit._comps.fixed[i]:
            continue
        est = float(fit._comps.values[i])
        lb, lsign = _bound(fit, i, crit, -1, xtol)
        ub, usign = _bound(fit, i, crit, +1, xtol)
        out.append((name, est, lb, ub, lsign, usign))
    if not out:
        raise ModelSpecificationError("the model has no estimated variance components to profile")
    return out


def confint_frame(fit: Any, level: float, tol: float | None = None) -> pd.DataFrame:
    """DataFrame of the profile-likelihood intervals (with sqrt rows for variances)."""
    rows, data, signs = [], [], []
    for name, est, lb, ub, ls, us in _intervals(fit, level, _XTOL if tol is None else float(tol)):
        rows.append(name)
        data.append((est, lb, ub))
        signs.append((ls, us))
        if not is_correlation(name):
            rows.append(name.replace("2", "", 1))
            data.append(tuple(np.sqrt(v) if v >= 0 else np.nan for v in (est, lb, ub)))
            signs.append((ls, us))
    frame = pd.DataFrame(data, index=rows, columns=["estimate", "ci_lb", "ci_ub"])
    frame.attrs["signs"] = signs
    frame.attrs["level"] = level
    return frame


@dataclass(frozen=True, eq=False, repr=False)
class ConfintReport(TextReport, FrameMapping):
    """Profile-likelihood intervals printed as metafor's ``print(confint(res))``."""

    frame: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.frame

    def __str__(self) -> str:
        signs = self.frame.attrs.get("signs", [("", "")] * len(self.frame))
        blocks: list[str] = []
        i = 0
        rows = list(self.frame.index)
        while i < len(rows):
            n = 1 if is_correlation(rows[i]) else 2
            part = self.frame.iloc[i: i + n]
            label = _r_label(rows[i])
            names = [label[0]] + ([label[1]] if n == 2 else [])
            ls, us = signs[i]
            cols = {"estimate": fcf(part["estimate"], 4),
                    "ci.lb": [ls + s for s in fcf(part["ci_lb"], 4)],
                    "ci.ub": [us + s for s in fcf(part["ci_ub"], 4)]}
            blocks.append(render_table(cols, names))
            i += n
        return "\n\n".join(blocks)


@dataclass(frozen=True, eq=False, repr=False)
class ProfileLikelihood(TextReport, FrameMapping):
    """Profile log-likelihood of one variance component over a grid of values."""

    component: str
    values: np.ndarray = field()  # field(): dict.values of the FrameMapping base is no default
    loglik: np.ndarray
    estimate: float
    loglik_max: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({self.component: self.values, "loglik": self.loglik})

    def __str__(self) -> str:
        head = (f"Profile log-likelihood of {self.component} (estimate {self.estimate:.4f}, "
                f"logLik {self.loglik_max:.4f})")
        return head + "\n" + self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Plot the profile (matplotlib) into ``ax`` or a new figure; returns the Figure."""
        return plot_profile(self, ax=ax, **kwargs).figure


def profile(fit: Any, component: str, *, values: Any = None, steps: int = 20) -> ProfileLikelihood:
    """Profile log-likelihood of ``component`` over ``values`` (default: around its interval)."""
    names = component_names(fit)
    aliases = {n.replace("2", "^2", 1): n for n in names if not is_correlation(n)}
    name = aliases.get(component, component)
    if name not in names:
        raise ModelSpecificationError(f"unknown component {component!r}; the model has {', '.join(names)}")
    index = names.index(name)
    if fit._comps.fixed[index]:
        raise ModelSpecificationError(f"component {name!r} was held fixed, so it has no profile")
    est = float(fit._comps.values[index])
    if values is None:
        values = _default_grid(fit, index, est, steps)
    grid = np.asarray(values, dtype=float)
    ll = np.empty(grid.size)
    start = fit._comps.values
    for j, v in enumerate(grid):
        res = profile_ll(fit, index, float(v), start)
        ll[j] = np.nan if res is None else res[0]
    return ProfileLikelihood(name, grid, ll, est, fit.loglik)


def _default_grid(fit: Any, index: int, est: float, steps: int) -> np.ndarray:
    """metafor's default ``xlim``: ``[est / 4, max(0.1, 4 est)]`` for variances, ``est -+ 0.5`` for rho."""
    if fit._layout.is_rho()[index]:
        lo, hi = max(-0.99999, est - 0.5), min(0.99999, est + 0.5)
    else:
        lo, hi = max(0.0, est / 4), max(0.1, est * 4)
    return np.linspace(lo, hi, steps)
