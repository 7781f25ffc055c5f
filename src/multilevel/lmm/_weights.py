"""Prior weights and offsets of linear mixed models (lme4's ``lmer(..., weights =, offset =)`` and
``offset()`` terms in the formula).

With prior weights ``w`` the residuals have variances ``sigma^2 / w_i``, and an
offset ``o`` enters the mean: ``y = o + X beta + Z b + e``. Multiplying each row
by ``sqrt(w_i)`` gives an unweighted model of ``sqrt(w) (y - o)`` on
``sqrt(w) X`` and ``sqrt(w) Z`` with the same parameters, so the numerical core
is unchanged; the deviance and the REML criterion of the original model are
those of the transformed one minus ``sum(log w)`` (lme4's ``ldW``). Fitted values
and response residuals are on the original scale; Pearson residuals are
``sqrt(w) (y - fitted)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._data import as_dataframe, is_polars, polars_to_pandas
from .._exceptions import DataError
from ._pls import PLSProblem, TermStructure

__all__ = ["WeightsOffset", "weighted_frame", "weighted_problem"]


@dataclass(frozen=True, eq=False)
class WeightsOffset:
    """Row-aligned prior ``weights`` and ``offset`` (None when absent), with the names printed on the
    summary's ``Weights:`` and ``Offset:`` lines, the offset expressions of the formula, and whether
    the ``offset`` argument was given as values (then it cannot be evaluated on new data)."""

    weights: np.ndarray | None
    offset: np.ndarray | None
    weights_name: str | None
    offset_name: str | None
    formula_offsets: tuple[str, ...] = ()
    offset_is_values: bool = False

    @property
    def sqrt_weights(self) -> np.ndarray | None:
        return None if self.weights is None else np.sqrt(self.weights)

    @property
    def log_det(self) -> float:
        """``sum(log w)`` over the rows with positive weight (lme4's ``ldW``)."""
        if self.weights is None:
            return 0.0
        w = self.weights[self.weights > 0]
        return float(np.sum(np.log(w)))


def _rows_text(mask: np.ndarray, labels) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(labels[i]) for i in idx[:5])
    return f"row{'s' if idx.size > 1 else ''} {shown}{' ...' if idx.size > 5 else ''}"


def _column(value, name: str, df, pos: np.ndarray, formula: str, labels) -> np.ndarray | None:
    from ..glmm._response import _evaluate

    if value is None:
        return None
    if isinstance(value, str):
        full = _evaluate(value, df.reset_index(drop=True), formula)
    else:
        full = np.asarray(value, dtype=float).ravel()
        if full.shape != (len(df),):
            raise DataError(f"{name} must have one value per row of data ({len(df)}), got {full.size}")
    out = full[pos]
    bad = ~np.isfinite(out)
    if bad.any():
        raise DataError(f"{name} must be finite for the rows used; {_rows_text(bad, labels)} have "
                        f"{out[bad][:5].tolist()}")
    return out


def weighted_frame(formula: str, data, *, weights=None, offset=None, contrasts=None):
    """The model frame of ``formula`` without its ``offset()`` terms, and the :class:`WeightsOffset`
    of the rows used (None when the model has neither)."""
    from ..formula import model_frame

    has_offset_term = isinstance(formula, str) and "offset(" in formula
    if not has_offset_term and weights is None and offset is None:  # the common case: no glmm import
        return model_frame(formula, data, contrasts=contrasts), None
    from ..glmm._response import _evaluate, split_formula

    spec = split_formula(formula) if has_offset_term else None
    if spec is None and weights is None and offset is None:
        return model_frame(formula, data, contrasts=contrasts), None
    df = polars_to_pandas(data) if is_polars(data) else as_dataframe(data)
    text = formula if spec is None else f"{formula[:formula.index('~')].strip()} ~ {spec.rhs}"
    frame = model_frame(text, df, contrasts=contrasts)
    frame = dataclasses.replace(frame, formula=formula)
    pos = np.asarray(df.index.get_indexer(frame.row_index))
    labels = frame.row_index
    w = _column(weights, "weights", df, pos, formula, labels)
    if w is not None and np.any(w < 0):
        raise DataError(f"weights must be non-negative; {_rows_text(w < 0, labels)} have {w[w < 0][:5].tolist()}")
    terms = spec.offsets if spec is not None else ()
    off = None
    for expr in terms:
        off = (0.0 if off is None else off) + _evaluate(expr, df.reset_index(drop=True), formula)[pos]
    extra = _column(offset, "offset", df, pos, formula, labels)
    if extra is not None:
        off = extra if off is None else off + extra
    return frame, WeightsOffset(w, off, weights if isinstance(weights, str) else None,
                                offset if isinstance(offset, str) else None, tuple(terms),
                                offset is not None and not isinstance(offset, str))


def weighted_problem(problem, wo: WeightsOffset):
    """The unweighted problem of ``sqrt(w) (y - o)`` on ``sqrt(w) X`` and ``sqrt(w) Z``."""

    y = problem.y - (0.0 if wo.offset is None else wo.offset)
    sw = wo.sqrt_weights
    if sw is None:
        return type(problem)(problem.X, y, problem.terms)
    terms = [TermStructure(t.codes, t.Z * sw[:, None], t.num_levels) for t in problem.terms]
    return type(problem)(problem.X * sw[:, None], y * sw, terms)
