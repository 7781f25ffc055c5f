"""The printed summary of a RoBMA meta-regression, in RoBMA.reg's layout (three decimals).

Four blocks: the Components table (effect, heterogeneity, bias), the Meta-regression
components table (one row per moderator), the model-averaged (or conditional) estimates and
the model-averaged meta-regression estimates (the intercept and each moderator's effect: the
coefficient of a standardized continuous moderator, the deviation of each level of a factor
from the mean of the levels). ``__str__`` formats the frames that ``to_frame`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..._display import FrameMapping, TextReport
from ._tables import ModelsOverview, _frame_text

__all__ = ["RobmaRegSummary", "RegModelsOverview"]

_BLOCKS = ("estimates", "components", "moderators", "moderator_estimates")


@dataclass(frozen=True, repr=False)
class RobmaRegSummary(TextReport, FrameMapping):
    """Summary of a RoBMA meta-regression. ``to_frame()`` gives the estimates;
    ``to_frame("components")``, ``to_frame("moderators")`` (the meta-regression components)
    and ``to_frame("moderator_estimates")`` the other blocks."""

    components: pd.DataFrame
    moderators: pd.DataFrame
    estimates: pd.DataFrame
    moderator_estimates: pd.DataFrame
    conditional: bool
    scale_note: str
    one_sided_note: bool = True

    def to_frame(self, block: str = "estimates") -> pd.DataFrame:
        """``"estimates"``, ``"components"``, ``"moderators"`` or ``"moderator_estimates"``."""
        key = str(block).lower()
        if key not in _BLOCKS:
            raise KeyError(f"no block {block!r}; blocks: {', '.join(_BLOCKS)}")
        return getattr(self, key).copy()

    def __str__(self) -> str:
        kind = "Conditional" if self.conditional else "Model-averaged"
        lines = ["Robust Bayesian meta-regression", "Components summary:", _frame_text(self.components), "",
                 "Meta-regression components summary:", _frame_text(self.moderators), "",
                 f"{kind} estimates:", _frame_text(self.estimates), self.scale_note]
        if self.one_sided_note:
            lines.append("(Estimated publication weights omega correspond to one-sided p-values.)")
        lines += ["", f"{kind} meta-regression estimates:", _frame_text(self.moderator_estimates),
                  self.scale_note]
        return "\n".join(lines)


@dataclass(frozen=True, repr=False)
class RegModelsOverview(ModelsOverview):
    """One row per component model of a meta-regression, in RoBMA.reg's column order: the priors
    of the intercept (the effect), of each moderator (``Spike(0)`` where the model leaves it out),
    the heterogeneity and the bias, then prior probability, log marginal likelihood (with its
    error and method), posterior probability and inclusion Bayes factor."""

    title = "Robust Bayesian meta-regression"
