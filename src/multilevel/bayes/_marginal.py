"""Log marginal likelihoods and Bayes factors of brma fits, as values with their Monte Carlo error."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._display import TextReport

__all__ = ["MarginalLikelihood", "BayesFactor"]


@dataclass(frozen=True, repr=False)
class MarginalLikelihood(TextReport):
    """log p(y) with its Monte Carlo standard error (0 for quadrature) and the method."""

    log_ml: float
    mc_error: float
    method: str
    iterations: int = 0

    def __str__(self) -> str:
        return f"log marginal likelihood = {self.log_ml:.4f} (MC error {self.mc_error:.4f}; {self.method})"


@dataclass(frozen=True, repr=False)
class BayesFactor(TextReport):
    """BF10 = p(y | model 1) / p(y | model 0), with the Monte Carlo error of log BF10."""

    log_bf: float
    mc_error: float
    method: str

    @property
    def bf(self) -> float:
        return math.exp(self.log_bf)

    @classmethod
    def from_marginals(cls, m1: MarginalLikelihood, m0: MarginalLikelihood) -> "BayesFactor":
        return cls(m1.log_ml - m0.log_ml, math.hypot(m1.mc_error, m0.mc_error), m1.method)

    def __str__(self) -> str:
        return (f"BF10 = {self.bf:.4g} (log BF10 = {self.log_bf:.4f}, MC error {self.mc_error:.4f}; "
                f"{self.method})")
