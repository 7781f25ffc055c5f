"""Effect sizes and their sampling variances, as metafor's ``escalc``.

Each measure is a small array function ``(arguments) -> (yi, vi)``; :func:`escalc`
reads the arguments (column names of ``data`` or arrays), applies metafor's
zero-cell rule to count data and appends ``yi`` and ``vi`` to the data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from ..._data import as_dataframe, offending_rows, refuse_infinite, row_labels
from ..._exceptions import DataError
from ..shared._input import column_values

__all__ = ["escalc", "hedges_correction"]

_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i", "ri", "ni", "xi", "mi",
         "x1i", "x2i", "t1i", "t2i")


def hedges_correction(m: Any) -> np.ndarray:
    """Exact small-sample bias correction of Hedges' g, ``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``.

    ``NaN`` for ``m <= 1``.

    Examples
    --------
    >>> round(float(hedges_correction(20)), 6)
    0.961945
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))
    return np.where(m <= 1, np.nan, out)


class _Args(dict):
    """The escalc arguments by metafor's names, with the row labels used in messages.

    ``derived`` maps an argument computed from others (``bi = n1i - ai``) to how it was computed.
    """

    def __init__(self, values: dict[str, np.ndarray], labels: list[str]):
        super().__init__(values)
        self.labels = labels
        self.derived: dict[str, str] = {}

    def derive(self, name: str, left: str, right: str) -> None:
        self[name] = self[left] - self[right]
        self.derived[name] = f"{name} (computed as {left} - {right})"

    def check(self, names: tuple[str, ...], bad: Callable[[np.ndarray], np.ndarray], problem: str) -> None:
        """Raise a DataError naming the argument, rows and values where ``bad`` holds (NaN passes)."""
        for name in names:
            x = np.asarray(self[name], dtype=float)
            mask = bad(x)
            if np.any(mask):
                raise DataError(f"{self.derived.get(name, name)} has {problem}; "
                                f"{offending_rows(mask, self.labels, x)}")


def _need(a: dict[str, np.ndarray], names: tuple[str, ...], measure: str) -> None:
    missing = [n for n in names if a.get(n) is None]
    if missing:
        raise DataError(f"measure {measure!r} needs {', '.join(names)}; missing: {', '.join(missing)}")


def _two_by_two(a: _Args, add: float, to: str, measure: str) -> tuple[np.ndarray, ...]:
    """Cell counts of 2x2 tables (bi, di from n1i, n2i if needed) after the zero-cell addition."""
    if a.get("bi") is None and a.get("n1i") is not None and a.get("ai") is not None:
        a.derive("bi", "n1i", "ai")
    if a.get("di") is None and a.get("n2i") is not None and a.get("ci") is not None:
        a.derive("di", "n2i", "ci")
    _need(a, ("ai", "bi", "ci", "di"), measure)
    a.check(("ai", "bi", "ci", "di"), lambda c: c < 0, "negative counts")
    cells = [np.asarray(a[n], dtype=float) for n in ("ai", "bi", "ci", "di")]
    return _add_to_cells(cells, add, to)


def _add_to_cells(cells: list[np.ndarray], add: float, to: str) -> tuple[np.ndarray, ...]:
    if to == "all":
        return tuple(c + add for c in cells)
    if to in ("only0", "if0all"):
        zero = np.zeros(cells[0].shape, dtype=bool)
        for c in cells:
            zero |= c == 0
        if to == "if0all":
            zero[:] = zero.any()
        return tuple(np.where(zero, c + add, c) for c in cells)
    if to == "none":
        return tuple(cells)
    raise DataError(f"to must be 'all', 'only0', 'if0all' or 'none', not {to!r}")


def _table_measure(measure: str) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def fn(a: _Args, add: float, to: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
        ai, bi, ci, di = _two_by_two(a, add, to, measure)
        n1, n2 = ai + bi, ci + di
        p1, p2 = ai / n1, ci / n2
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "RR":
                return np.log(p1) - np.log(p2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2
            if measure == "OR":
                return np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)), 1 / ai + 1 / bi + 1 / ci + 1 / di
            if measure == "RD":
                if vtype == "UB":
                    return p1 - p2, p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
                return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
            ni = n1 + n2
            xt, yt = ai + ci, bi + di
            expected = xt * n1 / ni
            var = xt * yt * (n1 / ni) * (n2 / ni) / (ni - 1)
            return (ai - expected) / var, 1 / var
    return fn


def _means(a: _Args, measure: str) -> tuple[np.ndarray, ...]:
    _need(a, ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"), measure)
    a.check(("sd1i", "sd2i"), lambda s: s < 0, "negative standard deviations")
    a.check(("n1i", "n2i"), lambda n: n <= 0, "group sizes <= 0")
    m1, m2, s1, s2, n1, n2 = (np.asarray(a[n], dtype=float) for n in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    return m1, m2, s1, s2, n1, n2


def _smd(a: _Args, add: float, to: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
    m1, m2, s1, s2, n1, n2 = _means(a, "SMD")
    m = n1 + n2 - 2
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
    cm = hedges_correction(m)
    yi = cm * (m1 - m2) / sp
    if vtype == "UB":
        return yi, 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * cm**2)) * yi**2
    return yi, 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))


def _md(a: _Args, add: float, to: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
    m1, m2, s1, s2, n1, n2 = _means(a, "MD")
    if vtype == "HO":
        sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
        return m1 - m2, sp2 * (1 / n1 + 1 / n2)
    return m1 - m2, s1**2 / n1 + s2**2 / n2


def _rom(a: _Args, add: float, to: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
    m1, m2, s1, s2, n1, n2 = _means(a, "ROM")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(m1 / m2), s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)


def _cor(measure: str) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def fn(a: _Args, add: float, to: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
        _need(a, ("ri", "ni"), measure)
        a.check(("ri",), lambda r: np.abs(r) > 1, "correlations > 1 or < -1")
        a.check(("ni",), lambda n: n <= 0, "sample sizes <= 0")
        ri, ni = np.asarray(a["ri"], dtype=float), np.asarray(a["ni"], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "ZCOR":
                yi, vi = np.arctanh(ri), 1 / (ni - 3)
            else:
                yi, vi = ri.copy(), (1 - ri**2) ** 2 / (ni - 1)
        return yi, np.where(ni <= 3, np.nan, vi)
    return fn


def _proportion(measure: str) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def fn(a: _Args, add: float, to: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
        if a.get("mi") is None and a.get("ni") is not None and a.get("xi") is not None:
            a.derive("mi", "ni", "xi")
        _need(a, ("xi", "mi"), measure)
        a.check(("xi", "mi"), lambda c: c < 0, "negative counts")
        xi, mi = (np.asarray(a[n], dtype=float) for n in ("xi", "mi"))
        xi, mi = _add_to_cells([xi, mi], add, to)
        ni = xi + mi
        p = xi / ni
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "PLO":
                return np.log(p / (1 - p)), 1 / xi + 1 / mi
            if vtype == "UB":
                return p, p * (1 - p) / (ni - 1)
            return p, p * (1 - p) / ni
    return fn


def _irr(a: _Args, add: float, to: str, vtype: str) -> tuple[np.ndarray, np.ndarray]:
    _need(a, ("x1i", "x2i", "t1i", "t2i"), "IRR")
    a.check(("x1i", "x2i"), lambda c: c < 0, "negative counts")
    a.check(("t1i", "t2i"), lambda t: t <= 0, "person-times <= 0")
    x1, x2, t1, t2 = (np.asarray(a[n], dtype=float) for n in ("x1i", "x2i", "t1i", "t2i"))
    x1, x2 = _add_to_cells([x1, x2], add, to)
    with np.errstate(divide="ignore"):
        return np.log(x1 / t1) - np.log(x2 / t2), 1 / x1 + 1 / x2


_MEASURES: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "SMD": _smd, "MD": _md, "ROM": _rom,
    "OR": _table_measure("OR"), "RR": _table_measure("RR"), "RD": _table_measure("RD"),
    "PETO": _table_measure("PETO"),
    "ZCOR": _cor("ZCOR"), "COR": _cor("COR"),
    "PLO": _proportion("PLO"), "PR": _proportion("PR"), "IRR": _irr,
}


def escalc(measure: str, *, data: Any = None, add: float = 0.5, to: str = "only0", vtype: str = "LS",
           var_names: tuple[str, str] = ("yi", "vi"), **arguments: Any) -> pd.DataFrame:
    r"""Compute effect sizes and sampling variances (metafor's ``escalc``).

    Parameters
    ----------
    measure : str
        ``"SMD"`` (Hedges' g), ``"MD"``, ``"ROM"`` (log ratio of means), ``"OR"``, ``"RR"``,
        ``"RD"``, ``"PETO"`` (log odds ratios), ``"ZCOR"``, ``"COR"``, ``"PLO"`` (logit
        proportion), ``"PR"``, ``"IRR"`` (log incidence rate ratio).
    data : DataFrame, optional
        Table whose columns the arguments name; the result is this table with
        ``yi`` and ``vi`` appended.
    add, to : float, str
        Zero-cell rule for count data: ``add`` is added to every cell of the
        studies with a zero cell (``to="only0"``), to all studies (``"all"``),
        to all studies if any has a zero cell (``"if0all"``) or never (``"none"``).
    vtype : str
        Variance estimator: ``"LS"`` (large sample, default), ``"UB"`` (unbiased,
        SMD / RD / PR), ``"HO"`` (MD assuming equal variances).
    var_names : tuple of str
        Names of the two appended columns.
    **arguments
        metafor's argument names (``ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i,
        ri, ni, xi, mi, x1i, x2i, t1i, t2i``): column names of ``data`` or arrays.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        Unknown measure or argument, inputs of different lengths, infinite inputs,
        negative counts or standard deviations, non-positive sizes or person-times,
        correlations outside [-1, 1]: the message names the argument, the rows
        (1-based, or the index labels of ``data``) and the values. Missing inputs
        give missing ``yi`` and ``vi``, as in metafor.

    Notes
    -----
    For two groups with means :math:`m_1, m_2`, standard deviations
    :math:`s_1, s_2` and sizes :math:`n_1, n_2`, ``"SMD"`` is

    .. math::

        g = c(m) \frac{m_1 - m_2}{s_p}, \quad
        c(m) = \frac{\Gamma(m/2)}{\sqrt{m/2}\,\Gamma((m-1)/2)}, \quad m = n_1 + n_2 - 2,

        v = \frac{1}{n_1} + \frac{1}{n_2} + \frac{g^2}{2 (n_1 + n_2)}.

    For a 2x2 table with cells :math:`a, b, c, d`, ``"RR"`` is
    :math:`\log\frac{a/(a+b)}{c/(c+d)}` with variance
    :math:`1/a - 1/(a+b) + 1/c - 1/(c+d)`.

    Examples
    --------
    >>> import multilevel as ml
    >>> bcg = ml.datasets.load("bcg")
    >>> dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> dat[["yi", "vi"]].round(4).head(3)
           yi      vi
    0 -0.8893  0.3256
    1 -1.5854  0.1946
    2 -1.3481  0.4154
    """
    key = str(measure).upper()
    if key not in _MEASURES:
        raise DataError(f"unknown measure {measure!r}; available: {', '.join(_MEASURES)}")
    unknown = sorted(set(arguments) - set(_ARGS))
    if unknown:
        raise DataError(f"unknown escalc argument(s) {', '.join(unknown)}; use metafor's names "
                        f"({', '.join(_ARGS)})")
    frame = as_dataframe(data) if data is not None else None
    values = {name: column_values(v, frame, role=name) for name, v in arguments.items() if v is not None}
    lengths = {name: np.atleast_1d(v).shape[0] for name, v in values.items()}
    if frame is not None:
        lengths["data"] = len(frame)
    if len(set(lengths.values())) > 1:
        raise DataError("the escalc inputs have different lengths: "
                        + ", ".join(f"{n} has {m}" for n, m in lengths.items()))
    labels = row_labels(frame, max(lengths.values(), default=1))
    for name, v in values.items():
        refuse_infinite(v, name, labels)
    yi, vi = _MEASURES[key](_Args(values, labels), float(add), to, vtype)
    out = frame.copy() if frame is not None else pd.DataFrame(index=pd.RangeIndex(len(yi)))
    out[var_names[0]] = np.asarray(yi, dtype=float)
    out[var_names[1]] = np.asarray(vi, dtype=float)
    return out
