"""Detection of perfect separation in binomial GLMMs (arrays only).

A fixed-effects column ``x`` separates the response when every observation with a
success lies on one side of every observation with a failure: ``max x[failures] <=
min x[successes]`` or the reverse. The likelihood then increases without bound
as the coefficient of ``x`` grows (complete separation, or quasi-complete when
the two sides share a boundary value, as for an indicator column whose 1-rows are
all successes), so the estimate is driven by the optimizer's stopping rule. The
check is the univariate one (Albert and Anderson 1984): separation that needs a
combination of columns is not detected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Separation", "find_separation"]


@dataclass(frozen=True)
class Separation:
    """Column ``name`` separates the response: successes where it is ``side`` (">=" or "<=") ``cut``."""

    name: str
    side: str
    cut: float

    def message(self) -> str:
        other = "<" if self.side == ">=" else ">"
        return (f"perfect separation: all successes have {self.name} {self.side} {self.cut:.6g} and all failures "
                f"{self.name} {other}= {self.cut:.6g}; the estimate of {self.name!r} diverges and its standard "
                "error is meaningless (drop or merge the predictor's levels, or use a penalized model)")


def find_separation(X: np.ndarray, names, y: np.ndarray, weights: np.ndarray) -> list[Separation]:
    """Columns of ``X`` (not constant) that separate successes (``y * weights > 0``) from failures."""
    success = (y * weights) > 0
    failure = ((1.0 - y) * weights) > 0
    if not success.any() or not failure.any():
        return []
    out = []
    for j, name in enumerate(names):
        x = X[:, j]
        if np.ptp(x) == 0:
            continue
        xs, xf = x[success], x[failure]
        if xf.max() <= xs.min():
            out.append(Separation(name, ">=", float(xs.min())))
        elif xs.max() <= xf.min():
            out.append(Separation(name, "<=", float(xs.max())))
    return out
