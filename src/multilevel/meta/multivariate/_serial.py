r"""Serial and spatial correlation structures of ``rma_mv`` (metafor's AR, HAR, CAR and SP* structs).

For an ``~ inner | outer`` term the covariance of two true effects in the same
outer level is

.. math:: G_{ab} = \tau_a \tau_b \, f(d_{ab}; \rho),

where ``d`` is a *lag* between the inner levels and ``f`` a correlation
function:

* ``AR`` / ``HAR``: ``d`` is the distance between the positions of the levels
  of the inner factor (sorted as R's ``factor()``), ``f = rho^d`` with
  ``-1 <= rho <= 1`` (one ``tau2``, or one per level for ``HAR``);
* ``CAR``: ``d`` is the difference of the (numeric) times, ``f = rho^d`` with
  ``0 <= rho <= 1``;
* ``SPEXP``, ``SPGAU``, ``SPLIN``, ``SPRAT``, ``SPSPH``: ``d`` is the distance
  between the coordinates of the estimates (euclidean, maximum or manhattan,
  or a given distance matrix), ``rho > 0`` is a range and with ``u = d / rho``
  ``f`` is ``exp(-u)``, ``exp(-u^2)``, ``(1 - u) [u < 1]``,
  ``1 / (1 + u^2)`` or ``(1 - 1.5 u + 0.5 u^3) [u < 1]``.

The optimiser works on ``atanh(rho)`` (AR, HAR), ``logit(rho)`` (CAR) and
``log(rho)`` (spatial), as metafor does; :func:`corr_derivs` returns ``f``
and its first two derivatives with respect to that unconstrained value.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..._exceptions import DataError, ModelSpecificationError, MultilevelWarning
from ._terms import GTerm, _factor, _label

__all__ = ["SERIAL", "SPATIAL", "KIND", "serial_term", "corr_derivs", "valid_rho"]

SERIAL = ("AR", "HAR", "CAR")
SPATIAL = ("SPEXP", "SPGAU", "SPLIN", "SPRAT", "SPSPH")
# scale of the correlation parameter: 1 atanh (in [-1, 1]), 2 logit (in [0, 1]), 3 log (a positive range)
KIND = {"AR": 1, "HAR": 1, "CAR": 2, **{s: 3 for s in SPATIAL}}
DISTANCES = ("euclidean", "maximum", "manhattan")


def valid_rho(struct: str, rho: float) -> bool:
    """Whether ``rho`` lies in the parameter space of the structure."""
    if not np.isfinite(rho):
        return False
    if struct in SPATIAL:
        return rho > 0
    if struct == "CAR":
        return 0 <= rho <= 1
    return -1 <= rho <= 1


def corr_derivs(struct: str, lag: np.ndarray, rho: float,
                derivs: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``f(lag; rho)`` and its first and second derivatives in the unconstrained parameter."""
    if struct in SPATIAL:
        return _spatial(struct, lag / rho, derivs)
    r = float(rho)
    R = np.power(r, lag)
    if not derivs:
        return R, None, None
    if struct == "CAR":  # d log(rho) / d logit(rho) = 1 - rho
        d1 = lag * (1.0 - r) * R
        return R, d1, d1 * (lag * (1.0 - r) - r)
    s = 1.0 - r * r  # AR, HAR: d rho / d atanh(rho) = 1 - rho^2
    pow1 = np.where(lag >= 1, np.power(r, np.maximum(lag - 1, 0)), 0.0)
    pow2 = np.where(lag >= 2, np.power(r, np.maximum(lag - 2, 0)), 0.0)
    return R, lag * pow1 * s, lag * s * ((lag - 1) * pow2 * s - 2.0 * R)


def _spatial(struct: str, u: np.ndarray, derivs: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Spatial correlation of ``u = d / rho``; derivatives in ``log(rho)`` (``du / dlog rho = -u``)."""
    inside = (u < 1).astype(float)
    if struct == "SPEXP":
        f = np.exp(-u)
        d1, d2 = u * f, (u * u - u) * f
    elif struct == "SPGAU":
        v = u * u
        f = np.exp(-v)
        d1, d2 = 2 * v * f, (4 * v * v - 4 * v) * f
    elif struct == "SPLIN":
        f = (1 - u) * inside
        d1, d2 = u * inside, -u * inside
    elif struct == "SPRAT":
        v = u * u
        f = 1 / (1 + v)
        d1, d2 = 2 * v * f * f, -4 * v * (1 - v) * f ** 3
    else:  # SPSPH
        f = (1 - 1.5 * u + 0.5 * u ** 3) * inside
        d1, d2 = (1.5 * u - 1.5 * u ** 3) * inside, (-1.5 * u + 4.5 * u ** 3) * inside
    return (f, d1, d2) if derivs else (f, None, None)


def _numeric(frame: pd.DataFrame, col: str, struct: str) -> np.ndarray:
    values = frame[col]
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        raise ModelSpecificationError(f"the inner term {col!r} must be numeric for struct={struct!r} "
                                      f"(it is {values.dtype}); with factor() or text levels use 'AR' or 'HAR'")
    return values.to_numpy(dtype=float)


def serial_term(frame: pd.DataFrame, cols: tuple[str, ...], label: str, outer: str, struct: str,
                corr: str, as_factor: bool, dist: Any = None, full: pd.DataFrame | None = None) -> Any:
    """The :class:`~._terms.GTerm` of an AR / HAR / CAR / spatial ``~ inner | outer`` term.

    ``full`` (the rows before incomplete ones were dropped) gives the levels of
    AR / HAR terms: as metafor, a level whose estimates were all dropped keeps
    its position (it still separates its neighbours) and, for HAR, its tau2,
    fixed to 0.
    """
    ocodes, olev = _factor(frame[outer])
    if struct in SPATIAL:
        icodes, ilev, lag, rho_init = _spatial_levels(frame, cols, struct, dist)
    else:
        icodes, ilev, lag = _serial_levels(frame, full, cols, struct, label, as_factor)
        rho_init = None
    icodes = np.asarray(icodes).reshape(-1)
    L = len(ilev)
    tau_map = np.arange(L) if struct == "HAR" else np.zeros(L, dtype=int)
    fixed0 = np.zeros(1, dtype=bool)
    single_outer = len(olev) == len(frame)
    levels_k = np.bincount(icodes, minlength=L)
    tau_zero = None
    if struct == "HAR" and (levels_k == 0).any():
        tau_zero = levels_k == 0
        gone = ", ".join(lv for lv, z in zip(ilev, tau_zero) if z)
        warnings.warn(f"level(s) {gone} of {label!r} lost all their estimates; their tau2 is fixed to 0",
                      MultilevelWarning, stacklevel=4)
    L = int((levels_k > 0).sum()) if struct in SERIAL else L
    if struct in SPATIAL and (L == 1 or single_outer):
        raise ModelSpecificationError(f"cannot fit struct={struct!r}: "
                                      + ("the inner term has a single level" if L == 1 else
                                         f"each level of {outer!r} holds a single estimate"))
    if L == 1 or single_outer:
        fixed0[:] = True
        why = "the inner factor has a single level" if L == 1 else \
            "each level of the outer factor contains a single estimate"
        warnings.warn(f"{why}, so {corr} is fixed to 0", MultilevelWarning, stacklevel=4)
    n = len(ilev)
    present = np.zeros((n, len(olev)))
    present[icodes, ocodes] = 1.0
    return GTerm(struct, label, outer, icodes, np.asarray(ocodes).reshape(-1), tuple(ilev), tuple(olev),
                 tau_map, -np.ones((n, n), dtype=int), int(tau_map.max()) + 1, 1, fixed0, levels_k,
                 (present @ present.T).astype(int), lag=lag, kind=KIND[struct], rho_init=rho_init,
                 inner_cols=tuple(cols), tau2_fixed_zero=tau_zero)


def _serial_levels(frame: pd.DataFrame, full: pd.DataFrame | None, cols: tuple[str, ...], struct: str,
                   label: str, as_factor: bool) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Codes, levels and lags of an AR / HAR (level positions) or CAR (time differences) term."""
    if len(cols) > 1:
        raise ModelSpecificationError(f"struct={struct!r} takes a single inner variable, not {' + '.join(cols)}")
    if struct != "CAR":
        icodes, ilev = _ar_levels(frame, full, cols[0])
        pos = np.arange(len(ilev), dtype=float)
        return icodes, ilev, np.abs(pos[:, None] - pos[None, :])
    if as_factor:
        raise ModelSpecificationError(f"the inner variable of struct='CAR' must be numeric times, not {label}")
    t = np.round(_numeric(frame, cols[0], struct), 8)
    times, icodes = np.unique(t, return_inverse=True)
    return icodes, [_label(v) for v in times], np.abs(times[:, None] - times[None, :])


def _ar_levels(frame: pd.DataFrame, full: pd.DataFrame | None, col: str) -> tuple[np.ndarray, list[str]]:
    """Codes of the rows among the levels of the inner factor in all rows (``full``), and those levels."""
    codes, levels = _factor(frame[col])
    if full is None or len(full) == len(frame):
        return codes, levels
    all_levels = _factor(full[col].dropna())[1]
    where = np.array([all_levels.index(lv) for lv in levels])
    return where[codes], all_levels


def _spatial_levels(frame: pd.DataFrame, cols: tuple[str, ...], struct: str,
                    dist: Any) -> tuple[np.ndarray, list[str], np.ndarray, float]:
    """Codes and labels of the distinct coordinates, their distances and metafor's start for rho.

    The start is the lower quartile of the distances between all pairs of
    estimates (metafor's ``rho.init``); when that is 0 (many shared
    coordinates), the lower quartile of the non-zero distances.
    """
    if isinstance(dist, (pd.DataFrame, np.ndarray)):
        if len(cols) != 1:
            raise ModelSpecificationError("a distance matrix in dist needs a single inner variable")
        codes, labels = _factor(frame[cols[0]])
        lag = _distance_matrix(dist, labels, cols[0])
    else:
        method = "euclidean" if dist is None else str(dist)
        if method not in DISTANCES:
            raise ModelSpecificationError(f"dist must be one of {', '.join(DISTANCES)} or a distance matrix, "
                                          f"not {dist!r}")
        coords = np.column_stack([_numeric(frame, c, struct) for c in cols])
        uniq, codes = np.unique(coords, axis=0, return_inverse=True)
        labels = [" + ".join(_label(v) for v in row) for row in uniq]
        lag = _distances(uniq, method)
    codes = np.asarray(codes).reshape(-1)
    rows = lag[codes[:, None], codes[None, :]][np.tril_indices(codes.size, -1)]
    start = float(np.quantile(rows, 0.25)) if rows.size else 1.0
    if not start > 0:
        pos = rows[rows > 0]
        start = float(np.quantile(pos, 0.25)) if pos.size else 1.0
    return codes, labels, lag, start


def _distances(x: np.ndarray, method: str) -> np.ndarray:
    diff = np.abs(x[:, None, :] - x[None, :, :])
    if method == "euclidean":
        return np.sqrt((diff ** 2).sum(axis=2))
    if method == "maximum":
        return diff.max(axis=2)
    return diff.sum(axis=2)


def _distance_matrix(dist: Any, labels: list[str], col: str) -> np.ndarray:
    if isinstance(dist, np.ndarray):
        raise ModelSpecificationError("a distance matrix in dist must be a DataFrame whose index and columns "
                                      f"name the values of {col!r}")
    names = [str(v) for v in dist.index]
    arr = dist.to_numpy(dtype=float)
    if arr.shape[0] != arr.shape[1] or [str(c) for c in dist.columns] != names:
        raise DataError("the distance matrix in dist must be square with the same row and column labels")
    if np.isnan(arr).any() or not np.allclose(arr, arr.T):
        raise DataError("the distance matrix in dist must be symmetric without missing values")
    missing = [lv for lv in labels if lv not in names]
    if missing:
        raise DataError(f"the distance matrix in dist has no rows for the values {', '.join(missing[:10])} "
                        f"of {col!r}")
    pos = [names.index(lv) for lv in labels]
    return arr[np.ix_(pos, pos)]
