"""Summary tables of a brma fit, printed as RoBMA prints them.

Each block is a DataFrame of raw numbers; ``__str__`` formats those same numbers
(three decimals, like RoBMA), and the notebook and Markdown views show that text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._rformat import render_table
from ._diagnostics import posterior_table
from .._display import FrameMapping, TextReport

__all__ = ["BrmaSummary", "HeterogeneitySummary", "estimates_frame", "heterogeneity_draws",
           "typical_variance"]

DIAGNOSTIC_COLUMNS = ["MCMC error", "error/SD", "ESS", "R-hat"]


def estimates_frame(draws: dict[str, np.ndarray], probs=(0.025, 0.5, 0.975), *,
                    iid: bool = False) -> pd.DataFrame:
    """Posterior table (Mean, SD, quantiles, MCMC error, error/SD, ESS, R-hat), one row per name
    (``iid``: independent draws, ESS = their number)."""
    return pd.DataFrame(posterior_table(draws, probs, iid=iid), index=list(draws))


def _fmt_cell(col: str, x: float) -> str:
    if not np.isfinite(x):
        return "NA"
    if col == "ESS":
        return f"{x:.0f}"
    return f"{x:.3f}"


def _render(frame: pd.DataFrame) -> str:
    cols = {c: [_fmt_cell(c, v) for v in frame[c]] for c in frame.columns}
    return render_table(cols, [str(i) for i in frame.index])


@dataclass(frozen=True, repr=False)
class BrmaSummary(TextReport, FrameMapping):
    """Posterior summary of a brma fit: the Estimates block and, when used, the meta-regression
    and scale-regression blocks. ``to_frame()`` returns the numbers of a block."""

    title: str
    blocks: tuple[tuple[str, pd.DataFrame], ...]
    include_mcmc_diagnostics: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self, block: str = "Estimates") -> pd.DataFrame:
        """The numbers of one block (``"Estimates"``, ``"Meta-regression"``, ``"Scale regression"``)."""
        for name, frame in self.blocks:
            if name.lower() == block.lower():
                return frame.copy()
        raise KeyError(f"no block {block!r}; blocks: {', '.join(n for n, _ in self.blocks)}")

    def _shown(self) -> list[tuple[str, pd.DataFrame]]:
        out = []
        for name, frame in self.blocks:
            keep = [c for c in frame.columns if self.include_mcmc_diagnostics or c not in DIAGNOSTIC_COLUMNS]
            out.append((name, frame[keep]))
        return out

    def __str__(self) -> str:
        lines = [self.title]
        for name, frame in self._shown():
            lines += ["", name, _render(frame)]
        lines += list(self.notes)
        return "\n".join(lines)


@dataclass(frozen=True, repr=False)
class HeterogeneitySummary(TextReport, FrameMapping):
    """Posterior summary of tau, rho, the within / between split, tau2, I2 and H2."""

    frame: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Columns Mean, Median, 0.025, 0.975; one row per quantity."""
        return self.frame.copy()

    def __str__(self) -> str:
        return "Heterogeneity Estimates:\n" + _render(self.frame)


def typical_variance(v: np.ndarray, X: np.ndarray) -> float:
    """Typical sampling variance (k - p) / tr(P), P = W - W X (X'W X)^-1 X'W, W = diag(1 / v)."""
    w = 1.0 / np.asarray(v, dtype=float)
    WX = X * w[:, None]
    tr_p = w.sum() - np.trace(np.linalg.solve(X.T @ WX, WX.T @ WX))
    return float((X.shape[0] - X.shape[1]) / tr_p)


def heterogeneity_draws(tau_w: np.ndarray, tau_b: np.ndarray | None, rho: np.ndarray | None,
                        v_tilde: float) -> dict[str, np.ndarray]:
    """Draws of every heterogeneity quantity from draws of tau_within and tau_between."""
    t2w = tau_w**2
    if tau_b is None:
        t2 = t2w
        return {"tau": np.sqrt(t2), "tau2": t2, "I2": 100 * t2 / (t2 + v_tilde), "H2": (t2 + v_tilde) / v_tilde}
    t2b = tau_b**2
    t2 = t2w + t2b
    total = t2 + v_tilde
    return {"tau": np.sqrt(t2), "rho": rho, "tau [within]": tau_w, "tau [between]": tau_b,
            "tau2": t2, "tau2 [within]": t2w, "tau2 [between]": t2b, "I2": 100 * t2 / total,
            "I2 [within]": 100 * t2w / total, "I2 [between]": 100 * t2b / total, "H2": total / v_tilde}


def heterogeneity_frame(draws: dict[str, np.ndarray], probs=(0.025, 0.975)) -> pd.DataFrame:
    rows = {}
    for name, x in draws.items():
        flat = np.asarray(x).reshape(-1)
        q = np.quantile(flat, probs)
        rows[name] = [flat.mean(), np.median(flat), *q]
    return pd.DataFrame.from_dict(rows, orient="index", columns=["Mean", "Median", *[f"{p:g}" for p in probs]])
