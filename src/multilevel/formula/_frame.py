"""The model frame: what a formula and a table become before any numerics.

This is the contract between the formula layer (which builds it) and the
numerical cores (which read only its arrays). Everything here is plain NumPy
arrays, tuples and strings; ``fixed_spec`` is kept so that ``predict(newdata)``
rebuilds the same fixed-effects columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._newdata import new_fixed_design, new_random_design

__all__ = ["RandomEffectsBlock", "ModelFrame"]


@dataclass(frozen=True, eq=False)
class RandomEffectsBlock:
    """One random-effects term ``(lhs | group)`` after expansion of ``||`` and ``/``.

    Attributes
    ----------
    group : str
        Grouping name as lme4 prints it (``"Subject"``, ``"cask:batch"``).
        Terms split by ``||`` each get their own block with the same ``group``.
    levels : pandas.Index
        Levels of the grouping factor that occur in the data, in R's order
        (factor level order; for ``a:b``, R's interaction order). The values
        are those of the column (categories, numbers or strings); for ``a:b``
        they are R's labels ``"a1:b1"``.
    codes : numpy.ndarray of int, shape (n,)
        0-based level of every row.
    Z : numpy.ndarray of float, shape (n, k)
        Raw model matrix of the term's left-hand side (before expansion by levels).
    column_names : tuple of str
        Names of the k columns as lme4 prints them (``"(Intercept)"``, ``"Days"``).
    lhs_spec : object
        What is needed to rebuild ``Z`` for new data (see :meth:`ModelFrame.random_design`);
        ``None`` for an intercept-only term. Internal.
    term : str
        The term after expansion as lme4 names it (``"0 + Days | Subject"``, the
        names of lme4's ``Ztlist``).
    group_expr : object
        The parsed grouping expression, to find the groups of new data. Internal.

    Examples
    --------
    >>> import multilevel as ml
    >>> mf = ml.model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> block = mf.blocks[0]
    >>> block.group, block.column_names, len(block.levels), block.Z.shape
    ('Subject', ('(Intercept)', 'Days'), 18, (180, 2))
    """

    group: str
    levels: pd.Index
    codes: np.ndarray
    Z: np.ndarray
    column_names: tuple[str, ...]
    lhs_spec: Any = None
    term: str = ""
    group_expr: Any = None

    @property
    def num_levels(self) -> int:
        return len(self.levels)

    @property
    def num_columns(self) -> int:
        return self.Z.shape[1]


@dataclass(frozen=True, eq=False)
class ModelFrame:
    """A formula evaluated on a table.

    Attributes
    ----------
    formula : str
        The formula as the user wrote it.
    response : str
        Name of the response column.
    y : numpy.ndarray, shape (n,)
    X : numpy.ndarray, shape (n, p)
        Fixed-effects design after dropping columns that make it rank deficient.
    fixed_names : tuple of str
        Coefficient names as R prints them (``"(Intercept)"``, ``"schoolOakwood"``,
        ``"recipeB:temperature185"``).
    dropped_fixed : tuple of str
        Columns dropped for rank deficiency (a RankDeficiencyWarning was issued).
    blocks : tuple of RandomEffectsBlock
        Random-effects terms in lme4's order (decreasing number of levels, as lme4 orders them).
    row_index : pandas.Index
        Index labels of the rows used (after dropping rows with missing values).
    n_dropped_na : int
        Number of rows dropped for missing values (``len(dropped_rows)`` when the rows are known).
    fixed_spec : object
        Kept to rebuild ``X`` for new data with :meth:`fixed_design` (a formulaic
        ``ModelSpec``). Internal.
    extras : dict
        Free-form information for callers (unused by the formula layer).
    fixed_keep : numpy.ndarray of int or None
        Positions of ``X``'s columns in the full design (before dropping columns
        for rank deficiency; names ``fixed_names`` and ``dropped_fixed`` merged
        in R's column order). ``None`` when nothing was dropped.
    fixed_columns : numpy.ndarray of int or None
        Indices of the columns of ``fixed_spec``'s matrix in R's column order
        (R orders the factors of an interaction by their first appearance in the
        formula). ``None`` when formulaic's order is R's. Internal.
    dropped_rows : tuple of str
        Labels of the rows dropped for missing values or undefined transformations (as
        :func:`~multilevel._data.row_labels` names them: 1-based positions, or the data's index).

    Examples
    --------
    >>> import multilevel as ml
    >>> mf = ml.model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> mf.X.shape, mf.fixed_names
    ((180, 2), ('(Intercept)', 'Days'))
    >>> [block.group for block in mf.blocks]
    ['Subject']
    """

    formula: str
    response: str
    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple[str, ...]
    dropped_fixed: tuple[str, ...]
    blocks: tuple[RandomEffectsBlock, ...]
    row_index: pd.Index
    n_dropped_na: int = 0
    fixed_spec: Any = None
    extras: dict = field(default_factory=dict)
    fixed_keep: np.ndarray | None = None
    fixed_columns: np.ndarray | None = None
    dropped_rows: tuple[str, ...] = ()

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4's ``ngrps``), terms of one factor counted once."""
        out: dict[str, int] = {}
        for blk in self.blocks:
            out.setdefault(blk.group, blk.num_levels)
        return out

    @property
    def theta_names(self) -> list[str]:
        """lme4's names of the covariance parameters theta, term by term: the lower triangle of
        each term's relative covariance factor by columns (``Subject.(Intercept)``,
        ``Subject.Days.(Intercept)``, ``Subject.Days``)."""
        out = []
        for blk in self.blocks:
            cn = blk.column_names
            for j in range(len(cn)):
                for i in range(j, len(cn)):
                    out.append(f"{blk.group}.{cn[i]}" if i == j else f"{blk.group}.{cn[i]}.{cn[j]}")
        return out

    @property
    def nobs(self) -> int:
        return self.y.shape[0]

    def scale_message(self, tol: float = 1e3) -> str | None:
        """lme4's ``check.scaleX`` message if the predictors are on very different scales, else None.

        lme4 (``lmerControl(check.scaleX = "warning")``) warns when the standard
        deviation of a non-0/1 column of ``X``, or the ratio of two such standard
        deviations, is above ``tol`` or below ``1/tol``. ``lmer`` uses this;
        ``lm`` does not.

        Examples
        --------
        >>> import multilevel as ml
        >>> sleep = ml.datasets.load("sleepstudy")
        >>> ml.model_frame("Reaction ~ Days + (1 | Subject)", sleep).scale_message() is None
        True
        >>> sleep["ms"] = sleep["Days"] * 86400000.0
        >>> ml.model_frame("Reaction ~ ms + (1 | Subject)", sleep).scale_message()
        'Some predictor variables are on very different scales: consider rescaling'
        """
        X = self.X
        if X.shape[0] < 2:
            return None
        columns = [X[:, j] for j in range(X.shape[1])]  # one column at a time: fast on a tall X
        continuous = [c for c in columns if not (c.min() >= 0.0 and c.max() <= 1.0 and np.all((c == 0.0) | (c == 1.0)))]
        if not continuous:
            return None
        log_sd = np.log(np.array([np.std(c, ddof=1) for c in continuous]))
        spread = np.abs(log_sd[:, None] - log_sd[None, :])
        if np.any(np.abs(log_sd) > np.log(tol)) or np.any(spread > np.log(tol)):
            return "Some predictor variables are on very different scales: consider rescaling"
        return None

    def fixed_design(self, newdata) -> np.ndarray:
        """Fixed-effects design for new data, with the columns of ``X`` (dropped columns removed).

        Raises :class:`~multilevel.DataError` for factor levels not seen in
        fitting and :class:`~multilevel.UnknownColumnError` for missing columns.

        Examples
        --------
        >>> import multilevel as ml
        >>> mf = ml.model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> mf.fixed_design({"Days": [0.0, 10.0]})
        array([[ 1.,  0.],
               [ 1., 10.]])
        """
        return new_fixed_design(self, newdata)

    def random_design(self, newdata, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, Z)`` of random-effects block ``i`` for new data.

        ``codes`` are 0-based positions in ``blocks[i].levels``, -1 for groups
        not seen in fitting; ``Z`` is the raw (n x k) matrix of the term.

        Examples
        --------
        >>> import multilevel as ml
        >>> mf = ml.model_frame("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> codes, Z = mf.random_design({"Days": [1.0, 2.0], "Subject": ["309", "999"]}, 0)
        >>> codes
        array([ 1, -1])
        >>> Z
        array([[1., 1.],
               [1., 2.]])
        """
        return new_random_design(self, newdata, i)
