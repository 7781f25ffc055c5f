"""Which coefficients the omnibus test covers: metafor's ``btt`` argument."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..._exceptions import ArgumentError

__all__ = ["resolve_btt"]


def resolve_btt(btt: Any, names: list[str] | tuple[str, ...], intercept: bool) -> np.ndarray:
    """0-based positions of the coefficients tested by the omnibus test.

    ``None`` tests every coefficient but the intercept (all of them without
    one, the single coefficient of a one-column model). Integers are 1-based
    positions as in metafor (sorted, duplicates dropped; negative values
    exclude positions, and positive and negative values cannot be mixed); a
    string selects the coefficients whose names match it (a regular
    expression, as R's ``grep``).

    Examples
    --------
    >>> resolve_btt(None, ["intrcpt", "ablat", "year"], True).tolist()
    [1, 2]
    >>> resolve_btt([3], ["intrcpt", "ablat", "year"], True).tolist()
    [2]
    >>> resolve_btt(-1, ["intrcpt", "ablat", "year"], True).tolist()
    [1, 2]
    >>> resolve_btt("alloc", ["intrcpt", "allocrandom", "allocsystematic", "year"], True).tolist()
    [1, 2]
    """
    p = len(names)
    if btt is None:
        return np.arange(1, p) if (intercept and p > 1) else np.arange(p)
    if isinstance(btt, str):
        try:
            hits = [j for j, n in enumerate(names) if re.search(btt, n)]
        except re.error as err:
            raise ArgumentError(f"btt={btt!r} is not a valid regular expression: {err}") from None
        if not hits:
            raise ArgumentError(f"btt={btt!r} matches none of the coefficients ({', '.join(names)})")
        return np.asarray(hits)
    values = np.atleast_1d(np.asarray(btt))
    if values.dtype == bool or values.dtype.kind not in "iuf" or not np.all(np.isfinite(values)):
        raise ArgumentError(f"btt must be coefficient positions (1 to {p}) or a name pattern, not {btt!r}")
    pos = np.unique(np.round(values).astype(int))
    if (pos < 0).any() and (pos > 0).any():
        raise ArgumentError(f"btt cannot mix positive and negative positions: {pos.tolist()}")
    if (pos < 0).any():
        keep = np.setdiff1d(np.arange(1, p + 1), -pos)
    else:
        keep = pos[(pos >= 1) & (pos <= p)]
    if keep.size == 0:
        raise ArgumentError(f"btt={btt!r} names no existing coefficient (positions 1 to {p})")
    return keep - 1
