"""MCMC diagnostics as plain array functions on draws shaped (chains, draws).

ESS and split R-hat come from :mod:`numpyro.diagnostics` (NumPy code); the Monte Carlo error of
a quantile from ArviZ. Nothing here knows about fits.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._exceptions import ConvergenceWarning

__all__ = ["ess", "rhat", "rhat_numpy", "mcse_mean", "mcse_quantile", "mcse_sd", "posterior_table",
           "check_convergence"]

RHAT_MAX = 1.05
ESS_MIN = 500


def ess(x: np.ndarray) -> float:
    """Effective sample size of ``x`` (chains, draws)."""
    from numpyro.diagnostics import effective_sample_size

    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0:
        return float("nan")
    return float(effective_sample_size(x))


def rhat(x: np.ndarray) -> float:
    """Split R-hat of ``x`` (chains, draws)."""
    from numpyro.diagnostics import split_gelman_rubin

    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0:
        return float("nan")
    return float(split_gelman_rubin(x))


def mcse_mean(x: np.ndarray) -> float:
    """Monte Carlo standard error of the posterior mean: SD / sqrt(ESS)."""
    return float(np.std(x, ddof=1) / np.sqrt(ess(x)))


def mcse_quantile(x: np.ndarray, prob: float) -> float:
    """Monte Carlo standard error of a posterior quantile (ArviZ)."""
    import arviz as az

    return float(az.mcse(np.asarray(x, dtype=float), method="quantile", prob=prob))


def mcse_sd(x: np.ndarray) -> float:
    """Monte Carlo standard error of the posterior SD (ArviZ)."""
    import arviz as az

    return float(az.mcse(np.asarray(x, dtype=float), method="sd"))


def rhat_numpy(x: np.ndarray) -> float:
    """Split R-hat of ``x`` (chains, draws), the formula of :func:`rhat` without NumPyro."""
    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0 or x.shape[1] < 4:
        return float("nan")
    half = x.shape[1] // 2
    x = np.concatenate([x[:, :half], x[:, -half:]], axis=0)
    n = x.shape[1]
    within = x.var(axis=1, ddof=1).mean()
    between = n * x.mean(axis=1).var(ddof=1)
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))


def posterior_table(draws: dict[str, np.ndarray], probs=(0.025, 0.5, 0.975), *,
                    iid: bool = False) -> dict[str, list[float]]:
    """Mean, SD, quantiles, MCMC error, error/SD, ESS and R-hat per parameter. For independent
    draws (``iid``) the ESS is the number of draws and R-hat is computed without NumPyro."""
    cols = ["Mean", "SD", *[_qname(p) for p in probs], "MCMC error", "error/SD", "ESS", "R-hat"]
    out = {c: [] for c in cols}
    for x in draws.values():
        flat = np.asarray(x).reshape(-1)
        sd = float(np.std(flat, ddof=1))
        constant = np.ptp(flat) == 0
        e = (float("nan") if constant else float(flat.size)) if iid else ess(x)
        err = sd / np.sqrt(e) if e == e else float("nan")
        r = rhat_numpy(x) if iid else rhat(x)
        vals = [flat.mean(), sd, *np.quantile(flat, probs), err, err / sd if sd > 0 else np.nan, e, r]
        for c, val in zip(cols, vals):
            out[c].append(float(val))
    return out


def _qname(p: float) -> str:
    return f"{p:g}"


def check_convergence(draws: dict[str, np.ndarray], diverging: np.ndarray) -> list[str]:
    """Warn (:class:`ConvergenceWarning`) on R-hat > 1.05, ESS < 500 or divergent transitions;
    returns the messages."""
    msgs = []
    for name, x in draws.items():
        r, e = rhat(x), ess(x)
        if r == r and r > RHAT_MAX:
            msgs.append(f"R-hat of {name} is {r:.3f} (> {RHAT_MAX})")
        if e == e and e < ESS_MIN:
            msgs.append(f"effective sample size of {name} is {e:.0f} (< {ESS_MIN})")
    n_div = int(np.sum(diverging))
    if n_div:
        msgs.append(f"{n_div} divergent transition{'s' if n_div > 1 else ''} after warm-up")
    if msgs:
        warnings.warn("MCMC convergence: " + "; ".join(msgs) + ". Run longer with fit.extend(draws=...)"
                      " or increase warmup.", ConvergenceWarning, stacklevel=4)
    return msgs
