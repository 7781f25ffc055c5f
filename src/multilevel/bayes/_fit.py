"""``brma``: Bayesian (multilevel) random-effects meta-analysis and meta-regression.

The entry point reads the data and the priors and runs an engine; the result,
:class:`~multilevel.BrmaFit`, is in :mod:`._result` and its protocol verbs in :mod:`._verbs`
(both re-exported here).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from . import _engines
from .._data import as_dataframe, check_columns, offending_rows
from .._exceptions import DataError, ModelSpecificationError
from ._design import BrmaData, model_args, prepare
from ._layout import make_layout
from ._priors import MEASURES, Prior, Priors, default_priors, unit_information_sd
from ._result import BrmaFit, assemble as _assemble
from ._verbs import _TAILS, _probs, _tails  # noqa: F401  (re-exported: importable from here as before)

# names importable from this module before BrmaFit moved to ._result (kept for callers)
from dataclasses import dataclass, field  # noqa: F401,E402
from .._exceptions import ArgumentError  # noqa: F401,E402
from typing import Any  # noqa: F401,E402
from .._display import TextViews  # noqa: F401,E402
from .._protocol import FitProtocol, confint_frame, parse_level, tidy_frame  # noqa: F401,E402
from ._compare import inference_data, log_marginal_likelihood, loo  # noqa: F401,E402
from ._design import new_design  # noqa: F401,E402
from ._diagnostics import check_convergence  # noqa: F401,E402
from ._layout import Layout  # noqa: F401,E402
from ._plots import forest, plot_diagnostics, plot_parameter  # noqa: F401,E402
from ._predict import predict_frame  # noqa: F401,E402
from ._summary import (BrmaSummary, HeterogeneitySummary, estimates_frame, heterogeneity_draws,  # noqa: F401,E402
                       heterogeneity_frame, typical_variance)

__all__ = ["brma", "BrmaFit"]


def brma(yi, vi=None, *, sei=None, measure: str, cluster=None, mods: str | None = None,
         scale: str | None = None, data=None, ni=None, prior_effect: Prior | None = None,
         prior_heterogeneity: Prior | None = None, prior_mods: Prior | dict | None = None,
         prior_scale: Prior | dict | None = None, prior_heterogeneity_allocation: Prior | None = None,
         prior_unit_information_sd: float | None = None, chains: int = 3, draws: int = 5000,
         warmup: int = 1000, seed: int | None = None, progress: bool = True,
         engine: str = "auto") -> "BrmaFit":
    r"""Bayesian random-effects meta-analysis, multilevel and location-scale (RoBMA's ``brma``).

    .. math::

        y_i = \mu + x_i'\beta + u_{c(i)} + \varepsilon_i, \quad
        u_c \sim N(0, \tau^2\rho), \quad
        \varepsilon_i \sim N(0, v_i + \tau^2 (1 - \rho)),

    with :math:`\log\tau_i = \log\tau + s_i'\delta` in a location-scale model and
    :math:`\rho` absent without ``cluster``. Default priors (RoBMA 4, from the unit-information
    SD of ``measure``): :math:`\mu \sim N(0, UISD/2)`, :math:`\tau \sim N_+(0, UISD/4)`,
    :math:`\rho \sim Beta(1, 1)`, :math:`\beta \sim N(0, UISD/4)` per SD of standardized
    continuous predictors, :math:`\delta \sim N(0, 0.5)`.

    Parameters
    ----------
    yi, vi : str or array
        Effect sizes and sampling variances (column names in ``data`` or arrays).
    sei : str or array, optional
        Standard errors instead of ``vi``.
    measure : str
        ``"SMD"``, ``"ZCOR"``, ``"OR"``, ``"RR"``, ``"HR"``, ``"IRR"`` or ``"GEN"`` (then give
        ``ni`` or ``prior_unit_information_sd``).
    cluster : str or array, optional
        Cluster (e.g. district, study) of each estimate: fits the multilevel model.
    mods, scale : str, optional
        Formulas (``"~ x1 + x2"``) of the meta-regression and of log(tau).
    data : DataFrame or dict, optional
    ni : str or array, optional
        Sample sizes, to estimate the unit-information SD for ``measure="GEN"``.
    prior_effect, prior_heterogeneity, prior_heterogeneity_allocation : Prior, optional
        Priors of mu, tau and rho (see :func:`prior`); replace the defaults.
    prior_mods, prior_scale : Prior or dict of Prior, optional
        One prior for all coefficients or a dict by coefficient name.
    prior_unit_information_sd : float, optional
    chains, draws, warmup : int
        Chains, draws per chain kept, warm-up (adaptation) iterations per chain (NUTS only;
        the quadrature engine returns ``chains * draws`` independent draws in that shape).
    seed : int, optional
        Random seed; a fit is reproducible for a given seed.
    progress : bool
        Show a progress bar on runs longer than a second.
    engine : {"auto", "quadrature", "nuts"}
        ``"quadrature"``: the exact posterior on a grid and independent draws from it (no
        compilation, no MCMC error), for models with at most three parameters left after
        integration (tau, rho and up to one scale coefficient or non-normal coefficient prior);
        ``"nuts"``: NumPyro's NUTS (any model); ``"auto"``: quadrature when it applies.

    Returns
    -------
    BrmaFit

    Notes
    -----
    The estimate and cluster levels and any coefficient with a normal prior are integrated
    out analytically; the remaining parameters (tau, rho, delta) are either integrated
    numerically (quadrature engine: mode and curvature, then a regular grid of cells over the
    region within exp(-30) of the maximum density on axes aligned with the posterior
    covariance; independent draws pick a cell by its mass and a point uniformly within it) or
    sampled by NUTS, and the integrated coefficients and cluster effects are drawn from their
    exact conditionals. The quadrature engine also gives the log marginal likelihood
    (``fit.log_marginal_likelihood(method="grid")``, with its quadrature error) and uses NumPy
    only. The NUTS engine switches JAX to 64-bit floats (``jax_enable_x64``) for the whole
    process and compiles the sampler on the first fit of a model shape (10-20 s); later fits of
    the same shape in the session reuse it. Compiled programs are kept across sessions in JAX's
    persistent compilation cache, in ``$XDG_CACHE_HOME/multilevel/jax`` (``~/.cache/...``;
    ``~/Library/Caches/...`` on macOS, ``%LOCALAPPDATA%\\...`` on Windows); set the
    environment variable ``MULTILEVEL_JAX_CACHE`` to another directory, or to ``0`` to turn
    this off. A cache directory you set yourself (``jax_compilation_cache_dir``) is left as
    it is; the setting applies to the whole process (JAX has one cache). Chains run
    vectorized on one CPU device.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.datasets.load("konstantopoulos2011")
    >>> fit = ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", data=dat, seed=1,
    ...               progress=False)
    >>> fit.summary().to_frame().loc["mu", "Mean"].round(2)
    np.float64(0.18)
    """
    if not isinstance(measure, str) or measure.upper() not in MEASURES:
        raise ModelSpecificationError(f"unknown measure {measure!r}; use one of {', '.join(MEASURES)}")
    for name, val in (("chains", chains), ("draws", draws), ("warmup", warmup)):
        if not isinstance(val, (int, float, np.integer, np.floating)) or int(val) != val or val < 1:
            raise ModelSpecificationError(f"{name} must be a positive integer, got {val!r}")
    bd = prepare(yi, vi, sei, cluster=cluster, mods=mods, scale=scale, data=data)
    priors = _priors(bd, measure, ni, data, prior_unit_information_sd, prior_effect,
                     prior_heterogeneity, prior_mods, prior_scale, prior_heterogeneity_allocation)
    seed = int(np.random.default_rng().integers(2**31 - 1)) if seed is None else int(seed)
    layout = make_layout(priors)
    run = _engines.fit(engine, layout, bd, model_args(bd), chains=int(chains), draws=int(draws),
                       warmup=int(warmup), seed=seed, progress=progress)
    return _assemble(bd, priors, layout, run, measure.upper(), seed, int(warmup))


def _priors(bd, measure, ni, data, uisd, p_mu, p_tau, p_mods, p_scale, p_rho) -> Priors:
    if uisd is None:
        n = None
        if ni is not None:
            n = _sample_sizes(ni, data, bd)
        uisd = unit_information_sd(measure, np.sqrt(bd.v), n)
    mod_names, scale_names = list(bd.X_names[1:]), list(bd.Z_names)
    base = default_priors(float(uisd), multilevel=bd.cluster is not None, mods=mod_names, scale=scale_names)
    if p_rho is not None and bd.cluster is None:
        raise ModelSpecificationError("prior_heterogeneity_allocation needs a cluster")
    return replace(base, mu=p_mu or base.mu, tau=p_tau or base.tau, rho=p_rho or base.rho,
                   mods=_per_name(p_mods, base.mods, "prior_mods"),
                   scale=_per_name(p_scale, base.scale, "prior_scale"))


def _sample_sizes(ni, data, bd: BrmaData) -> np.ndarray:
    """Sample sizes of the rows used (after dropping rows with missing values)."""
    if isinstance(ni, str):
        if data is None:
            raise ModelSpecificationError(f"ni={ni!r} names a column, but no data were given")
        df = as_dataframe(data)
        check_columns(df, [ni], context="brma call")
        col = df[ni]
    else:
        index = as_dataframe(data).index if data is not None else pd.RangeIndex(bd.k + bd.n_dropped)
        values = np.asarray(ni, dtype=float).ravel()
        if values.size != len(index):
            raise DataError(f"ni has {values.size} sample sizes but there are {len(index)} estimates")
        col = pd.Series(values, index=index)
    try:
        n = col.loc[list(bd.labels)].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(f"sample sizes ni must be numeric, but they hold {col.dtype} values") from None
    bad = ~np.isfinite(n) | (n <= 0)
    if bad.any():
        raise DataError(f"sample sizes ni must be positive numbers; "
                        f"{offending_rows(bad, list(bd.row_names) or None, n)}")
    return n


def _per_name(given, defaults: dict, what: str) -> dict:
    if given is None:
        return defaults
    if not defaults:
        raise ModelSpecificationError(f"{what} given, but the model has no such coefficients")
    if isinstance(given, Prior):
        return {k: given for k in defaults}
    unknown = set(given) - set(defaults)
    if unknown:
        raise ModelSpecificationError(f"{what}: unknown coefficient(s) {', '.join(sorted(unknown))}; "
                                      f"coefficients are {', '.join(defaults)}")
    return {k: given.get(k, v) for k, v in defaults.items()}
