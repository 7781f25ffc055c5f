"""Entry points :func:`rma_mh` and :func:`rma_peto`: read the tables, apply metafor's two-stage
zero-cell rule, pool, and build the result."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..._exceptions import ArgumentError, DataError, MissingDataWarning
from ..._protocol import level_percent
from ..._data import outside_stacklevel
from ..effects._common import (TO_CHOICES, EscalcArgs, EscalcOptions, add_to_cells, drop_double_zero,
                               incomplete_tables, warn_double_zero)
from ..effects._escalc import compute_measure, read_arguments
from ..effects._rates import rate_cells
from ..effects._tables import table_cells_raw
from . import _core
from ._result import RmaMhFit, RmaPetoFit

__all__ = ["rma_mh", "rma_peto"]

_TABLE_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i")
_RATE_ARGS = ("x1i", "x2i", "t1i", "t2i")
_MEASURES = ("OR", "RR", "RD", "IRR", "IRD")


def _pair(value: Any, second: Any, name: str) -> tuple:
    """metafor's one-or-two values (escalc stage, pooling stage)."""
    values = tuple(value) if isinstance(value, (list, tuple, np.ndarray)) else (value, second)
    if len(values) != 2:
        raise ArgumentError(f"{name} takes one or two values (for the outcomes and for the pooling), not {len(values)}")
    return values


def _stages(add: Any, to: Any, drop00: Any) -> tuple[tuple, tuple, tuple]:
    adds = _pair(add, 0.0, "add")
    tos = _pair(to, "none", "to")
    drops = _pair(drop00, False, "drop00")
    for t in tos:
        if t not in TO_CHOICES:
            raise ArgumentError(f"to must be one of {', '.join(map(repr, TO_CHOICES))}, not {t!r}")
    try:
        adds = tuple(float(a) for a in adds)
    except (TypeError, ValueError):
        raise ArgumentError(f"add must be one or two numbers, not {add!r}") from None
    if not all(np.isfinite(a) and a >= 0 for a in adds):
        raise ArgumentError(f"add must be finite numbers >= 0, not {add!r}")
    return adds, tos, tuple(bool(d) for d in drops)


def _prepare(measure: str, args: EscalcArgs, adds, tos, drops, given: dict) -> tuple[list[np.ndarray], np.ndarray,
                                                                                    np.ndarray, tuple[str, ...], dict]:
    """Study outcomes (escalc stage), the complete tables after the pooling-stage rule, the
    labels of the tables dropped and the counts as given (every row, for :func:`labbe`)."""
    rates = measure in ("IRR", "IRD")
    opts = EscalcOptions(add=adds[0], to=tos[0], drop00=drops[0], vtype="LS", measure=measure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        yi, vi = compute_measure(measure, EscalcArgs(dict(args), args.labels), opts)
    raw = EscalcOptions(add=0.0, to="none", drop00=False, measure=measure)
    cells = list(rate_cells(args, raw)) if rates else table_cells_raw(args, measure)
    as_given = _frozen_counts(_RATE_ARGS if rates else ("ai", "bi", "ci", "di"), cells)
    missing = incomplete_tables(cells, args, given)
    double0 = np.zeros(missing.shape, dtype=bool)
    if drops[1]:
        pairs = [(cells[0], cells[1])] if rates else [(cells[0], cells[2]), (cells[1], cells[3])]
        double0 = np.isnan(drop_double_zero(pairs, [cells[0]])[0]) & ~missing
        warn_double_zero(double0, args.labels, "the pooling (drop00)")
    keep = ~(missing | double0)
    cells = [c[keep] for c in cells]
    if cells[0].size < 1:
        raise DataError("no table is left to pool (k = 0): all have missing values")
    counts = cells[:2] if rates else cells
    counts = add_to_cells(counts, adds[1], tos[1])
    cells = counts + cells[2:] if rates else counts
    ok = ~(np.isnan(yi) | np.isnan(vi))
    if not ok.all():
        warnings.warn(f"{int((~ok).sum())} study outcome(s) yi/vi missing (omitted from the test for heterogeneity)",
                      MissingDataWarning, stacklevel=outside_stacklevel())
    return cells, yi[ok], vi[ok], tuple(args.labels[i] for i in np.flatnonzero(~keep)), as_given


def _frozen_counts(names: tuple[str, ...], cells: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Read-only copies of the counts (and person-times) of every row, keyed by argument name."""
    counts = {}
    for name, values in zip(names, cells):
        values = np.array(values, dtype=float)
        values.flags.writeable = False
        counts[name] = values
    return counts


def _pool(measure: str, cells: list[np.ndarray], correct: bool) -> tuple[_core.Pooled, _core.TableTests]:
    if measure == "OR":
        pooled = _core.mh_odds_ratio(*cells)
        co, cop, mh, mhp = _core.cmh_tests(*cells, correct=correct)
        bd, bdp, ta, tap, k_pos = _core.tarone_test(*cells, pooled.estimate)
        return pooled, _core.TableTests(co, cop, mh, mhp, bd, bdp, ta, tap, k_pos)
    if measure == "RR":
        return _core.mh_risk_ratio(*cells), _core.TableTests()
    if measure == "RD":
        return _core.mh_risk_difference(*cells), _core.TableTests()
    x1, x2, t1, t2 = cells
    if measure == "IRR":
        mh, mhp = _core.mh_rate_test(x1, x2, t1, t2, correct=correct)
        return _core.mh_rate_ratio(x1, x2, t1, t2), _core.TableTests(MH=mh, MHp=mhp)
    return _core.mh_rate_difference(x1, x2, t1, t2), _core.TableTests()


def rma_mh(*, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None, n1i: Any = None, n2i: Any = None,
           x1i: Any = None, x2i: Any = None, t1i: Any = None, t2i: Any = None, measure: str = "OR", data: Any = None,
           add: Any = 0.5, to: Any = "only0", drop00: Any = True, correct: bool = True,
           level: float = 95) -> RmaMhFit:
    r"""Mantel-Haenszel equal-effects meta-analysis of 2x2 tables or incidence rates (metafor's ``rma.mh``).

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : str or array_like
        2x2 tables (``OR``, ``RR``, ``RD``): events ``ai`` and non-events ``bi`` (or group
        size ``n1i``) in group 1, ``ci`` and ``di`` (or ``n2i``) in group 2; column names of
        ``data`` or arrays.
    x1i, x2i, t1i, t2i : str or array_like
        Events and person-times of two groups (``IRR``, ``IRD``).
    measure : {"OR", "RR", "RD", "IRR", "IRD"}
        Effect measure.
    data : DataFrame, optional
        Table holding the columns.
    add, to, drop00 : scalar or pair
        Zero-cell rule (see :func:`~multilevel.escalc`), one value or two: the first for the
        study-level outcomes (heterogeneity test), the second for the pooling (default
        ``add=(0.5, 0)``, ``to=("only0", "none")``, ``drop00=(True, False)``).
    correct : bool
        Continuity correction of the Cochran-Mantel-Haenszel (OR) and Mantel-Haenszel (IRR) tests.
    level : float
        Confidence level, a proportion (0.95) or a percentage (95).

    Returns
    -------
    RmaMhFit

    Raises
    ------
    DataError
        Missing, negative or inconsistent counts, non-positive person-times (naming the
        argument, rows and values), or no complete table.
    ArgumentError
        Unknown measure, or invalid ``add``, ``to``, ``drop00`` or ``level``.

    Warns
    -----
    MissingDataWarning
        Tables with missing values are dropped (metafor's ``na.omit``; the rows are recorded in
        ``dropped_rows``); outcomes ``yi`` that cannot be computed are left out of the test for
        heterogeneity.

    Notes
    -----
    For tables :math:`(a_i, b_i, c_i, d_i)` with :math:`n_i` subjects the Mantel-Haenszel odds ratio is

    .. math::

        \hat\psi_{MH} = \frac{\sum_i a_i d_i / n_i}{\sum_i b_i c_i / n_i},

    with the Robins-Breslow-Greenland variance of :math:`\log\hat\psi_{MH}`; the risk
    ratio and difference use the Greenland-Robins and Sato variances. For OR the
    Cochran-Mantel-Haenszel test of :math:`\psi = 1` and Tarone's test of homogeneity are
    reported; for IRR the Mantel-Haenszel test. The test for heterogeneity and the fit
    statistics use the study-level outcomes ``yi`` of :func:`~multilevel.escalc`.

    References
    ----------
    Mantel, N., & Haenszel, W. (1959). Statistical aspects of the analysis of data from
    retrospective studies of disease. *Journal of the National Cancer Institute*, 22, 719-748.

    Robins, J., Breslow, N., & Greenland, S. (1986). Estimators of the Mantel-Haenszel variance
    consistent in both sparse data and large-strata limiting models. *Biometrics*, 42, 311-323.

    Examples
    --------
    >>> import multilevel as ml
    >>> print(ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg")))
    <BLANKLINE>
    Equal-Effects Model (k = 13)
    <BLANKLINE>
    I^2 (total heterogeneity / total variability):  92.68%
    H^2 (total variability / sampling variability): 13.66
    <BLANKLINE>
    Test for Heterogeneity:
    Q(df = 12) = 163.9426, p-val < .0001
    <BLANKLINE>
    Model Results (log scale):
    <BLANKLINE>
    estimate      se      zval    pval    ci.lb    ci.ub
     -0.4734  0.0410  -11.5444  <.0001  -0.5538  -0.3930
    <BLANKLINE>
    Model Results (OR scale):
    <BLANKLINE>
    estimate   ci.lb   ci.ub
      0.6229  0.5748  0.6750
    <BLANKLINE>
    Cochran-Mantel-Haenszel Test:    CMH = 135.6889, df = 1,  p-val < 0.0001
    Tarone's Test for Heterogeneity: X^2 = 171.7567, df = 12, p-val < 0.0001
    <BLANKLINE>
    """
    key = str(measure).upper()
    if key not in _MEASURES:
        raise ArgumentError(f"the Mantel-Haenszel method takes measure {', '.join(_MEASURES)}, not {measure!r}")
    pct = level_percent(level)
    adds, tos, drops = _stages(add, to, drop00)
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, x1i=x1i, x2i=x2i, t1i=t1i, t2i=t2i)
    names = _RATE_ARGS if key in ("IRR", "IRD") else _TABLE_ARGS
    _refuse_other(given, names, key)
    _, args = read_arguments({n: given[n] for n in names}, data, allowed=names, what="rma_mh")
    cells, yi, vi, dropped, counts = _prepare(key, args, adds, tos, drops, {n: given[n] for n in names})
    pooled, tests = _pool(key, cells, bool(correct))
    qe, qep, i2, h2 = _core.heterogeneity(yi, vi, pooled.estimate)
    return RmaMhFit(measure=key, estimate=pooled.estimate, se=pooled.se, QE=qe, QEp=qep, I2=i2, H2=h2,
                    tests=tests, k=cells[0].size, k_yi=yi.size, level=pct, yi=yi, vi=vi,
                    fit_stats=_core.fit_statistics(yi, vi, qe), add=adds, to=tos, drop00=drops,
                    correct=bool(correct), dropped_rows=dropped, counts=counts)


def _refuse_other(given: dict, names: tuple[str, ...], measure: str) -> None:
    other = [n for n, v in given.items() if v is not None and n not in names]
    if other:
        raise ArgumentError(f"measure {measure!r} takes {', '.join(names)}; {', '.join(other)} "
                            f"belong{'s' if len(other) == 1 else ''} to another measure")


def rma_peto(*, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None, n1i: Any = None, n2i: Any = None,
             data: Any = None, add: Any = 0.5, to: Any = "only0", drop00: Any = True,
             level: float = 95) -> RmaPetoFit:
    r"""Peto's equal-effects meta-analysis of 2x2 tables (metafor's ``rma.peto``).

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : str or array_like
        Events ``ai`` and non-events ``bi`` (or group size ``n1i``) in group 1, ``ci`` and
        ``di`` (or ``n2i``) in group 2: column names of ``data`` or arrays.
    data : DataFrame, optional
        Table holding the columns.
    add, to, drop00 : scalar or pair
        Zero-cell rule, one value or two (study-level outcomes, pooling); see :func:`rma_mh`.
    level : float
        Confidence level, a proportion (0.95) or a percentage (95).

    Returns
    -------
    RmaPetoFit

    Raises
    ------
    DataError
        Invalid counts (naming the argument, rows and values), or no table in which both
        outcomes occur.
    ArgumentError
        Invalid ``add``, ``to``, ``drop00`` or ``level``.

    Notes
    -----
    With :math:`O_i - E_i` the observed minus expected events of group 1 and :math:`V_i`
    their hypergeometric variance, Peto's log odds ratio is

    .. math::

        \hat\theta = \frac{\sum_i (O_i - E_i)}{\sum_i V_i}, \qquad
        \operatorname{SE}(\hat\theta) = \Big(\sum_i V_i\Big)^{-1/2},

    and the test for heterogeneity is
    :math:`\sum_i (O_i - E_i)^2 / V_i - (\sum_i (O_i - E_i))^2 / \sum_i V_i`.

    References
    ----------
    Yusuf, S., Peto, R., Lewis, J., Collins, R., & Sleight, P. (1985). Beta blockade during
    and after myocardial infarction. *Progress in Cardiovascular Diseases*, 27, 335-371.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.rma_peto(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    >>> fit.summary().to_frame().round(4)
             estimate      se     zval  pval   ci_lb   ci_ub
    intrcpt   -0.4744  0.0407 -11.6689   0.0 -0.5541 -0.3947
    """
    pct = level_percent(level)
    adds, tos, drops = _stages(add, to, drop00)
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i)
    _, args = read_arguments(given, data, allowed=_TABLE_ARGS, what="rma_peto")
    cells, yi, vi, dropped, counts = _prepare("PETO", args, adds, tos, drops, given)
    pooled = _core.peto_pool(*cells)
    if np.isnan(pooled.estimate):
        raise DataError("one of the two outcomes never occurs in any table: Peto's method cannot be used")
    qe, qep, i2, h2, k_pos = _core.peto_heterogeneity(*cells, yi.size)
    rss = float((((yi - pooled.estimate) ** 2) / vi).sum())
    return RmaPetoFit(measure="PETO", estimate=pooled.estimate, se=pooled.se, QE=qe, QEp=qep, I2=i2, H2=h2,
                      tests=_core.TableTests(k_pos=k_pos), k=cells[0].size, k_yi=yi.size, level=pct, yi=yi, vi=vi,
                      fit_stats=_core.fit_statistics(yi, vi, rss), add=adds, to=tos, drop00=drops,
                      dropped_rows=dropped, counts=counts)
