"""What one likelihood evaluation of ``rma_mv`` returns, and small helpers shared by the dense and
the rank-one evaluations (``_core`` and ``_rank1``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LOG_2PI", "Evaluation"]

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One evaluation of the likelihood at given variance components (internal)."""

    ll_ml: float
    ll_reml: float
    beta: np.ndarray
    vb: np.ndarray
    grad: np.ndarray | None
    info: np.ndarray | None
    Minv: np.ndarray | None
    Py: np.ndarray | None
    newton: bool = False


def _positive_definite(a: np.ndarray) -> bool:
    if a.shape[0] == 1:
        return bool(a[0, 0] > 0)
    if a.shape[0] == 2:
        return bool(a[0, 0] > 0 and a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0] > 0)
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    return True
