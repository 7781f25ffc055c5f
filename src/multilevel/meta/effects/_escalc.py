"""Effect sizes and their sampling variances, as metafor's ``escalc``.

Each measure is a small array function ``(arguments, options) -> (yi, vi)`` in a family
module (``_tables``, ``_paired``, ``_means``, ``_onegroup``, ``_correlations``,
``_rates``, ``_alpha``); :func:`escalc` reads the arguments (column names of ``data`` or
arrays), dispatches to the measure and appends ``yi`` and ``vi`` to the data.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..._data import as_dataframe, refuse_infinite, row_labels
from ..._exceptions import ArgumentError, DataError, MissingDataWarning
from ..shared._input import column_values
from . import _alpha, _correlations, _means, _onegroup, _paired, _rates, _tables
from ._common import TO_CHOICES, VTYPES, EscalcArgs, EscalcOptions, Measure, hedges_correction

__all__ = ["escalc", "hedges_correction", "MEASURES", "compute_measure", "read_arguments"]

_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i", "m1i", "m2i", "sd1i", "sd2i",
         "xi", "mi", "ri", "ti", "sdi", "r2i", "ni")

#: every measure by metafor's name.
MEASURES: dict[str, Measure] = {**_tables.MEASURES, **_paired.MEASURES, **_means.MEASURES, **_onegroup.MEASURES,
                                **_correlations.MEASURES, **_rates.MEASURES, **_alpha.MEASURES}
_NO_ADD = _tables.NO_ADD + _rates.NO_ADD
#: measures whose variance alone may be missing (small samples; RTET on the bound +-1).
_VI_ALONE = ("COR", "UCOR", "ZCOR", "RTET")


def _options(measure: str, add: Any, to: str, drop00: bool, vtype: Any) -> EscalcOptions:
    if to not in TO_CHOICES:
        raise ArgumentError(f"to must be one of {', '.join(map(repr, TO_CHOICES))}, not {to!r}")
    bad = sorted({str(v) for v in np.atleast_1d(np.asarray(vtype, dtype=object)) if v not in VTYPES})
    if bad:
        raise ArgumentError(f"unknown vtype {', '.join(map(repr, bad))}; use one of {', '.join(VTYPES)}")
    if add is None:
        add = 0.0 if measure in _NO_ADD else 0.5
    try:
        add = float(add)
    except (TypeError, ValueError):
        raise ArgumentError(f"add must be a number, not {add!r}") from None
    if not np.isfinite(add) or add < 0:
        raise ArgumentError(f"add must be a finite number >= 0, not {add!r}")
    return EscalcOptions(add=add, to=to, drop00=bool(drop00), vtype=vtype, measure=measure)


def compute_measure(measure: str, args: EscalcArgs, options: EscalcOptions) -> tuple[np.ndarray, np.ndarray]:
    """``(yi, vi)`` of ``measure``; infinite or undefined values become NaN, as do negative variances."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        yi, vi = MEASURES[measure](args, options)
    yi, vi = np.array(yi, dtype=float), np.array(vi, dtype=float)
    infinite = np.isinf(yi) | np.isinf(vi)
    if np.any(infinite):
        warnings.warn(f"some {measure} yi or vi values are infinite and were set to missing "
                      f"(rows {', '.join(args.labels[i] for i in np.flatnonzero(infinite)[:10])})",
                      MissingDataWarning, stacklevel=3)
    complete = np.ones(yi.shape, dtype=bool)
    for name in _ARGS:
        if args.get(name) is not None:
            complete &= ~np.isnan(np.asarray(args[name], dtype=float))
    undefined = complete & (np.isnan(yi) | np.isnan(vi))
    if measure in _VI_ALONE:
        undefined &= np.isnan(yi)
    missing = infinite | undefined
    yi[missing], vi[missing] = np.nan, np.nan
    with np.errstate(invalid="ignore"):
        vi[vi < 0] = np.nan
    return yi, vi


def read_arguments(arguments: dict[str, Any], data: Any, *, allowed: tuple[str, ...] = _ARGS,
                   what: str = "escalc") -> tuple[pd.DataFrame | None, EscalcArgs]:
    """The data table (or None) and the arguments as float arrays of one length, with row labels."""
    unknown = sorted(set(arguments) - set(allowed))
    if unknown:
        raise DataError(f"unknown {what} argument(s) {', '.join(unknown)}; use metafor's names "
                        f"({', '.join(allowed)})")
    frame = as_dataframe(data) if data is not None else None
    values = {name: np.atleast_1d(column_values(v, frame, role=name)).astype(float)
              for name, v in arguments.items() if v is not None}
    lengths = {name: v.shape[0] for name, v in values.items()}
    if frame is not None:
        lengths["data"] = len(frame)
    if len(set(lengths.values())) > 1:
        raise DataError(f"the {what} inputs have different lengths: "
                        + ", ".join(f"{n} has {m}" for n, m in lengths.items()))
    labels = row_labels(frame, max(lengths.values(), default=1))
    for name, v in values.items():
        refuse_infinite(v, name, labels)
    return frame, EscalcArgs(values, labels)


def escalc(measure: str, *, data: Any = None, add: float | None = None, to: str = "only0", drop00: bool = False,
           vtype: Any = "LS", var_names: tuple[str, str] = ("yi", "vi"), **arguments: Any) -> pd.DataFrame:
    r"""Compute effect sizes and sampling variances (metafor's ``escalc``).

    Parameters
    ----------
    measure : str
        metafor's name of the effect size. Two groups with 2x2 tables (``ai, bi, ci, di``
        or ``ai, n1i, ci, n2i``): ``"OR"``, ``"RR"``, ``"RD"``, ``"PETO"``, ``"AS"``,
        ``"PHI"``, ``"YUQ"``, ``"YUY"``, ``"RTET"``, ``"PBIT"``, ``"OR2DN"``, ``"OR2DL"``;
        paired tables (same cells): ``"MPRD"``, ``"MPRR"``, ``"MPOR"``, ``"MPORC"``,
        ``"MPPETO"``; two groups with means (``m1i, m2i, sd1i, sd2i, n1i, n2i``): ``"MD"``,
        ``"SMD"``, ``"SMDH"``, ``"SMD1"``, ``"SMD1H"``, ``"ROM"``, ``"CVR"``, ``"VR"``,
        ``"RPB"``, ``"RBIS"``, ``"D2ORN"``, ``"D2ORL"``; one group (``mi, sdi, ni``):
        ``"MN"``, ``"MNLN"``, ``"SMN"``, ``"CVLN"``, ``"SDLN"``; change scores (``m1i,
        m2i, sd1i, sd2i, ri, ni``): ``"MC"``, ``"SMCC"``, ``"SMCR"``, ``"SMCRH"``,
        ``"ROMC"``, ``"CVRC"``, ``"VRC"``; correlations (``ri, ni``): ``"COR"``,
        ``"UCOR"``, ``"ZCOR"``; partial correlations (``ti, ni, mi`` and ``r2i``):
        ``"PCOR"``, ``"ZPCOR"``, ``"SPCOR"``; proportions (``xi, ni`` or ``xi, mi``):
        ``"PR"``, ``"PLN"``, ``"PLO"``, ``"PAS"``, ``"PFT"``; rates (``xi, ti``): ``"IR"``,
        ``"IRLN"``, ``"IRS"``, ``"IRFT"``; two rates (``x1i, x2i, t1i, t2i``): ``"IRR"``,
        ``"IRD"``, ``"IRSD"``; Cronbach's alpha (``ai, mi, ni``): ``"ARAW"``, ``"AHW"``,
        ``"ABT"``.
    data : DataFrame, optional
        Table whose columns the arguments name; the result is this table with
        ``yi`` and ``vi`` appended.
    add, to : float, str
        Zero-cell rule for count data: ``add`` is added to every cell of the
        studies with a zero cell (``to="only0"``), to all studies (``"all"``),
        to all studies if any has a zero cell (``"if0all"``) or never (``"none"``).
        ``add`` defaults to 1/2, and to 0 for ``AS``, ``PHI``, ``RTET``, ``IRSD``,
        ``PAS``, ``PFT``, ``IRS`` and ``IRFT``.
    drop00 : bool
        Studies with no events (or only events) in both groups get missing values.
    vtype : str or sequence of str
        Variance estimator, one for all studies or one per study: ``"LS"`` (large sample,
        default), ``"LS2"``, ``"UB"`` (unbiased), ``"AV"`` (with the sample-size weighted
        average outcome), ``"HO"`` / ``"AVHO"`` (homoscedastic), ``"ST"`` / ``"CS"``
        (stratified / cross-sectional sampling), as metafor allows them per measure.
    var_names : tuple of str
        Names of the two appended columns.
    **arguments
        metafor's argument names (``ai, bi, ci, di, n1i, n2i, x1i, x2i, t1i, t2i, m1i,
        m2i, sd1i, sd2i, xi, mi, ri, ti, sdi, r2i, ni``): column names of ``data`` or arrays.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        Unknown measure or argument, missing arguments, inputs of different lengths,
        infinite inputs, negative counts or standard deviations, non-positive sizes or
        person-times, correlations outside [-1, 1]: the message names the argument, the
        rows (1-based, or the index labels of ``data``) and the values. Missing inputs
        give missing ``yi`` and ``vi``, as in metafor.
    ArgumentError
        ``to``, ``add`` or ``vtype`` not available (for the measure).

    Warns
    -----
    MissingDataWarning
        Outcomes or variances that are infinite (a zero cell with ``to="none"``) are set
        to missing, as metafor does.

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
    :math:`1/a - 1/(a+b) + 1/c - 1/(c+d)`. The formulas of the other measures are those of
    metafor's documentation and the papers it cites (Viechtbauer 2010).

    References
    ----------
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package.
    *Journal of Statistical Software*, 36(3), 1-48.

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
    >>> ml.escalc("PFT", xi=[3, 10], ni=[20, 40]).round(4)
           yi      vi
    0  0.4196  0.0122
    1  0.5305  0.0062
    """
    key = str(measure).upper()
    if key not in MEASURES:
        raise DataError(f"unknown measure {measure!r}; available: {', '.join(MEASURES)}")
    options = _options(key, add, to, drop00, vtype)
    frame, args = read_arguments(arguments, data)
    yi, vi = compute_measure(key, args, options)
    out = frame.copy() if frame is not None else pd.DataFrame(index=pd.RangeIndex(len(yi)))
    out[var_names[0]] = yi
    out[var_names[1]] = vi
    return out
