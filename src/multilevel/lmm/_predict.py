"""Prediction and simulation from a fitted linear mixed model (lme4's ``predict`` and ``simulate``).

``predict`` adds to ``X beta`` the conditional modes of the random-effects
terms selected by ``re_form`` (all of them by default, none for ``"~0"``);
rows of ``newdata`` whose group was not seen in fitting get the population
value of that term when ``allow_new_levels`` is true (lme4's rule), and an
error otherwise.

``simulate`` draws new responses from the fitted model: spherical random
effects ``u ~ N(0, I)``, ``b = Lambda u``, ``y = X beta + Z b + sigma e``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._data import as_dataframe
from .._exceptions import DataError, FormulaError
from ..formula import parse_formula

__all__ = ["predict", "simulate", "simulate_responses", "selected_blocks"]

_NO_RE = {"~0", "~ 0", "NA", "na", "~-1"}


def selected_blocks(fit, re_form: Any) -> list[int]:
    """Indices of the random-effects blocks ``re_form`` keeps (None: all, ``"~0"``/``"NA"``: none)."""
    blocks = fit.frame.blocks
    if re_form is None:
        return list(range(len(blocks)))
    if isinstance(re_form, float) and np.isnan(re_form):
        return []
    text = str(re_form).strip()
    if text in _NO_RE or text.replace(" ", "") in {"~0", "~-1"}:
        return []
    if not text.startswith("~"):
        raise FormulaError("re_form must be None, '~0' or a one-sided formula of random-effects terms "
                           "such as '~(1 | Subject)'", text, 0)

    parsed = parse_formula(".re_form_response " + text)
    keep = []
    for term in parsed.terms:
        same_group = [i for i, b in enumerate(blocks) if b.group == term.group_name]
        exact = [i for i in same_group if blocks[i].term.replace(" ", "") == str(term).replace(" ", "")]
        chosen = exact or same_group
        if not chosen:
            raise FormulaError(f"re_form term ({term}) is not a random-effects term of the model", text, 0)
        keep += [i for i in chosen if i not in keep]
    return sorted(keep)


def predict(fit, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False) -> pd.Series:
    """See :meth:`LinearMixedModel.predict`."""
    keep = selected_blocks(fit, re_form)
    beta = fit.fixef.to_numpy()
    b = fit._estimate.solution.b
    if newdata is None:
        if len(keep) == len(fit.frame.blocks):
            return fit.fitted.rename("predict")
        eta = fit.frame.X @ beta
        if fit.offset is not None:
            eta = eta + fit.offset.to_numpy()
        for i in keep:
            blk = fit.frame.blocks[i]
            eta = eta + np.einsum("nk,nk->n", blk.Z, b[i][blk.codes])
        return pd.Series(eta, index=fit.frame.row_index, name="predict")
    df = as_dataframe(newdata, what="newdata")
    eta = fit.frame.fixed_design(df) @ beta + _new_offset(fit, df)
    for i in keep:
        codes, Z = fit.frame.random_design(df, i)
        new = codes < 0
        if new.any() and not allow_new_levels:
            group = fit.frame.blocks[i].group
            labels = _new_labels(df, fit.frame.blocks[i], new)
            raise DataError(f"new levels detected in newdata for {group}: {', '.join(labels)} "
                            "(use allow_new_levels=True to predict them at the population level)")
        contrib = np.einsum("nk,nk->n", Z, b[i][np.where(new, 0, codes)])
        eta = eta + np.where(new, 0.0, contrib)
    return pd.Series(eta, index=df.index, name="predict")


def _new_offset(fit, df: pd.DataFrame) -> np.ndarray | float:
    """The offset of ``newdata`` rows: the formula's ``offset()`` terms and a named ``offset`` argument."""
    wo = fit._weights
    if wo is None or wo.offset is None:
        return 0.0
    if wo.offset_is_values:
        raise DataError("the model's offset was given as values, which cannot be evaluated on newdata; give "
                        "it as a column name or expression (offset='column') to predict for newdata")
    from ..glmm._response import _evaluate

    flat = df.reset_index(drop=True)
    exprs = list(wo.formula_offsets) + ([wo.offset_name] if wo.offset_name else [])
    return sum(_evaluate(e, flat, fit.formula) for e in exprs)


def _new_labels(df: pd.DataFrame, block, new: np.ndarray) -> list[str]:
    names = block.group_expr.variables() if block.group_expr is not None else (block.group,)
    rows = df.loc[new, [n for n in names if n in df.columns]].astype(str)
    labels = rows.apply(lambda r: ":".join(r), axis=1).unique()
    return [str(v) for v in labels[:10]]


def simulate_responses(problem, theta: np.ndarray, beta: np.ndarray, sigma: float, nsim: int,
                       rng: np.random.Generator) -> np.ndarray:
    """``(n, nsim)`` responses drawn from the model at (theta, beta, sigma) (arrays only)."""
    templates = problem.templates(theta)
    eta = problem.X @ beta
    out = np.empty((problem.n, nsim))
    for s in range(nsim):
        y = eta.copy()
        for term, T in zip(problem.terms, templates):
            u = rng.standard_normal((term.num_levels, term.k))
            bt = sigma * (u @ T.T)
            y += np.einsum("nk,nk->n", term.Z, bt[term.codes])
        out[:, s] = y + sigma * rng.standard_normal(problem.n)
    return out


def simulate(fit, nsim: int = 1, seed: Any = None) -> pd.DataFrame:
    """See :meth:`LinearMixedModel.simulate`."""
    if int(nsim) < 1:
        raise DataError(f"nsim must be a positive integer, got {nsim}")
    rng = np.random.default_rng(seed)
    sims = simulate_responses(fit._problem, fit.theta, fit.fixef.to_numpy(), fit.sigma, int(nsim), rng)
    wo = fit._weights
    if wo is not None:  # the problem is of sqrt(w) (y - offset): back to the response's scale
        if wo.weights is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                sims = sims / wo.sqrt_weights[:, None]
        if wo.offset is not None:
            sims = sims + wo.offset[:, None]
    return pd.DataFrame(sims, index=fit.frame.row_index, columns=[f"sim_{i + 1}" for i in range(int(nsim))])
