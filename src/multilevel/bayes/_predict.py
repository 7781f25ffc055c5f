"""Posterior predictions of a brma fit (mean effect and prediction interval)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["predict_frame"]


def _interval(draws: np.ndarray, probs) -> dict[str, np.ndarray]:
    q = np.quantile(draws, probs, axis=0)
    return {"Mean": draws.mean(0), "Median": np.median(draws, 0), **{f"{p:g}": row for p, row in zip(probs, q)}}


def predict_frame(fit, newdata, probs, label: bool, new_design) -> pd.DataFrame:
    """Mean effect (x'b) and a new estimate's true effect (x'b + N(0, tau_i^2)) per row."""
    bd = fit.data
    if newdata is None:
        X, Z = bd.X, bd.Z
        index = ["mu"] if label else list(bd.labels)
        if label:
            X, Z = X[:1] * 0 + np.eye(1, X.shape[1]), np.zeros((1, Z.shape[1]))
    else:
        X = new_design(bd, newdata, "mods") if bd.mods_spec is not None else np.ones((len(newdata), 1))
        Z = new_design(bd, newdata, "scale") if bd.scale_spec is not None else np.zeros((len(X), 0))
        index = list(getattr(newdata, "index", range(len(X))))
    B = fit._B.reshape(-1, fit._B.shape[-1])
    mean = B @ X.T
    post = fit.posterior
    tau = post["tau"].reshape(-1, 1)
    if Z.shape[1]:
        run = fit._run.draws
        delta = np.stack([run[s].reshape(-1) for s, _ in fit._layout.scale], axis=-1)
        tau = tau * np.exp(delta @ Z.T)
    rng = np.random.default_rng(fit.seed + 104729)
    pred = mean + tau * rng.standard_normal(mean.shape)
    if label:
        rows = [_interval(mean, probs), _interval(pred, probs)]
        return pd.DataFrame([{k: float(v[0]) for k, v in r.items()} for r in rows], index=["mu", "prediction"])
    m, p = _interval(mean, probs), _interval(pred, probs)
    out = pd.DataFrame({"Mean": m["Mean"], "SD": mean.std(0, ddof=1)}, index=index)
    for k in probs:
        out[f"{k:g}"] = m[f"{k:g}"]
    for k in probs:
        out[f"pi {k:g}"] = p[f"{k:g}"]
    return out
