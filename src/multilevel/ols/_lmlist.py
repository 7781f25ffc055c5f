"""``lm_list``: one ordinary least-squares fit per group (lme4's ``lmList``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy
import scipy.linalg

from .._data import as_dataframe, check_columns, drop_missing, offending_rows, row_labels
from .._display import FrameMapping, TextReport
from .._exceptions import DataError, FormulaError, NotFittedError
from .._protocol import FitProtocol, confint_frame, parse_level, tidy_frame
from .._rformat import format_num, render_table
from ..formula._contrasts import check_contrasts
from ..formula._quoting import r_name
from ._lm import LinearModel, lm
from ._summary import deparse_call, deparse_formula

__all__ = ["LmList", "LmListSummary", "lm_list"]


def _split_group(formula: str) -> tuple[str, str]:
    """``"y ~ x | g"`` -> (``"y ~ x"``, ``"g"``), splitting at the last top-level ``|``;
    a backtick-quoted group (```my group```) is the column ``my group``."""
    depth, bar = 0, -1
    for i, ch in enumerate(formula):
        depth += (ch == "(") - (ch == ")")
        if ch == "|" and depth == 0:
            bar = i
    if bar < 0:
        raise FormulaError("lm_list() needs a grouping factor: write the formula as 'y ~ x | group'",
                           formula, len(formula))
    model, group = formula[:bar].strip(), formula[bar + 1:].strip()
    if "~" not in model or not group:
        raise FormulaError("lm_list() formulas look like 'y ~ x | group'", formula, bar)
    if len(group) > 2 and group[0] == group[-1] == "`":
        group = group[1:-1]
    return model, group


def _unscaled_se(fit: LinearModel) -> pd.Series:
    """sqrt(diag((X'X)^-1)) over the columns that are not aliased (NaN for aliased ones); defined
    also for a group without residual degrees of freedom, whose own standard errors are NaN."""
    X = fit.design.expand(fit.design.frame.X)[:, ~fit.fit.aliased]
    r = scipy.linalg.qr(X, mode="r")[0][: X.shape[1]]
    rinv = scipy.linalg.solve_triangular(r, np.eye(X.shape[1]))
    out = np.full(len(fit.names), np.nan)
    out[~fit.fit.aliased] = np.sqrt((rinv**2).sum(axis=1))
    return pd.Series(out, index=list(fit.names))


@dataclass(frozen=True, eq=False, repr=False)
class LmList(FitProtocol, TextReport):
    """Separate linear models, one per level of a grouping factor (returned by :func:`lm_list`).

    ``len(fits)`` is the number of groups, ``fits["Oakwood"]`` the fit of one group
    (a :class:`LinearModel`, or None if the group could not be fitted), iteration
    gives the group labels, :attr:`coef` the table of coefficients (groups x terms).

    Examples
    --------
    >>> import multilevel as ml
    >>> fits = ml.lm_list("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
    >>> fits.coef.round(3).head(3)
             (Intercept)    Days
    Subject
    308          244.193  21.765
    309          205.055   2.262
    310          203.484   6.115
    """

    formula: str
    group: str
    groups: tuple[Any, ...]
    fits: tuple[LinearModel | None, ...]
    data_name: str = "data"
    contrasts: tuple[tuple[str, str], ...] = ()

    @property
    def response(self) -> str:
        """The response as written in the formula (from the first group that could be fitted)."""
        fitted = next((f for f in self.fits if f is not None), None)
        if fitted is None:
            raise NotFittedError("no group of this lm_list could be fitted")
        return fitted.response

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.groups)

    def __getitem__(self, key: Any) -> LinearModel | None:
        if key in self.groups:
            return self.fits[self.groups.index(key)]
        if isinstance(key, (int, np.integer)) and -len(self) <= key < len(self):
            return self.fits[key]
        raise KeyError(f"no group {key!r}; groups are {', '.join(map(str, self.groups))}")

    def items(self) -> Iterator[tuple[Any, LinearModel | None]]:
        """``(group, fit)`` pairs in the order of the groups (``None`` for a group without a fit).

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lm_list("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> [(group, round(float(fit.params["Days"]), 3)) for group, fit in list(fits.items())[:2]]
        [('308', 21.765), ('309', 2.262)]
        """
        return zip(self.groups, self.fits)

    @property
    def coef(self) -> pd.DataFrame:
        """Coefficients, one row per group (NaN where a group could not estimate a term)."""
        names: list[str] = []
        for fit in self.fits:
            for n in fit.names if fit is not None else ():
                if n not in names:
                    names.append(n)
        rows = [fit.coef.reindex(names) if fit is not None else pd.Series(np.nan, index=names)
                for fit in self.fits]
        return pd.DataFrame(rows, index=pd.Index([str(g) for g in self.groups], name=self.group),
                            columns=names)

    @property
    def model_data(self) -> pd.DataFrame | None:
        """The rows the groups' fits used, one group after the other (None if not kept)."""
        parts = [f.model_data for f in self.fits if f is not None]
        if not parts or any(p is None for p in parts):
            return None
        return pd.concat(parts)

    @property
    def df_resid(self) -> int:
        """Pooled residual degrees of freedom: rows minus coefficients per group, aliased
        coefficients counted, as lme4's ``pooledSD`` (a rank-deficient group lowers the total)."""
        return int(sum(f.nobs - len(f.names) for f in self.fits if f is not None))

    @property
    def nobs(self) -> int:
        return int(sum(f.nobs for f in self.fits if f is not None))

    @property
    def pooled_sd(self) -> float:
        """Residual standard deviation pooled over the groups: sqrt(sum RSS / sum df)."""
        rss = sum(float(f.fit.residuals @ f.fit.residuals) for f in self.fits if f is not None)
        return float(np.sqrt(rss / self.df_resid)) if self.df_resid > 0 else float("nan")

    def confint(self, level: float = 0.95, *, pool: bool = False) -> pd.DataFrame:
        """t-based confidence intervals per group and term (lme4's ``confint`` of an ``lmList``).

        ``level`` is a proportion (0.95) or a percentage (95). Each group's interval uses its own
        residual SD and degrees of freedom, or with ``pool`` the pooled SD on the pooled degrees
        of freedom (lme4's ``pool = TRUE``). Returns columns ``lower`` and ``upper``, indexed by
        (group, term); groups that could not be fitted are left out.

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lm_list("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> fits.confint(90).loc[("308", "Days"), ["lower", "upper"]].round(4).tolist()
        [11.9828, 31.5466]
        """
        level = parse_level(level)
        frames = {}
        for g, fit in self.items():
            if fit is None:
                continue
            if not pool:
                frames[str(g)] = fit.confint(level)
                continue
            q = scipy.stats.t.ppf(0.5 + level / 2, self.df_resid) if self.df_resid > 0 else np.nan
            half = q * self.pooled_sd * _unscaled_se(fit)
            frames[str(g)] = confint_frame(fit.names, ["fixed"] * len(fit.names), fit.coef, fit.coef - half,
                                           fit.coef + half, level=level, method="t")
        out = pd.concat(frames, names=[self.group, "term"])
        out.attrs.update(level=level, method="t", pool=bool(pool))
        return out

    # ------------------------------------------------------------------ the protocol verbs
    def _fitted(self) -> list[tuple[str, LinearModel]]:
        return [(str(g), f) for g, f in self.items() if f is not None]

    def _index(self) -> pd.MultiIndex:
        return pd.MultiIndex.from_tuples([(g, n) for g, f in self._fitted() for n in f.names],
                                         names=[self.group, "term"])

    @property
    def params(self) -> pd.Series:
        """Coefficients of every group, indexed by (group, term); groups not fitted are left out."""
        return pd.Series(np.concatenate([f.fit.coef for _, f in self._fitted()]), index=self._index())

    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of :attr:`params`: block diagonal, each group's own ``vcov()``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lm_list("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> fits.vcov().shape
        (36, 36)
        """
        blocks = [f.vcov().to_numpy() for _, f in self._fitted()]
        index = self._index()
        return pd.DataFrame(scipy.linalg.block_diag(*blocks), index=index, columns=index)

    @property
    def num_params(self) -> int:
        """Coefficients that are not aliased and one residual SD per group."""
        return int(sum(f.num_params for _, f in self._fitted()))

    @property
    def loglik(self) -> float:
        """Sum of the groups' log-likelihoods (each group with its own residual SD)."""
        return float(sum(f.loglik for _, f in self._fitted()))

    def tidy(self, level: float = 0.95, *, pool: bool = False) -> pd.DataFrame:
        """One row per (group, term): the groups' t tests and intervals (``pool``: with the pooled SD
        on the pooled degrees of freedom, as :meth:`summary`); a ``group`` column comes last.

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lm_list("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> fits.tidy().round(3)[["term", "group", "estimate", "p_value"]].head(2)
                  term group  estimate  p_value
        0  (Intercept)   308   244.193    0.000
        1         Days   308    21.765    0.003
        """
        level = parse_level(level)
        table = self.summary(pool=pool).to_frame()
        index = self._index()
        rows = table.reindex(index.swaplevel()).to_numpy()
        ci = self.confint(level, pool=pool)
        return tidy_frame(index.get_level_values("term"), ["fixed"] * len(index), rows[:, 0], rows[:, 1],
                          rows[:, 2], rows[:, 3], ci["lower"], ci["upper"], level=level,
                          group=index.get_level_values(self.group))

    def predict(self, newdata: Any = None) -> pd.Series:
        """Predictions of each row by its group's model (fitted values when ``newdata`` is None).

        ``newdata`` needs the grouping column; a row of a group that was not fitted raises
        :class:`~multilevel.DataError`.

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lm_list("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> fits.predict({"Days": [0, 1], "Subject": ["308", "309"]}).round(2).tolist()
        [244.19, 207.32]
        """
        if newdata is None:
            return pd.concat([f.fitted for _, f in self._fitted()]).rename("fit")
        df = as_dataframe(newdata, what="newdata")
        check_columns(df, [self.group], context="newdata of lm_list().predict()")
        fits = dict(self._fitted())
        keys = df[self.group].astype(str).to_numpy()
        unknown = np.array([k not in fits for k in keys])
        if unknown.any():
            raise DataError(f"newdata has rows of groups without a fitted model in column {self.group!r}: "
                            + offending_rows(unknown, row_labels(df, len(df)), keys))
        out = np.empty(len(df))
        for key in dict.fromkeys(keys):
            rows = keys == key
            out[rows] = fits[key].predict(df[rows]).to_numpy()
        return pd.Series(out, index=df.index, name="fit")

    def summary(self, *, pool: bool = True) -> LmListSummary:
        """Per-group coefficient tables; with ``pool`` the standard errors use the pooled SD (as lmList).

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lm_list("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> fits.summary().to_frame().round(3).head(2)
                           Estimate  Std. Error  t value  Pr(>|t|)
        term        group
        (Intercept) 308     244.193      15.042   16.234       0.0
                    309     205.055      15.042   13.632       0.0
        """
        return LmListSummary.from_list(self, pool=pool)

    def _call(self) -> list[str]:
        """The call's lines as R's ``deparse`` (``print`` joins them with blanks)."""
        args: list[tuple[str, object]] = [("formula", deparse_formula(f"{self.formula} | {r_name(self.group)}")),
                                          ("data", self.data_name)]
        if self.contrasts:
            args.append(("contrasts", ("list", [(r_name(k), f'"{v}"') for k, v in self.contrasts])))
        return deparse_call("lmList", args)

    def __str__(self) -> str:
        coef = self.coef
        cols = {c: format_num(coef[c].to_numpy(), 7) for c in coef.columns}
        return "\n".join([
            "Call: " + " ".join(self._call()),
            "Coefficients:", render_table(cols, list(coef.index)), "",
            f"Degrees of freedom: {self.nobs} total; {self.df_resid} residual",
            f"Residual standard error: {format_num([self.pooled_sd], 7)[0]}"])


@dataclass(frozen=True, eq=False, repr=False)
class LmListSummary(TextReport, FrameMapping):
    """Coefficient tables of an :class:`LmList`; ``to_frame()`` is long (term, group) x statistic."""

    title: tuple[str, ...]
    table: pd.DataFrame
    sigma: float
    df_resid: int

    @classmethod
    def from_list(cls, fits: LmList, *, pool: bool) -> LmListSummary:
        frames = []
        for g, fit in fits.items():
            if fit is None:
                continue
            se, df = fit.se, fit.df_resid
            if pool:
                se, df = se * fits.pooled_sd / fit.sigma if fit.df_resid > 0 else se * np.nan, fits.df_resid
            t = fit.coef / se
            p = 2.0 * scipy.stats.t.sf(np.abs(t), df)
            frames.append(pd.DataFrame({"term": list(fit.names), "group": str(g), "Estimate": fit.coef.to_numpy(),
                                        "Std. Error": se.to_numpy(), "t value": t.to_numpy(),
                                        "Pr(>|t|)": np.asarray(p, dtype=float)}))
        table = pd.concat(frames, ignore_index=True)
        order = list(dict.fromkeys(table["term"]))
        table["term"] = pd.Categorical(table["term"], categories=order)
        table = table.sort_values("term", kind="stable").set_index(["term", "group"])
        title = ("Call:", f"  Model: {deparse_formula(fits.formula + ' | ' + fits.group)}", f"   Data: {fits.data_name}")
        return cls(title, table, fits.pooled_sd if pool else float("nan"), fits.df_resid)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def __str__(self) -> str:
        lines = [*self.title, "", "Coefficients:"]
        for term in self.table.index.get_level_values("term").categories:
            block = self.table.xs(term, level="term")
            lines.append(f"   {term}")
            cols = {c: format_num(block[c].to_numpy(), 7) for c in block.columns}
            lines.append(render_table(cols, list(block.index)))
        if np.isfinite(self.sigma):
            lines += ["", f"Residual standard error: {format_num([self.sigma], 7)[0]} on "
                          f"{self.df_resid} degrees of freedom"]
        return "\n".join(lines)


def lm_list(formula: str, data: Any, *, data_name: str = "data", contrasts: dict | None = None) -> LmList:
    """Fit one linear model per group (lme4's ``lmList``).

    .. math::

        y_{ij} = x_{ij}^\\top \\beta_j + \\varepsilon_{ij}, \\qquad
        \\varepsilon_{ij} \\sim N(0, \\sigma_j^2), \\quad j = 1, \\dots, J

    Parameters
    ----------
    formula : str
        ``"y ~ x | group"``: the model, a bar, and the grouping column.
    data : DataFrame or mapping
    data_name : str
        Name of the data shown in printed calls.
    contrasts : dict, optional
        Coding of factors in every group's model, as in :func:`lm` (lme4's
        ``lmList`` passes ``contrasts`` on to ``lm``).

    Returns
    -------
    LmList
        Groups follow the factor's level order (sorted values for other columns);
        levels without rows are left out.

    Examples
    --------
    >>> import multilevel as ml
    >>> fits = ml.lm_list("test_score ~ study_time | school", ml.datasets.load("students"))
    >>> len(fits)
    3
    >>> fits.coef.round(3)
               (Intercept)  study_time
    school
    Hillcrest       38.496       1.126
    Oakwood         21.376       2.008
    St Mary’s       21.084       2.948
    """
    model, group = _split_group(formula)
    df = as_dataframe(data)
    check_columns(df, [group], context="grouping of lm_list()")
    df, _ = drop_missing(df, [group])
    col = df[group]
    levels = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.unique())
    groups, fits = [], []
    for level in levels:
        subset = df[(col == level).to_numpy()]
        if len(subset) == 0:
            continue
        groups.append(level)
        label = f'"{level}"' if isinstance(level, str) else str(level)
        fits.append(lm(model, subset, data_name=f"{data_name}[{data_name}${group} == {label}, ]",
                       contrasts=contrasts))
    return LmList(model, group, tuple(groups), tuple(fits), data_name, check_contrasts(contrasts))
