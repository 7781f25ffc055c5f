"""The RoBMA ensemble: bias priors, measures and the component models with their prior weights.

A component model is one choice per component: the effect (``mu``: a point null or a
prior), the heterogeneity (``tau``: a point null or a prior) and the publication bias (none,
a step weight function of p-values with a cumulative Dirichlet prior on its weights, PET or
PEESE). Its prior probability is the product of the prior weights of its three choices,
normalized over the ensemble (RoBMA's rule). Parameters are on the Cohen's d scale (RoBMA's
``prior_scale = "cohens_d"``); the likelihood rescales them to the scale of the data.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..._exceptions import ModelSpecificationError
from .._priors import Prior, prior

__all__ = ["WeightFunction", "BiasPrior", "prior_weightfunction", "prior_pet", "prior_peese", "Component",
           "ComponentModel", "default_bias_priors", "make_ensemble", "measure_scale", "MEASURE_NAMES"]

# Measures: the linear factor c of RoBMA's approximate prior scaling from Cohen's d
# (mu and tau are multiplied by c, PEESE divided by c, PET is unchanged), as in metaBMA.
_SCALE = {"SMD": 1.0, "ZCOR": 0.5, "COR": 0.5, "OR": math.pi / math.sqrt(3.0), "GEN": 1.0}
MEASURE_NAMES = {"SMD": "Cohen's d", "ZCOR": "Fisher's z", "COR": "Fisher's z", "OR": "log(OR)",
                 "GEN": "the data's"}
_ALIASES = {"D": "SMD", "COHENS_D": "SMD", "Z": "ZCOR", "FISHERS_Z": "ZCOR", "R": "COR",
            "LOGOR": "OR", "LOG_OR": "OR", "NONE": "GEN"}


def normalize_measure(measure) -> str:
    """RoBMA's measure name (``SMD``, ``ZCOR``, ``COR``, ``OR``, ``GEN``) from a name or alias."""
    if not isinstance(measure, str):
        raise ModelSpecificationError(f"measure must be a string such as 'SMD', got {measure!r}")
    key = measure.upper()
    key = _ALIASES.get(key, key)
    if key not in _SCALE:
        raise ModelSpecificationError(
            f"unknown measure {measure!r}; use 'SMD' (Cohen's d), 'ZCOR' (Fisher's z), 'COR' "
            f"(correlations, fitted as Fisher's z), 'OR' (log odds ratios) or 'GEN'")
    return key


def measure_scale(measure: str) -> float:
    """The factor c that maps a Cohen's d prior to the scale of ``measure``."""
    return _SCALE[normalize_measure(measure)]


@dataclass(frozen=True)
class WeightFunction:
    """A step weight function: cut-offs ``steps`` on one-sided (``side="one.sided"``) or
    two-sided p-values and a cumulative Dirichlet(``alpha``) prior on the weights, the weight
    of the interval of the smallest p-values fixed at 1."""

    side: str
    steps: tuple[float, ...]
    alpha: tuple[float, ...]

    @property
    def num_free(self) -> int:
        return len(self.alpha) - 1

    @property
    def one_sided_steps(self) -> tuple[float, ...]:
        """The cut-offs on the one-sided p-value scale (a two-sided .05 is .025 and .975)."""
        if self.side == "one.sided":
            return self.steps
        return tuple(sorted({*(s / 2 for s in self.steps), *(1 - s / 2 for s in self.steps)}))

    def interval_weights(self, omega: np.ndarray, cuts: tuple[float, ...]) -> np.ndarray:
        """Weights (n, len(cuts) + 1) on the one-sided intervals bounded by ``cuts``, from the
        weights ``omega`` (n, J) of this function's own intervals."""
        edges = np.array([0.0, *cuts, 1.0])
        mids = (edges[:-1] + edges[1:]) / 2
        p = mids if self.side == "one.sided" else 2 * np.minimum(mids, 1 - mids)
        index = np.searchsorted(np.asarray(self.steps), p)
        return omega[:, index]

    def __str__(self) -> str:
        steps = ", ".join(f"{s:g}" for s in self.steps)
        alpha = ", ".join(f"{a:g}" for a in self.alpha)
        return f"omega[{self.side.replace('.', '-')}: {steps}] ~ CumDirichlet({alpha})"


@dataclass(frozen=True)
class BiasPrior:
    """One publication-bias alternative: a weight function, or PET / PEESE with a prior on
    its coefficient; ``prior_weights`` is its relative prior weight."""

    kind: str  # "weightfunction", "PET" or "PEESE"
    prior_weights: float
    weightfunction: WeightFunction | None = None
    coefficient: Prior | None = None

    @property
    def num_free(self) -> int:
        return self.weightfunction.num_free if self.kind == "weightfunction" else 1

    def __str__(self) -> str:
        if self.kind == "weightfunction":
            return str(self.weightfunction)
        return f"{self.kind} ~ {self.coefficient}"


def _weight(prior_weights) -> float:
    if isinstance(prior_weights, bool) or not isinstance(prior_weights, (int, float, np.number)) \
            or not math.isfinite(prior_weights) or prior_weights <= 0:
        raise ModelSpecificationError(f"prior_weights must be a positive number, got {prior_weights!r}")
    return float(prior_weights)


def prior_weightfunction(side: str, steps, alpha=None, *, prior_weights: float = 1.0) -> BiasPrior:
    """A step weight function for :func:`robma` (RoBMA's ``prior_weightfunction``).

    Parameters
    ----------
    side : {"one.sided", "two.sided"}
        Whether the cut-offs are on one-sided p-values (in the expected direction of the effect)
        or on two-sided p-values.
    steps : sequence of float
        Increasing cut-offs in (0, 1).
    alpha : sequence of float, optional
        Concentrations of the cumulative Dirichlet prior, one per interval
        (``len(steps) + 1``); default all 1.
    prior_weights : float
        Relative prior weight of the models with this weight function.

    Returns
    -------
    BiasPrior

    Examples
    --------
    >>> import multilevel as ml
    >>> print(ml.prior_weightfunction("one.sided", [0.025, 0.05]))
    omega[one-sided: 0.025, 0.05] ~ CumDirichlet(1, 1, 1)
    """
    side = {"one-sided": "one.sided", "two-sided": "two.sided"}.get(side, side)
    if side not in ("one.sided", "two.sided"):
        raise ModelSpecificationError(f"side must be 'one.sided' or 'two.sided', got {side!r}")
    steps = tuple(float(s) for s in np.atleast_1d(steps))
    if not steps or any(not 0 < s < 1 for s in steps) or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ModelSpecificationError(f"steps must be increasing p-values in (0, 1), got {steps}")
    alpha = tuple(float(a) for a in (np.ones(len(steps) + 1) if alpha is None else np.atleast_1d(alpha)))
    if len(alpha) != len(steps) + 1 or any(not a > 0 for a in alpha):
        raise ModelSpecificationError(
            f"alpha needs {len(steps) + 1} positive concentrations (one per interval), got {alpha}")
    return BiasPrior("weightfunction", _weight(prior_weights), WeightFunction(side, steps, alpha))


def _coefficient_prior(kind: str, p: Prior | None, default: Prior, prior_weights) -> BiasPrior:
    p = default if p is None else p
    if not isinstance(p, Prior) or p.is_point or p.lower < 0:
        raise ModelSpecificationError(f"the {kind} coefficient needs a prior on [0, Inf) (see ml.prior)")
    return BiasPrior(kind, _weight(prior_weights), coefficient=p)


def prior_pet(coefficient: Prior | None = None, *, prior_weights: float = 1.0) -> BiasPrior:
    """PET for :func:`robma`: the mean of estimate i is shifted by ``PET * se_i``; default prior
    Cauchy(0, 1) truncated to [0, Inf) (RoBMA's ``prior_PET``).

    Examples
    --------
    >>> import multilevel as ml
    >>> print(ml.prior_pet())
    PET ~ Cauchy(0, 1)[0, Inf]
    """
    return _coefficient_prior("PET", coefficient, prior("cauchy", 0, 1, lower=0), prior_weights)


def prior_peese(coefficient: Prior | None = None, *, prior_weights: float = 1.0) -> BiasPrior:
    """PEESE for :func:`robma`: the mean of estimate i is shifted by ``PEESE * se_i^2``; default
    prior Cauchy(0, 5) truncated to [0, Inf), on the Cohen's d scale (RoBMA's ``prior_PEESE``).

    Examples
    --------
    >>> import multilevel as ml
    >>> print(ml.prior_peese())
    PEESE ~ Cauchy(0, 5)[0, Inf]
    """
    return _coefficient_prior("PEESE", coefficient, prior("cauchy", 0, 5, lower=0), prior_weights)


def default_bias_priors(model_type: str = "PSMA") -> tuple[BiasPrior, ...]:
    """RoBMA's bias alternatives: ``"PSMA"`` (six weight functions of weight 1/12 each, PET and
    PEESE of weight 1/4 each), ``"PP"`` (PET and PEESE, 1/2 each) or ``"2w"`` (the two
    two-sided weight functions, 1/2 each)."""
    wf = prior_weightfunction
    if model_type == "PSMA":
        return (wf("two.sided", [0.05], prior_weights=1 / 12),
                wf("two.sided", [0.05, 0.10], prior_weights=1 / 12),
                wf("one.sided", [0.05], prior_weights=1 / 12),
                wf("one.sided", [0.025, 0.05], prior_weights=1 / 12),
                wf("one.sided", [0.05, 0.5], prior_weights=1 / 12),
                wf("one.sided", [0.025, 0.05, 0.5], prior_weights=1 / 12),
                prior_pet(prior_weights=1 / 4), prior_peese(prior_weights=1 / 4))
    if model_type == "PP":
        return prior_pet(prior_weights=1 / 2), prior_peese(prior_weights=1 / 2)
    if model_type == "2w":
        return wf("two.sided", [0.05], prior_weights=1 / 2), wf("two.sided", [0.05, 0.10], prior_weights=1 / 2)
    raise ModelSpecificationError(f"model_type must be 'PSMA', 'PP' or '2w', got {model_type!r}")


@dataclass(frozen=True)
class Component:
    """One choice for a component: a prior (point or proper) and whether it is the null."""

    prior: Prior | BiasPrior | None
    is_null: bool
    prior_weights: float = 1.0


@dataclass(frozen=True)
class ComponentModel:
    """One model of the ensemble: priors of mu and tau, the bias alternative (None: no bias)
    and the prior probability. With clusters, ``rho`` is the prior of rho in the models with
    heterogeneity (None otherwise: independent estimates) and ``hierarchical`` says whether the
    model has the Hierarchical component (heterogeneity and rho's alternative prior)."""

    mu: Prior
    tau: Prior
    bias: BiasPrior | None
    effect: bool
    heterogeneity: bool
    prior_prob: float
    rho: Prior | None = field(default=None, kw_only=True)
    hierarchical: bool = field(default=False, kw_only=True)

    @property
    def has_bias(self) -> bool:
        return self.bias is not None

    @property
    def free(self) -> tuple[str, ...]:
        """Names of the free parameters, in the order of the unconstrained vector."""
        out = [n for n, p in (("mu", self.mu), ("tau", self.tau)) if not p.is_point]
        if self.bias is not None:
            if self.bias.kind == "weightfunction":
                out += [f"eta{j}" for j in range(self.bias.num_free)]
            else:
                out.append(self.bias.kind)
        if self.rho is not None and not self.rho.is_point:
            out.append("rho")
        return tuple(out)

    @property
    def dim(self) -> int:
        return len(self.free)

    def bias_label(self) -> str:
        return "None" if self.bias is None else str(self.bias)


def _choices(alternatives, nulls) -> list[Component]:
    return [Component(p, True, w) for p, w in nulls] + [Component(p, False, w) for p, w in alternatives]


def make_ensemble(effect, effect_null, heterogeneity, heterogeneity_null, bias, bias_null: bool,
                  hierarchical=None, hierarchical_null=()) -> tuple[ComponentModel, ...]:
    """All combinations of the component choices (nulls first, as RoBMA orders them), with
    prior probabilities proportional to the product of the choices' prior weights (1 for the
    effect, heterogeneity and rho priors and for no bias, ``prior_weights`` for a bias
    alternative).

    With clusters, ``hierarchical`` (the alternative priors of rho) and ``hierarchical_null``
    cross every combination as a fourth component, as RoBMA's ``.make_models`` does: a model
    whose tau is the point 0 has no rho, so its versions with the null and the alternative prior
    of rho are the same model twice (each with its share of the prior probability)."""
    eff = _choices([(p, 1.0) for p in effect], [(p, 1.0) for p in effect_null])
    het = _choices([(p, 1.0) for p in heterogeneity], [(p, 1.0) for p in heterogeneity_null])
    bia = ([Component(None, True, 1.0)] if bias_null else []) + [Component(b, False, b.prior_weights) for b in bias]
    hie = [None] if hierarchical is None else _choices([(p, 1.0) for p in hierarchical],
                                                        [(p, 1.0) for p in hierarchical_null])
    rows = []
    for e, h, b, r in itertools.product(eff, het, bia, hie):
        rows.append((e, h, b, r, e.prior_weights * h.prior_weights * b.prior_weights * (r.prior_weights if r else 1)))
    total = sum(row[4] for row in rows)
    return tuple(_model(e, h, b, r, w / total) for e, h, b, r, w in rows)


def _model(e: Component, h: Component, b: Component, r: Component | None, prob: float) -> ComponentModel:
    has_tau = not (h.prior.is_point and h.prior.params[0] == 0)  # RoBMA: rho only where tau is not 0
    rho = r.prior if r is not None and has_tau else None
    return ComponentModel(e.prior, h.prior, b.prior, not e.is_null, not h.is_null, prob, rho=rho,
                          hierarchical=rho is not None and not r.is_null)
