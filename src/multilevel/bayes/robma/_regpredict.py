r"""Predictions of a RoBMA meta-regression at moderator values (RoBMA's ``predict.RoBMA.reg``).

At row :math:`x` of moderator values (coded as at fit time: a continuous moderator standardized
with the mean and SD of the fitted data, a factor in the meandif contrast of its fitted levels)
each posterior draw of a component model gives the mean effect

.. math::

    \mu(x) = \mu + x'\beta \qquad (\text{``type="terms"``}),

and, with the heterogeneity, the true effect of a new study :math:`\theta(x) = \mu(x) + \tau z`,
:math:`z \sim N(0, 1)` (``type="effect"``), both on the Cohen's d scale of the priors and then
transformed to the output scale as mu is (Cohen's d to r, z or log odds ratio exactly). The
model-averaged prediction is the union of the models' weighted draws with weights times the
posterior model probabilities; the conditional one keeps the models with an effect (the
intercept), as RoBMA conditions on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..._data import as_dataframe, check_columns, is_polars, offending_rows, polars_to_pandas, row_labels
from ..._exceptions import ArgumentError, DataError, ModelSpecificationError
from ...formula._factors import as_r_factors
from ...formula._quoting import quote_dotted
from ._averaging import exact_transform
from ._moderators import ModeratorDesign

__all__ = ["moderator_matrix", "prediction_samples", "PREDICT_TYPES"]

PREDICT_TYPES = ("terms", "effect")
_CHUNK = 2**23  # elements of the (draws, rows) array evaluated at once


def _frame(newdata) -> pd.DataFrame:
    if is_polars(newdata):
        return polars_to_pandas(newdata)
    if not isinstance(newdata, (pd.DataFrame, dict)):
        raise ArgumentError(f"newdata must be a data frame (or a dict of columns) with the moderators, "
                            f"got {type(newdata).__name__}")
    df = as_dataframe(newdata, what="newdata")
    if df.empty:
        raise DataError("newdata has no rows")
    return df


def moderator_matrix(design: ModeratorDesign, newdata) -> tuple[np.ndarray, list]:
    """The coded moderators (rows of ``newdata``, the columns of ``design.X``) and the index.

    Continuous moderators are standardized with the fitted mean and SD, factors coded with the
    fitted levels' meandif contrast. Missing columns raise :class:`UnknownColumnError`, missing
    values and factor levels not seen when fitting :class:`DataError` naming the rows."""
    from ...formula._design import formula_variables  # formulaic: loaded only for predictions
    from ...formula._names import _level_label

    df = _frame(newdata)
    labels = row_labels(df, len(df))
    text = design.formula.strip()
    rhs = quote_dotted(text[1:] if text.startswith("~") else text)
    used = sorted(formula_variables(rhs, design.formula))
    check_columns(df, used, context="newdata (the moderators of mods)")
    missing = df[used].isna().any(axis=1).to_numpy()
    if missing.any():
        raise DataError(f"newdata has missing moderator values ({', '.join(used)}); "
                        f"{offending_rows(missing, labels)}")
    for term in design.terms:
        if term.kind == "factor" and term.name in df.columns:
            values = [_level_label(v) for v in df[term.name]]
            bad = np.array([v not in term.levels for v in values])
            if bad.any():
                raise DataError(f"newdata column {term.name!r} has levels not seen when fitting (fitted "
                                f"levels: {', '.join(term.levels)}); {offending_rows(bad, labels, values)}")
    source = design.source.rebuild(as_r_factors(df[used]), "moderators of mods")
    blocks = [_code(term, source[:, list(term.source_columns)]) for term in design.terms]
    return np.column_stack(blocks), list(df.index)


def _code(term, M: np.ndarray) -> np.ndarray:
    if term.kind == "continuous":
        return ((M[:, 0] - term.center) / term.scale)[:, None]
    index = np.where(M.sum(axis=1) > 0.5, 1 + np.argmax(M, axis=1), 0) if M.shape[1] else np.zeros(len(M), int)
    return term.contrast[index]


def prediction_samples(fit, X: np.ndarray, *, kind: str, conditional: bool, scale: str | None):
    """Weighted samples of the prediction at each row of ``X``: a generator of ``(values (r, N),
    weights (N,))`` over chunks of r rows (values on the output ``scale``, one row per row of X)."""
    if kind not in PREDICT_TYPES:
        raise ArgumentError(f"type must be 'terms' (the mean effect) or 'effect' (the true effect of a new "
                            f"study), got {kind!r}")
    parts = [(res, p) for res, p in zip(fit.models, fit.post_prob)
             if p > 0 and (not conditional or res.model.effect)]
    if not parts:
        raise ModelSpecificationError("no model of the ensemble includes the effect (conditional=True)")
    w = np.concatenate([p * res.weights for res, p in parts])
    w = w / w.sum()
    mu = np.concatenate([res.samples["mu"] for res, _ in parts])
    beta = np.concatenate([res.samples["beta"] for res, _ in parts])
    tau = np.concatenate([res.samples["tau"] for res, _ in parts]) if kind == "effect" else None
    rng = np.random.default_rng(fit.seed + 13)
    step = max(1, _CHUNK // mu.size)
    for start in range(0, X.shape[0], step):
        values = mu[None, :] + X[start:start + step] @ beta.T
        if tau is not None:
            values = values + tau[None, :] * rng.standard_normal(values.shape)
        yield (values if scale is None else exact_transform(values, scale)), w
