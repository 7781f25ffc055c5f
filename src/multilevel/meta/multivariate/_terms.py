"""The random-effects terms of ``rma_mv`` (``~ 1 | f`` and ``~ inner | outer``) and R's ``factor()`` levels.

Shared by the structures of ``_structures`` and the serial and spatial ones of ``_serial``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SigmaTerm", "GTerm", "g_arrays"]


@dataclass(frozen=True, eq=False)
class SigmaTerm:
    """A ``~ 1 | f`` variance component: level codes, labels and name (``district/school``)."""

    name: str
    codes: np.ndarray
    levels: tuple[str, ...]

    @property
    def nlevels(self) -> int:
        return len(self.levels)


@dataclass(frozen=True, eq=False)
class GTerm:
    """An ``~ inner | outer`` term with its structure and parameter maps (see ``_core.Batch``)."""

    struct: str
    inner_name: str
    outer_name: str
    inner_codes: np.ndarray
    outer_codes: np.ndarray
    inner_levels: tuple[str, ...]
    outer_levels: tuple[str, ...]
    tau_map: np.ndarray
    rho_map: np.ndarray
    num_tau2: int
    num_rho: int
    rho_fixed_zero: np.ndarray
    levels_k: np.ndarray
    pair_k: np.ndarray
    lag: np.ndarray | None = None
    kind: int = 1
    rho_init: float | None = None
    inner_cols: tuple[str, ...] = ()
    tau2_fixed_zero: np.ndarray | None = None

    @property
    def nlevels(self) -> tuple[int, int]:
        return len(self.inner_levels), len(self.outer_levels)


def _factor(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """R's ``factor(x)`` on the rows given: codes and labels of the levels present."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        used, codes = np.unique(col.cat.codes.to_numpy(), return_inverse=True)
        labels = [_label(col.cat.categories[i]) for i in used]
        return codes.reshape(-1), labels
    values = col.to_numpy()
    if values.dtype == object:
        values = values.astype(str)
    present, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), [_label(v) for v in present]


def _label(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def g_arrays(g: GTerm | None) -> tuple | None:
    """The arrays of a term that ``_core.make_batch`` takes (None without the term)."""
    if g is None:
        return None
    base = (g.inner_codes, g.outer_codes, g.tau_map, g.rho_map, g.num_tau2, g.num_rho)
    return base if g.lag is None else base + (g.lag, g.struct)
