"""Moderators of a RoBMA meta-regression: the data rows and the design, coded as RoBMA.reg codes it.

The formula is evaluated by the package's formula layer (formulaic; R's column names and factor
levels). Each term is one moderator, as in RoBMA.reg:

* a continuous term (one numeric column, possibly a transformation such as ``log(x)``) is
  standardized, :math:`(x - \\bar x) / s_x` with the :math:`n - 1` standard deviation (RoBMA's
  ``standardize_predictors = TRUE``);
* a factor with :math:`L` levels (text, boolean or categorical columns) is coded with the
  "meandif" contrast of BayesTools: an orthonormal basis of the contrasts (the first
  :math:`L - 1` eigenvectors of the centering matrix :math:`I - J/L`) divided by
  :math:`\\sqrt{1 - 1/L}`, so that with independent :math:`N(0, s^2)` coefficients every level's
  deviation from the grand mean is :math:`N(0, s^2)` a priori, whatever the number of levels.

The intercept is the effect mu (the effect at the mean of the continuous moderators, averaged
over the levels of the factors). Interactions are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..._data import as_dataframe, check_columns, drop_missing, row_labels, warn_dropped
from ..._exceptions import ArgumentError, DataError, FormulaError, ModelSpecificationError
from ...formula._quoting import formula_columns

__all__ = ["ModeratorTerm", "ModeratorDesign", "moderator_formula", "moderator_rows", "moderator_design",
           "meandif_contrast"]


def meandif_contrast(num_levels: int) -> np.ndarray:
    """The (L, L - 1) "meandif" contrast matrix (BayesTools' ``contr.meandif``): an orthonormal
    basis of the zero-sum vectors scaled by 1 / sqrt(1 - 1/L), so that C C' = (I - J/L) / (1 - 1/L)
    (unit diagonal: each level's deviation from the mean has the coefficients' prior variance)."""
    L = int(num_levels)
    centering = np.eye(L) - np.full((L, L), 1.0 / L)
    values, vectors = np.linalg.eigh(centering)
    basis = vectors[:, np.argsort(-values, kind="stable")[:L - 1]]
    return basis / np.sqrt(1 - 1 / L)


@dataclass(frozen=True)
class ModeratorTerm:
    """One moderator: its name (the formula term), ``"continuous"`` or ``"factor"``, the columns
    of the design it occupies, and its coding: the mean and SD used to standardize (continuous)
    or the levels and the meandif contrast (factor). Fields are internal."""

    name: str
    kind: str
    columns: tuple[int, ...]
    center: float = 0.0
    scale: float = 1.0
    levels: tuple[str, ...] = ()
    contrast: np.ndarray | None = None
    source_columns: tuple[int, ...] = ()  # its columns in the design built from the formula (``source``)

    @property
    def width(self) -> int:
        return len(self.columns)

    def effect_names(self) -> list[str]:
        """Names of the quantities reported for the term (RoBMA.reg's summary rows)."""
        if self.kind == "continuous":
            return [self.name]
        return [f"{self.name} [dif: {level}]" for level in self.levels]

    def effect_map(self) -> np.ndarray:
        """Matrix mapping the term's coefficients to the reported quantities: the identity for a
        continuous moderator, the contrast (each level's deviation from the mean) for a factor."""
        return np.eye(1) if self.kind == "continuous" else self.contrast


@dataclass(frozen=True)
class ModeratorDesign:
    """The moderators' design ``X`` (k, p) without the intercept and its terms; ``source`` is the
    formula's design before the coding (it rebuilds the formula's columns for new data)."""

    formula: str
    X: np.ndarray
    terms: tuple[ModeratorTerm, ...]
    source: object = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.terms)


def moderator_formula(mods) -> str:
    """A one-sided formula from ``mods``: a formula string, or a list of column names."""
    if isinstance(mods, str):
        text = mods.strip()
        if not text:
            raise FormulaError("mods is an empty formula", mods)
        return text if text.startswith("~") else "~ " + text
    if isinstance(mods, (list, tuple)) and mods and all(isinstance(m, str) for m in mods):
        return "~ " + " + ".join(f"`{m}`" if not m.isidentifier() else m for m in mods)
    raise ArgumentError(f"mods must be a formula string such as '~ x1 + x2' or a list of column names, "
                        f"got {mods!r}")


def _formula_columns(formula: str) -> list[str]:
    try:
        return formula_columns(formula)
    except FormulaError:
        raise
    except Exception as err:  # formulaic raises several parser types
        raise FormulaError(f"cannot parse the formula: {err}", formula) from None


def moderator_rows(yi, vi, sei, mods: str, data, cluster=None):
    """The data table for a regression and the argument names: arrays given for ``yi``, ``vi``,
    ``sei`` or ``cluster`` become columns, rows with a missing moderator are dropped (with the
    package's missing-data warning) and the index names the rows as messages name them (1-based
    positions unless the data carry their own unique labels).

    Returns ``(table, yi, vi, sei, cluster)`` with column names for the four arguments."""
    if data is None:
        raise DataError("mods needs data: give the moderators' table as data=")
    df = as_dataframe(data).copy()
    if isinstance(df.index, pd.RangeIndex) or not df.index.is_unique:
        df.index = pd.RangeIndex(1, len(df) + 1)
    args = {}
    for role, value in (("yi", yi), ("vi", vi), ("sei", sei), ("cluster", cluster)):
        if value is None or isinstance(value, str):
            args[role] = value
            continue
        arr = np.asarray(value)
        if arr.ndim != 1 or len(arr) != len(df):
            raise DataError(f"{role} has shape {arr.shape} but the data have {len(df)} rows")
        df[f".{role}"] = arr
        args[role] = f".{role}"
    variables = _formula_columns(mods)
    check_columns(df, variables, context="mods formula")
    labels = row_labels(df, len(df))
    missing = [c for c in variables if df[c].isna().any()]
    df, dropped = drop_missing(df, variables, warn=False, labels=labels)
    if dropped:
        warn_dropped(dropped, len(labels), columns=missing)
    if df.empty:
        raise DataError(f"every row has a missing value in the moderators {', '.join(missing)}")
    return df, args["yi"], args["vi"], args["sei"], args["cluster"]


def moderator_design(mods: str, df: pd.DataFrame) -> ModeratorDesign:
    """The design of the formula ``mods`` on the rows ``df`` (coded as in the module notes)."""
    from ...formula._design import rhs_design  # formulaic: loaded only for models with moderators

    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            design = rhs_design(mods, df, drop_unused_levels=True)
    except (FormulaError, DataError):
        raise
    except Exception as err:
        raise FormulaError(f"cannot build the moderators' design: {err}", mods) from None
    if "(Intercept)" not in design.names:
        raise FormulaError("the intercept (the effect mu) cannot be removed from a robma meta-regression; "
                           "set prior_effect_null / prior_effect instead", mods)
    spec = design.spec
    position = {int(j): p for p, j in enumerate(design.columns)}  # formulaic column -> design column
    coded = {str(f): state.levels for f, state in spec.factor_contrasts.items()}
    labels = [str(i) for i in df.index]
    blocks, terms, col = [], [], 0
    for term, cols in spec.term_indices.items():
        if str(term) == "1":
            continue
        name = str(term)
        if len(term.factors) > 1:
            raise ModelSpecificationError(
                f"robma does not support interactions in mods (term {name!r}); give each moderator "
                f"as its own term, e.g. '~ x1 + x2'")
        M = design.matrix[:, [position[j] for j in cols]]
        if not np.all(np.isfinite(M)):
            bad = ~np.isfinite(M).all(axis=1)
            rows = ", ".join(lab for lab, b in zip(labels, bad) if b)
            raise DataError(f"the moderator {name!r} is not finite in rows {rows}")
        factor = str(term.factors[0])
        if factor in coded:
            block, term_info = _factor_term(name, M, tuple(str(v) for v in coded[factor]), col)
        else:
            block, term_info = _continuous_term(name, M, col)
        blocks.append(block)
        terms.append(replace(term_info, source_columns=tuple(position[j] for j in cols)))
        col += block.shape[1]
    if not terms:
        raise FormulaError("mods names no moderator (only the intercept)", mods)
    return ModeratorDesign(mods, np.column_stack(blocks), tuple(terms), design)


def _continuous_term(name: str, M: np.ndarray, col: int):
    if M.shape[1] != 1:
        raise ModelSpecificationError(
            f"the moderator {name!r} gives {M.shape[1]} columns; robma takes one column per continuous "
            f"moderator (write each column as its own term)")
    x = M[:, 0]
    center, scale = float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0
    if not scale > 0:
        raise ModelSpecificationError(f"the moderator {name!r} is constant ({center:g} in every row); "
                                      f"it cannot moderate the effect")
    return ((x - center) / scale)[:, None], ModeratorTerm(name, "continuous", (col,), center, scale)


def _factor_term(name: str, M: np.ndarray, levels: tuple[str, ...], col: int):
    """The meandif coding of a factor from its treatment-coded columns (first level all zero)."""
    if M.shape[1] == 0:
        raise ModelSpecificationError(f"the moderator {name!r} is constant (level {levels[0]!r} in every row); "
                                      f"it cannot moderate the effect")
    index = np.where(M.sum(axis=1) > 0.5, 1 + np.argmax(M, axis=1), 0)
    used = np.unique(index)
    if used.size < 2:
        raise ModelSpecificationError(f"the moderator {name!r} is constant (level {levels[used[0]]!r} in "
                                      f"every row); it cannot moderate the effect")
    C = meandif_contrast(len(levels))
    block = C[index]
    return block, ModeratorTerm(name, "factor", tuple(range(col, col + C.shape[1])), levels=levels,
                                contrast=C)
