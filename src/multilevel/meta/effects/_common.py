"""What every escalc measure shares: its arguments, the zero-cell rule, ``vtype`` and the checks.

A measure is an array function ``fn(args, options) -> (yi, vi)``; ``args`` is an
:class:`EscalcArgs` (metafor's argument names mapped to float arrays, with the row labels
used in messages) and ``options`` an :class:`EscalcOptions` (``add``, ``to``,
``drop00``, ``vtype``). Each family module (``_tables``, ``_paired``, ``_means``,
``_onegroup``, ``_correlations``, ``_rates``, ``_alpha``) exports a ``MEASURES`` dict.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln

from ..._data import offending_rows, outside_stacklevel, warn_dropped
from ..._exceptions import ArgumentError, DataError, MissingDataWarning

__all__ = ["EscalcArgs", "EscalcOptions", "Measure", "hedges_correction", "add_to_cells", "vtypes", "wmean",
           "incomplete_tables", "warn_double_zero",
           "TO_CHOICES", "VTYPES"]

TO_CHOICES = ("all", "only0", "if0all", "none")
VTYPES = ("UB", "LS", "LS2", "HO", "ST", "CS", "AV", "AVHO")


@dataclass(frozen=True)
class EscalcOptions:
    """The options of a measure: zero-cell addition (``add``, ``to``, ``drop00``) and ``vtype``."""

    add: float = 0.5
    to: str = "only0"
    drop00: bool = False
    vtype: Any = "LS"
    measure: str = ""


Measure = Callable[["EscalcArgs", EscalcOptions], "tuple[np.ndarray, np.ndarray]"]


def hedges_correction(m: Any) -> np.ndarray:
    """Exact small-sample bias correction of Hedges' g, ``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``.

    ``NaN`` for ``m <= 1``.

    Examples
    --------
    >>> round(float(hedges_correction(20)), 6)
    0.961945
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))
    return np.where(m <= 1, np.nan, out)


class EscalcArgs(dict):
    """The escalc arguments by metafor's names, with the row labels used in messages.

    ``derived`` maps an argument computed from others (``bi = n1i - ai``) to how it was computed.
    """

    def __init__(self, values: dict[str, np.ndarray], labels: list[str]):
        super().__init__(values)
        self.labels = labels
        self.derived: dict[str, str] = {}

    def derive(self, name: str, left: str, right: str) -> None:
        """Fill ``name`` with ``left - right`` where it is not given (metafor's ``replmiss``)."""
        if self.get(left) is None or self.get(right) is None:
            return
        computed = np.asarray(self[left], dtype=float) - np.asarray(self[right], dtype=float)
        if self.get(name) is None:
            self[name] = computed
            self.derived[name] = f"{name} (computed as {left} - {right})"
            return
        given = np.asarray(self[name], dtype=float)
        bad = ~np.isnan(given) & ~np.isnan(computed) & (given != computed)
        if np.any(bad):
            raise DataError(f"{left} is not equal to {name} + {right}; {offending_rows(bad, self.labels, self[left])}")
        self[name] = np.where(np.isnan(given), computed, given)

    def need(self, names: tuple[str, ...], measure: str) -> tuple[np.ndarray, ...]:
        """The arrays ``names`` as floats; a DataError names those not given."""
        missing = [n for n in names if self.get(n) is None]
        if missing:
            raise DataError(f"measure {measure!r} needs {', '.join(names)}; missing: {', '.join(missing)}")
        return tuple(np.asarray(self[n], dtype=float) for n in names)

    def check(self, names: tuple[str, ...], bad: Callable[[np.ndarray], np.ndarray], problem: str) -> None:
        """Raise a DataError naming the argument, rows and values where ``bad`` holds (NaN passes)."""
        for name in names:
            if self.get(name) is not None:
                self.check_values(self.derived.get(name, name), np.asarray(self[name], dtype=float), bad, problem)

    def check_values(self, label: str, x: np.ndarray, bad: Callable[[np.ndarray], np.ndarray], problem: str) -> None:
        """Raise a DataError naming ``label``, the rows and the values of ``x`` where ``bad`` holds."""
        with np.errstate(invalid="ignore"):
            mask = bad(x) & ~np.isnan(x)
        if np.any(mask):
            raise DataError(f"{label} has {problem}; {offending_rows(mask, self.labels, x)}")

    def check_pair(self, small: str, large: str, problem: str) -> None:
        """Raise a DataError where ``small > large`` (event counts above group sizes)."""
        x, n = np.asarray(self[small], dtype=float), np.asarray(self[large], dtype=float)
        with np.errstate(invalid="ignore"):
            mask = x > n
        if np.any(mask):
            raise DataError(f"{small} is larger than {self.derived.get(large, large)} ({problem}); "
                            f"{offending_rows(mask, self.labels, x)}")


def add_to_cells(cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """metafor's zero-cell rule: add ``add`` to all cells of the rows with a zero (``"only0"``),
    of all rows (``"all"``), of all rows if any has a zero (``"if0all"``) or never (``"none"``)."""
    if to == "none" or add == 0:
        return list(cells)
    if to == "all":
        return [c + add for c in cells]
    zero = np.zeros(np.shape(cells[0]), dtype=bool)
    for c in cells:
        zero |= c == 0
    if to == "if0all":
        zero[:] = zero.any()
    return [np.where(zero, c + add, c) for c in cells]


def drop_double_zero(pairs: list[tuple[np.ndarray, np.ndarray]], cells: list[np.ndarray]) -> list[np.ndarray]:
    """Set ``cells`` to NaN in the rows where both members of any pair are zero (``drop00``)."""
    both = np.zeros(np.shape(cells[0]), dtype=bool)
    for x, y in pairs:
        both |= (x == 0) & (y == 0)
    return [np.where(both, np.nan, c) for c in cells]


def incomplete_tables(cells: list[np.ndarray], args: "EscalcArgs", given: dict[str, Any]) -> np.ndarray:
    """Mask of the tables with a missing count (dropped from a fit as metafor's ``na.omit``), after
    the one :class:`~multilevel.MissingDataWarning` naming the inputs, the count and the rows.

    ``given`` maps the argument names to what the user gave (a column name or an array), so the
    warning names columns as the user wrote them.
    """
    missing = np.any([np.isnan(c) for c in cells], axis=0)
    if missing.any():
        named = [value if isinstance(value, str) else name for name, value in given.items()
                 if value is not None and name in args and np.isnan(np.asarray(args[name], float)[missing]).any()]
        warn_dropped([args.labels[i] for i in np.flatnonzero(missing)], missing.size, columns=named)
    return missing


def warn_double_zero(mask: np.ndarray, labels: list[str], what: str) -> None:
    """The warning of tables dropped for having no events (or no non-events) in both groups."""
    m = int(mask.sum())
    if m:
        rows = ", ".join(labels[i] for i in np.flatnonzero(mask)[:10]) + (" ..." if m > 10 else "")
        warnings.warn(f"{m} table{'s' if m > 1 else ''} with no events (or no non-events) in both groups "
                      f"dropped from {what}: row{'s' if m > 1 else ''} {rows}", MissingDataWarning,
                      stacklevel=outside_stacklevel())


def vtypes(options: EscalcOptions, k: int, allowed: tuple[str, ...]) -> np.ndarray:
    """The variance type of each row (a string or one per row); ArgumentError outside ``allowed``."""
    v = np.atleast_1d(np.asarray(options.vtype, dtype=object))
    if v.size == 1:
        v = np.repeat(v, k)
    if v.size != k:
        raise ArgumentError(f"vtype has {v.size} values but there are {k} studies")
    bad = sorted({str(x) for x in v if x not in allowed})
    if bad:
        raise ArgumentError(f"vtype {', '.join(map(repr, bad))} is not available for measure "
                            f"{options.measure!r}; use one of {', '.join(allowed)}")
    return v.astype(str)


def by_vtype(vt: np.ndarray, choices: dict[str, Callable[[], np.ndarray]]) -> np.ndarray:
    """The variances chosen row by row from ``choices`` (computed only for the vtypes in use)."""
    out = np.full(vt.shape, np.nan)
    for name in np.unique(vt):
        keys = [key for key in choices if name in key.split("|")]
        rows = vt == name
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.broadcast_to(choices[keys[0]](), vt.shape)[rows]
    return out


def wmean(x: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean over the rows where both ``x`` and ``w`` are present (metafor's ``.wmean``)."""
    ok = ~(np.isnan(x) | np.isnan(w))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))
