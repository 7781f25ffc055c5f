"""The cluster of each estimate of an rma_mv fit, as ``robust()`` and the cluster-level diagnostics read it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..._data import offending_rows
from ..._exceptions import DataError

__all__ = ["cluster_values"]


def cluster_values(fit: Any, cluster: Any) -> np.ndarray:
    """The cluster of each estimate used in the fit (a column of the fit's data or one value per row)."""
    eff = fit._eff
    if isinstance(cluster, str):
        if eff.frame is None or cluster not in eff.frame.columns:
            raise DataError(f"cluster column {cluster!r} not found in the data of the fit")
        values = eff.frame[cluster].to_numpy()
    else:
        values = np.asarray(cluster)
        n_all = eff.k + eff.num_dropped
        if values.ndim == 1 and values.shape[0] == n_all and n_all != eff.k:
            values = values[eff.rows]
        if values.ndim != 1 or values.shape[0] != eff.k:
            raise DataError(f"cluster has {values.shape[0] if values.ndim else 1} values but the model has "
                            f"{eff.k} estimates")
    missing = pd.isna(pd.Series(values)).to_numpy()
    if missing.any():
        raise DataError(f"the cluster variable has missing values; {offending_rows(missing, list(eff.slab))}")
    return values
