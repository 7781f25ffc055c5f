"""Names of the variance components of an ``rma_mv`` fit, shared by its printout, profiles and plots."""

from __future__ import annotations

from typing import Any

__all__ = ["component_names"]


def component_names(fit: Any) -> list[str]:
    """Names of the natural parameters: sigma2[.j], tau2[.j], rho[.j]."""
    lay = fit._layout
    out: list[str] = []
    for kind, n in (("sigma2", lay.ns), ("tau2", lay.nt), ("rho", lay.nr), ("gamma2", lay.ng), ("phi", lay.nphi)):
        out += [kind] if n == 1 else [f"{kind}.{j + 1}" for j in range(n)]
    return out
