"""``rma_mv``: multilevel / multivariate meta-analysis models as metafor's ``rma.mv``.

This module reads the inputs (effect sizes, sampling variances or their
matrix, moderators, random effects), fits the model with the numerical core
(``_core``, ``_fit``) and returns the frozen :class:`RmaMvFit`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..._data import as_dataframe, check_columns
from ..._exceptions import ConvergenceWarning, DataError, ModelSpecificationError, MultilevelWarning
from ..._protocol import level_percent
from ..shared._btt import resolve_btt
from ..shared._input import column_values, prepare_effects
from ._core import make_batch
from ._fit import Layout, fe_fit, fe_fit_diag, initial_values, optimize
from ._result import Components, RmaMvFit
from ._terms import g_arrays
from ._structures import build_terms, parse_random, random_columns

__all__ = ["rma_mv"]


def rma_mv(yi: Any, V: Any, *, random: str | list[str] | None = None, data: Any = None,
           struct: str = "CS", method: str = "REML", mods: Any = None, test: str = "z",
           level: float = 95, sigma2: Any = None, tau2: Any = None, rho: Any = None,
           gamma2: Any = None, phi: Any = None, R: dict[str, Any] | None = None,
           sparse: bool = False, dist: Any = None, btt: Any = None) -> RmaMvFit:
    r"""Fit a multilevel / multivariate meta-analytic model (metafor's ``rma.mv``).

    .. math::

        y = X\beta + \sum_j Z_j u_j + Z_G g + e, \qquad
        u_j \sim N(0, \sigma^2_j I), \quad g \sim N(0, I \otimes G), \quad e \sim N(0, V)

    The variance components are estimated by maximising the restricted (REML)
    or full (ML) log-likelihood with the fixed effects profiled out.

    Parameters
    ----------
    yi : str or array_like
        Observed effect sizes (column of ``data`` or array).
    V : str or array_like
        Sampling variances (column or vector) or their variance-covariance
        matrix (``k x k``, symmetric positive definite; block-diagonal for
        dependent estimates), also as a list of the diagonal blocks in row
        order (as metafor accepts a list).
    random : str or list of str, optional
        ``"~ 1 | study"``; nested ``"~ 1 | district/school"`` (components for
        ``district`` and ``district/school``); several formulas for crossed
        factors; ``"~ inner | outer"`` for a structured ``G`` (``tau2``,
        ``rho``); a second ``"~ inner | outer"`` term has ``gamma2``, ``phi``.
        The inner term may be wrapped in ``factor()`` (``"~ factor(time) | study"``);
        spatial structures take coordinates (``"~ x + y | study"``).
    data : DataFrame, optional
        Data holding the columns named.
    struct : str or a pair of str
        Structure of ``G`` for an ``~ inner | outer`` term (one per term):
        "CS", "HCS", "UN", "ID", "DIAG"; "AR", "HAR" (autoregressive over the
        ordered levels of the inner factor, homo- or heteroscedastic); "CAR"
        (continuous-time autoregressive over numeric times, ``rho`` in [0, 1]);
        spatial "SPEXP", "SPGAU", "SPLIN", "SPRAT", "SPSPH" (``rho`` is the
        range, see :mod:`multilevel.meta.multivariate._serial`).
    method : {"REML", "ML"}
    mods : str or array_like, optional
        Moderators formula (``"~ year"``) or matrix.
    test : {"z", "t"}
        Normal or t (``k - p`` df) tests and intervals for the coefficients.
    level : float
        Confidence level in percent (or as a proportion, 0.95; see :func:`~multilevel._protocol.parse_level`).
    sigma2, tau2, rho, gamma2, phi : array_like, optional
        Values at which to hold components fixed (NaN or None entries are estimated).
    R : dict, optional
        Known correlation matrices of the levels of ``~ 1 | f`` terms, keyed by
        the factor name (metafor's ``R``, e.g. a phylogenetic correlation
        matrix): a DataFrame labelled by the levels, or an array in the order of
        the sorted levels. Covariance matrices are scaled to correlations
        (metafor's ``Rscale = "cor"``).
    sparse : bool
        Accepted for metafor compatibility; the fit always exploits the
        block-diagonal structure.
    dist : str or DataFrame, optional
        Distance between coordinates for spatial structures: "euclidean"
        (default), "maximum" or "manhattan", or a distance matrix whose index
        and columns name the values of the inner variable (one per term as a list).
    btt : int, sequence of int or str, optional
        Coefficients of the omnibus test ``QM`` (metafor's ``btt``): 1-based
        positions, or a regular expression matched against the coefficient
        names; default all but the intercept.

    Returns
    -------
    RmaMvFit

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.datasets.load("konstantopoulos2011")
    >>> fit = ml.rma_mv("yi", "vi", random="~ school | district", data=dat)
    >>> print(fit)
    Multivariate Meta-Analysis Model (k = 56; method: REML)
    <BLANKLINE>
    Variance Components:
    <BLANKLINE>
    outer factor: district (nlvls = 11)
    inner factor: school   (nlvls = 11)
    <BLANKLINE>
                estim    sqrt  fixed
    tau^2      0.0978  0.3127     no
    rho        0.6653             no
    <BLANKLINE>
    Test for Heterogeneity:
    Q(df = 55) = 578.8640, p-val < .0001
    <BLANKLINE>
    Model Results:
    <BLANKLINE>
    estimate      se    zval    pval   ci.lb   ci.ub
      0.1847  0.0846  2.1845  0.0289  0.0190  0.3504  *
    <BLANKLINE>
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    >>> fit.confint().round(4).reset_index()
              term    kind  estimate   lower   upper
    0  (Intercept)   fixed    0.1847  0.0190  0.3504
    1         tau2  random    0.0978  0.0528  0.2398
    2          tau  random    0.3127  0.2298  0.4897
    3          rho  random    0.6653  0.3282  0.8855
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ModelSpecificationError(f"method must be 'REML' or 'ML', not {method!r}")
    if test not in ("z", "t"):
        raise ModelSpecificationError(f"test must be 'z' or 't', not {test!r}")
    level = level_percent(level)
    frame = as_dataframe(data) if data is not None else None
    spec = parse_random(random) if random is not None else None
    if spec is not None and frame is None:
        raise DataError("random effects name columns, so data must be given")
    Vin = V if isinstance(V, str) else _read_v(V, frame)
    eff = prepare_effects(yi, Vin, data=frame, mods=mods, allow_matrix=True, v_name="V",
                          required=_required(spec, frame))
    if eff.k <= 1:
        raise ModelSpecificationError("at least two estimates are needed to fit the model")
    if eff.vi.ndim == 2:
        _check_pd(eff.vi)
    sigmas, gs = build_terms(spec, eff.frame, struct, dist, full=frame) if spec is not None else ([], [])
    g, h = (gs + [None, None])[:2]
    comps = _components(sigmas, g, sigma2, tau2, rho, h, gamma2, phi)
    X = eff.design.X
    corr = _known_correlations(R, sigmas)
    batch = make_batch(eff.yi, X, eff.vi, [s.codes for s in sigmas], g_arrays(g), corr, g_arrays(h))
    layout = Layout(len(sigmas), *_g_sizes(g), *_g_sizes(h), rho_kind=_kind(g), phi_kind=_kind(h))
    vdiag = np.diag(eff.vi) if eff.vi.ndim == 2 else eff.vi
    beta_fe, QE = fe_fit(batch) if eff.vi.ndim == 2 else fe_fit_diag(eff.yi, X, eff.vi)
    init = initial_values(layout, beta_fe, eff.yi, X, vdiag)
    _range_starts(init, layout, g, h)
    start = np.where(comps.fixed, comps.values, init)
    state = optimize(batch, layout, start, ~comps.fixed, reml=method == "REML")
    if state is None:
        raise ModelSpecificationError("the marginal variance-covariance matrix is not positive definite "
                                      "at the starting values; check V and the fixed components")
    if not state.converged:
        warnings.warn("the optimizer did not converge; the estimates may be inaccurate",
                      ConvergenceWarning, stacklevel=2)
    return RmaMvFit.from_state(eff=eff, batch=batch, layout=layout, state=state, sigmas=sigmas, g=g,
                               comps=comps, method=method, test=test, level=level, QE=QE,
                               random=spec, corr=corr, h=h,
                               btt=None if btt is None else resolve_btt(btt, eff.design.names, eff.design.intercept))


def _kind(g: Any) -> int:
    return 1 if g is None else g.kind


def _range_starts(init: np.ndarray, layout: Layout, g: Any, h: Any) -> None:
    """Spatial ranges start at metafor's ``rho.init`` (a lower quartile of the distances)."""
    a = layout.ns + layout.nt
    if g is not None and g.rho_init is not None:
        init[a] = g.rho_init
    if h is not None and h.rho_init is not None:
        init[a + layout.nr + layout.ng] = h.rho_init


def _g_sizes(g: Any) -> tuple[int, int]:
    return (0, 0) if g is None else (g.num_tau2, g.num_rho)


def _required(spec: Any, frame: pd.DataFrame | None) -> tuple[str, ...]:
    """Grouping columns that need the missing-value check (only those with missing values)."""
    if spec is None:
        return ()
    cols = random_columns(spec)
    check_columns(frame, cols, context="random argument")
    out = []
    for c in cols:
        col = frame[c]
        # plain NumPy integer and boolean columns cannot hold missing values
        if not (isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub") and col.isna().to_numpy().any():
            out.append(c)
    return tuple(out)


def _read_v(V: Any, frame: pd.DataFrame | None) -> np.ndarray:
    if isinstance(V, str):
        return column_values(V, frame, role="V")
    if isinstance(V, (list, tuple)) and V and all(np.ndim(b) == 2 for b in V):
        from scipy.linalg import block_diag
        return _read_v(block_diag(*[np.asarray(b, dtype=float) for b in V]), frame)  # metafor's bldiag
    if isinstance(V, pd.DataFrame):
        V = V.to_numpy()
    arr = column_values(V, None, role="V")
    if arr.ndim == 2:
        if arr.shape[0] != arr.shape[1]:
            if 1 in arr.shape:
                return arr.reshape(-1)
            raise DataError(f"V must be a square matrix, not {arr.shape[0]} x {arr.shape[1]}")
        _check_symmetric(arr)
    elif arr.ndim != 1:
        raise DataError("V must be a vector of sampling variances or a square matrix")
    return arr


def _check_symmetric(V: np.ndarray) -> None:
    """V must equal its transpose (missing and infinite entries are reported later, by row)."""
    scale = max(1.0, float(np.abs(V[np.isfinite(V)]).max(initial=0.0)))
    close = np.isclose(V, V.T, rtol=1e-10, atol=1e-12 * scale, equal_nan=True)
    if not close.all():
        i, j = np.argwhere(~close)[0]
        raise DataError(f"V must be a symmetric matrix; V[{i + 1}, {j + 1}] = {V[i, j]:g} but "
                        f"V[{j + 1}, {i + 1}] = {V[j, i]:g} (rows and columns counted from 1)")


def _check_pd(V: np.ndarray) -> None:
    try:
        np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        ev = float(np.linalg.eigvalsh(V).min())
        raise DataError(f"V is not positive definite (smallest eigenvalue {ev:.3g}); check the "
                        "sampling covariances") from None


def _known_correlations(R: dict[str, Any] | None, sigmas: list) -> list[np.ndarray | None]:
    """metafor's ``R``: each matrix aligned to the levels of its term and scaled to a correlation."""
    out: list[np.ndarray | None] = [None] * len(sigmas)
    if not R:
        return out
    names = [t.name for t in sigmas]
    unknown = [k for k in R if k not in names]
    if unknown:
        raise ModelSpecificationError(f"R names {', '.join(map(repr, unknown))}, which is not a '~ 1 | f' term "
                                      f"of random ({', '.join(names)})")
    for j, term in enumerate(sigmas):
        if term.name in R:
            out[j] = _aligned(R[term.name], term)
    return out


def _aligned(mat: Any, term: Any) -> np.ndarray:
    if isinstance(mat, pd.DataFrame):
        labels = [str(v) for v in mat.index]
        missing = [lv for lv in term.levels if lv not in labels]
        if missing:
            raise DataError(f"R for {term.name!r} has no rows for the levels {', '.join(missing[:10])}")
        pos = [labels.index(lv) for lv in term.levels]
        arr = mat.to_numpy(dtype=float)[np.ix_(pos, pos)]
    else:
        arr = np.asarray(mat, dtype=float)
        if arr.shape != (term.nlevels, term.nlevels):
            raise DataError(f"R for {term.name!r} must be {term.nlevels} x {term.nlevels} (one row per level), "
                            f"not {' x '.join(map(str, arr.shape))}")
    if not np.allclose(arr, arr.T) or np.any(np.diag(arr) <= 0) or np.isnan(arr).any():
        raise DataError(f"R for {term.name!r} must be symmetric with a positive diagonal")
    d = np.sqrt(np.diag(arr))
    return arr / np.outer(d, d)


def _fixed_values(values: Any, n: int, name: str) -> np.ndarray:
    out = np.full(n, np.nan)
    if values is None:
        return out
    arr = np.atleast_1d(np.asarray([np.nan if v is None else v for v in np.atleast_1d(values)], dtype=float))
    if arr.size == 1:
        arr = np.repeat(arr, n)
    if arr.size != n:
        raise ModelSpecificationError(f"{name} has {arr.size} values but the model has {n} such components")
    return arr


def _check_fixed(values: np.ndarray, name: str, bad: Any, rule: str) -> None:
    """Fixed variance components (NaN = estimated) must be valid and finite; names the offending entries."""
    wrong = bad(values) | np.isinf(values)
    if wrong.any():
        shown = ", ".join(f"{name}[{j + 1}] = {values[j]:g}" for j in np.flatnonzero(wrong)[:5])
        raise ModelSpecificationError(f"fixed values of {name} must be finite and {rule}; got {shown}")


def _components(sigmas: list, g: Any, sigma2: Any, tau2: Any, rho: Any, h: Any = None, gamma2: Any = None,
                phi: Any = None) -> Components:
    s2 = _fixed_values(sigma2, len(sigmas), "sigma2")
    t2, r = _g_fixed(g, tau2, rho, ("tau2", "rho"))
    g2, ph = _g_fixed(h, gamma2, phi, ("gamma2", "phi"))
    _check_fixed(s2, "sigma2", lambda x: x < 0, "non-negative")
    for j, term in enumerate(sigmas):
        if term.nlevels == 1 and np.isnan(s2[j]):
            s2[j] = 0.0
            warnings.warn(f"the factor {term.name!r} has a single level, so its sigma2 is fixed to 0",
                          MultilevelWarning, stacklevel=3)
    values = np.concatenate([s2, t2, r, g2, ph])
    return Components(np.nan_to_num(values), ~np.isnan(values))


def _g_fixed(g: Any, var: Any, cor: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Fixed values (NaN = estimated) of one ``~ inner | outer`` term's variances and correlations."""
    nt, nr = _g_sizes(g)
    v = _fixed_values(var, nt, names[0])
    c = _fixed_values(cor, nr, names[1])
    _check_fixed(v, names[0], lambda x: x < 0, "non-negative")
    kind = _kind(g)
    if kind == 3:
        _check_fixed(c, names[1], lambda x: x < 0, "non-negative (a range)")
    elif kind == 2:
        _check_fixed(c, names[1], lambda x: (x < 0) | (x > 1), "lie in [0, 1]")
    else:
        _check_fixed(c, names[1], lambda x: np.abs(x) > 1, "lie in [-1, 1]")
    if g is not None:
        c = np.where(g.rho_fixed_zero & np.isnan(c), 0.0, c)
        if g.tau2_fixed_zero is not None:
            v = np.where(g.tau2_fixed_zero & np.isnan(v), 0.0, v)
    return v, c

