"""Parameter layout of a brma model: which coefficients NUTS samples and which are collapsed.

Pure Python; shared by the model (JAX), the draws post-processing and the quadrature check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._priors import Prior, Priors

__all__ = ["Layout", "make_layout"]


@dataclass(frozen=True)
class Layout:
    """Sites of a brma model.

    ``fixed`` lists (site, prior) per column of the location design X (column 0 is the
    intercept mu); ``collapsed`` are the indices of the columns whose normal, untruncated prior
    lets them be integrated out; ``scale`` lists (site, prior) per column of the scale design Z.
    """

    fixed: tuple[tuple[str, Prior], ...]
    collapsed: tuple[int, ...]
    tau: Prior
    rho: Prior | None
    scale: tuple[tuple[str, Prior], ...]

    @property
    def collapsed_mean(self) -> tuple[float, ...]:
        return tuple(self.fixed[j][1].params[0] for j in self.collapsed)

    @property
    def collapsed_sd(self) -> tuple[float, ...]:
        return tuple(self.fixed[j][1].params[1] for j in self.collapsed)

    def sampled_sites(self) -> list[str]:
        """Sites NUTS sees, in a fixed order."""
        out = [n for j, (n, p) in enumerate(self.fixed) if j not in self.collapsed and not p.is_point]
        out += [] if self.tau.is_point else ["tau"]
        out += [] if self.rho is None or self.rho.is_point else ["rho"]
        return out + [n for n, p in self.scale if not p.is_point]

    def prior_of(self, site: str) -> Prior:
        table = dict(self.fixed) | dict(self.scale) | {"tau": self.tau}
        if self.rho is not None:
            table["rho"] = self.rho
        return table[site]


def _collapsible(p: Prior) -> bool:
    return p.family == "normal" and math.isinf(p.lower) and math.isinf(p.upper)


def make_layout(priors: Priors, *, collapse: bool = True) -> Layout:
    """Layout for ``priors``; ``collapse=False`` makes NUTS sample every coefficient."""
    fixed = (("b0", priors.mu),) + tuple((f"b{j + 1}", p) for j, p in enumerate(priors.mods.values()))
    collapsed = tuple(j for j, (_, p) in enumerate(fixed) if collapse and _collapsible(p))
    scale = tuple((f"d{j + 1}", p) for j, p in enumerate(priors.scale.values()))
    return Layout(fixed, collapsed, priors.tau, priors.rho, scale)
