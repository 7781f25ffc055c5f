"""Profile-likelihood plots of variance components (matplotlib), as metafor's ``plot(profile(res))``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..multivariate._components import component_names
from ..._plots_common import axes_for

__all__ = ["plot_profile", "plot_profiles"]

_LABELS = {"sigma2": "\\sigma^2", "tau2": "\\tau^2", "rho": "\\rho", "gamma2": "\\gamma^2", "phi": "\\phi"}


def _label(component: str) -> str:
    base, _, num = component.partition(".")
    sym = _LABELS.get(base, base)
    return f"${sym}_{{{num}}}$" if num else f"${sym}$"


def plot_profile(prof: Any, ax: Any = None, *, reml: bool | None = None, **line_kw: Any) -> Any:
    """Draw one profile: log-likelihood against the component, with the estimate and the maximum.

    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    style = {"color": "black", "marker": "o", "markersize": 3, "linewidth": 1}
    style.update(line_kw)
    ok = np.isfinite(prof.loglik)
    ax.plot(prof.values[ok], prof.loglik[ok], **style)
    ax.axvline(prof.estimate, linestyle=":", color="gray", linewidth=1)
    ax.axhline(prof.loglik_max, linestyle=":", color="gray", linewidth=1)
    kind = "Restricted Log-Likelihood" if reml or reml is None else "Log-Likelihood"
    ax.set_xlabel(_label(prof.component))
    ax.set_ylabel(kind)
    ax.set_title(f"Profile Plot for {_label(prof.component)}")
    return ax


def plot_profiles(fit: Any, components: list[str] | None = None, *, steps: int = 20, ax: Any = None) -> Any:
    """Profile plots of several components side by side (all estimated ones by default), into
    ``ax`` (one Axes, or one per component) or a new figure.

    Returns the matplotlib Figure.
    """

    names = components or [n for n, f in zip(component_names(fit), fit.fixed) if not f]
    fig, axes = axes_for(ax, len(names), figsize=(4.5 * len(names), 4))
    for a, name in zip(axes, names):
        plot_profile(fit.profile(name, steps=steps), ax=a, reml=fit.method == "REML")
    return fig
