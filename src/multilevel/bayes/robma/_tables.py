"""The printed reports of a RoBMA fit, in RoBMA's layout (three decimals).

Each report keeps its numbers as DataFrames; ``__str__`` formats those same numbers and
``to_frame()`` returns them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..._display import FrameMapping, TextReport
from ..._rformat import render_table
from ._averaging import weighted_moments, weighted_quantile

__all__ = ["RobmaSummary", "ModelsOverview", "interpret_text", "SCALE_NAMES"]

SCALE_NAMES = {"d": "Cohen's d", "r": "correlation", "z": "Fisher's z", "logOR": "log(OR)",
               None: "the data's"}


def _num(x: float, digits: int = 3) -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.{digits}f}"


def _frame_text(frame: pd.DataFrame, digits: dict | None = None, left=()) -> str:
    digits = digits or {}
    cols = {c: [_num(v, digits.get(c, 3)) if not isinstance(v, str) else v for v in frame[c]]
            for c in frame.columns}
    return render_table(cols, [str(i) for i in frame.index], left_align=left)


@dataclass(frozen=True, repr=False)
class RobmaSummary(TextReport, FrameMapping):
    """Summary of a RoBMA fit: the Components table and the model-averaged (or conditional)
    estimates. ``to_frame()`` gives the estimates, ``to_frame("components")`` the components."""

    components: pd.DataFrame
    estimates: pd.DataFrame
    conditional: bool
    scale_note: str
    one_sided_note: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self, block: str = "estimates") -> pd.DataFrame:
        """``"estimates"`` or ``"components"``."""
        if block.lower() not in ("estimates", "components"):
            raise KeyError(f"no block {block!r}; blocks: estimates, components")
        return (self.estimates if block.lower() == "estimates" else self.components).copy()

    def __str__(self) -> str:
        comp = self.components.copy()
        lines = ["Robust Bayesian meta-analysis", "Components summary:", _frame_text(comp), ""]
        title = "Conditional estimates:" if self.conditional else "Model-averaged estimates:"
        lines += [title, _frame_text(self.estimates)]
        lines.append(self.scale_note)
        if self.one_sided_note:
            lines.append("(Estimated publication weights omega correspond to one-sided p-values.)")
        lines += list(self.notes)
        return "\n".join(lines)


@dataclass(frozen=True, repr=False)
class ModelsOverview(TextReport, FrameMapping):
    """One row per component model: priors, prior probability, log marginal likelihood (with
    its error and method), posterior probability and the model's inclusion Bayes factor
    (posterior over prior odds of the model against all others)."""

    frame: pd.DataFrame
    title = "Robust Bayesian meta-analysis"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def __str__(self) -> str:
        priors = [c for c in self.frame.columns if c.startswith("Prior ") and c != "Prior prob."]  # frame order
        shown = self.frame[[*priors, "Prior prob.", "log(marglik)", "Post. prob.", "Inclusion BF"]]
        text = _frame_text(shown.rename_axis(None), {"log(marglik)": 2}, left=tuple(priors))
        return f"{self.title}\nModels overview:\n" + text


def _strength(bf: float) -> str:
    b = max(bf, 1 / bf) if bf > 0 else math.inf  # RoBMA: |log BF| above log 10, above log 3
    if b > 10:
        return "strong"
    if b > 3:
        return "moderate"
    return "weak"


def _evidence(name: str, bf: float, symbol: str) -> str:
    """RoBMA's sentence (BayesTools' ``interpret``): the BF with 2 decimals above 1, 3 below; Inf
    when the models without the component have no posterior mass left (see ``inclusion_bf``)."""
    if math.isnan(bf):
        return f"The ensemble did not compare models with and without {name}."
    direction = "in favor of" if bf > 1 else "against"
    return (f"Robust Bayesian meta-analysis found {_strength(bf)} evidence {direction} {name}, "
            f"{symbol} = {_num(bf, 3 if bf < 1 else 2)}")


def interpret_text(components: pd.DataFrame, estimates: pd.DataFrame, scale: str, level: float) -> str:
    """Sentences on the evidence for each component and the model-averaged mu and tau."""
    lo, hi = estimates.columns[2], estimates.columns[3]
    pct = f"{level * 100:g}%"
    out = []
    for comp, name, symbol, par in (("Effect", "the effect", "BF10", "mu"),
                                    ("Heterogeneity", "the heterogeneity", "BFrf", "tau"),
                                    ("Bias", "the publication bias", "BFpb", None)):
        if comp not in components.index:
            continue
        text = _evidence(name, float(components.loc[comp, "Inclusion BF"]), symbol)
        if par is not None and par in estimates.index:
            row = estimates.loc[par]
            text += (f", with mean model-averaged estimate {par} = {_num(row['Mean'])}, "
                     f"{pct} CI [{_num(row[lo])}, {_num(row[hi])}]")
        out.append(text + ".")
    out.append(f"(Estimates on the {SCALE_NAMES.get(scale, scale)} scale.)".replace("the the ", "the "))
    return "\n".join(out)


def components_frame(rows: list[tuple[str, int, int, float, float, float]]) -> pd.DataFrame:
    """The Components table from (name, models with, total models, prior, posterior, BF)."""
    return pd.DataFrame({"Models": [f"{a}/{b}" for _, a, b, *_ in rows],
                         "Prior prob.": [r[3] for r in rows], "Post. prob.": [r[4] for r in rows],
                         "Inclusion BF": [r[5] for r in rows]},
                        index=pd.Index([r[0] for r in rows]))


def estimates_frame(names, values_weights, probs) -> pd.DataFrame:
    """Mean, Median and the quantiles ``probs`` of weighted samples, one row per name."""
    rows = []
    for x, w in values_weights:
        m, _ = weighted_moments(x, w)
        q = weighted_quantile(x, w, [0.5, *probs])
        rows.append([m, *q])
    cols = ["Mean", "Median", *(f"{p:g}" for p in probs)]
    return pd.DataFrame(np.array(rows, dtype=float).reshape(len(rows), len(cols)), index=list(names),
                        columns=cols)
