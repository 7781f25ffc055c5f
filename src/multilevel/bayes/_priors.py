"""Prior distributions for :func:`multilevel.brma` and RoBMA's default prior settings.

A :class:`Prior` is a frozen description (family, parameters, truncation). It
evaluates its log density with NumPy/SciPy (for plots, quadrature and bridge
sampling) and builds the matching NumPyro distribution on demand (for the
sampler), so this module never imports JAX at import time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._exceptions import ModelSpecificationError
from .._display import TextReport

__all__ = ["Prior", "prior", "Priors", "unit_information_sd", "default_priors", "KNOWN_UISD"]

# Unit-information standard deviations of standardized effect-size measures (RoBMA 4).
KNOWN_UISD = {"SMD": math.sqrt(2.0), "ZCOR": 1.0, "OR": 2.0, "RR": 2.0, "HR": 2.0, "IRR": 2.0}
MEASURES = (*KNOWN_UISD, "GEN")

_FAMILIES = {
    "normal": ("mean", "sd"),
    "cauchy": ("location", "scale"),
    "t": ("location", "scale", "df"),
    "invgamma": ("shape", "scale"),
    "beta": ("alpha", "beta"),
    "uniform": ("a", "b"),
    "point": ("location",),
}
_NATURAL_SUPPORT = {"invgamma": (0.0, math.inf), "beta": (0.0, 1.0)}
_ALIASES = {"student": "t", "student_t": "t", "inverse-gamma": "invgamma", "inverse_gamma": "invgamma",
            "truncated_normal": "normal", "spike": "point"}


@dataclass(frozen=True)
class Prior:
    """A univariate prior distribution, optionally truncated to ``[lower, upper]``.

    Build it with :func:`prior`. Fields are public and read-only.

    Examples
    --------
    >>> import multilevel as ml
    >>> p = ml.prior("normal", 0, 0.5, lower=0)
    >>> round(float(p.pdf(0.0)), 4)
    1.5958
    """

    family: str
    params: tuple[float, ...]
    lower: float = -math.inf
    upper: float = math.inf

    # -- scipy representation -------------------------------------------------------------
    def _scipy(self):
        from scipy import stats  # lazily: keeps ``import multilevel`` fast

        p = self.params
        if self.family == "normal":
            return stats.norm(p[0], p[1])
        if self.family == "cauchy":
            return stats.cauchy(p[0], p[1])
        if self.family == "t":
            return stats.t(p[2], p[0], p[1])
        if self.family == "invgamma":
            return stats.invgamma(p[0], scale=p[1])
        if self.family == "beta":
            return stats.beta(p[0], p[1])
        return stats.uniform(p[0], p[1] - p[0])

    @property
    def is_point(self) -> bool:
        """True for a point (spike) prior: the parameter is fixed, not sampled."""
        return self.family == "point"

    @property
    def _log_mass(self) -> float:
        """Log of the untruncated probability of ``[lower, upper]`` (normalizing constant)."""
        if self.is_point:
            return 0.0
        dist = self._scipy()
        lo, hi = dist.cdf(self.lower), dist.cdf(self.upper)
        if hi - lo < 1e-8:  # the upper tail is the accurate side
            return float(np.log(dist.sf(self.lower) - dist.sf(self.upper)))
        return float(np.log(hi - lo))

    def logpdf(self, x) -> np.ndarray:
        """Log density at ``x`` (``-inf`` outside the support); point priors are not densities.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.prior("normal", mean=0, sd=1, lower=0).logpdf([0.5]).round(4)
        array([-0.3508])
        """
        if self.is_point:
            raise ModelSpecificationError("a point prior has no density")
        x = np.asarray(x, dtype=float)
        out = self._scipy().logpdf(x) - self._log_mass
        return np.where((x >= self.lower) & (x <= self.upper), out, -np.inf)

    def pdf(self, x) -> np.ndarray:
        """Density at ``x``.

        Examples
        --------
        >>> import multilevel as ml
        >>> ml.prior("normal", mean=0, sd=1, lower=0).pdf([0.5, 1.0]).round(4)
        array([0.7041, 0.4839])
        """
        return np.exp(self.logpdf(x))

    def mean(self) -> float:
        """Mean of the (truncated) prior, by quadrature where needed.

        Examples
        --------
        >>> import multilevel as ml
        >>> round(ml.prior("normal", mean=0, sd=1, lower=0).mean(), 4)
        0.7979
        """
        if self.is_point:
            return self.params[0]
        if self.family in ("cauchy",) and (np.isinf(self.lower) or np.isinf(self.upper)):
            return math.nan
        return float(self._scipy().expect(lb=self.lower, ub=self.upper, conditional=True))

    def numpyro_distribution(self):
        """The matching NumPyro distribution (imports NumPyro), truncated as the prior is.

        Examples
        --------
        >>> import multilevel as ml
        >>> half_normal = ml.prior("normal", 0, 1, lower=0).numpyro_distribution()
        >>> round(float(half_normal.log_prob(0.5)), 4)
        -0.3508
        """
        import numpyro.distributions as dist

        p = [float(v) for v in self.params]
        base = {
            "normal": lambda: dist.Normal(p[0], p[1]),
            "cauchy": lambda: dist.Cauchy(p[0], p[1]),
            "t": lambda: dist.StudentT(p[2], p[0], p[1]),
            "invgamma": lambda: dist.InverseGamma(p[0], p[1]),
            "beta": lambda: dist.Beta(p[0], p[1]),
            "uniform": lambda: dist.Uniform(p[0], p[1]),
        }[self.family]()
        natural = _NATURAL_SUPPORT.get(self.family, (-math.inf, math.inf))
        if self.family == "uniform" or (self.lower, self.upper) == natural:
            return base
        low = None if np.isinf(self.lower) else float(self.lower)
        high = None if np.isinf(self.upper) else float(self.upper)
        if self.family == "normal":
            return dist.TruncatedNormal(p[0], p[1], low=low, high=high)
        return dist.TruncatedDistribution(base, low=low, high=high)

    def __str__(self) -> str:
        name = {"normal": "Normal", "cauchy": "Cauchy", "t": "Student-t", "invgamma": "InvGamma",
                "beta": "Beta", "uniform": "Uniform", "point": "Spike"}[self.family]
        text = f"{name}({', '.join(_fmt(v) for v in self.params)})"
        natural = _NATURAL_SUPPORT.get(self.family, (-math.inf, math.inf))
        if self.family not in ("uniform", "point") and (self.lower, self.upper) != natural:
            text += f"[{_fmt(self.lower)}, {_fmt(self.upper)}]"
        return text


def _fmt(x: float) -> str:
    if np.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def prior(distribution: str, *args: float, lower: float | None = None, upper: float | None = None,
          **params: float) -> Prior:
    """Create a prior distribution (RoBMA's ``prior()``).

    Parameters
    ----------
    distribution : str
        ``"normal"``, ``"cauchy"``, ``"t"``, ``"invgamma"``, ``"beta"``, ``"uniform"`` or
        ``"point"``.
    *args, **params : float
        Parameters in order or by name: normal (mean, sd), cauchy (location, scale),
        t (location, scale, df), invgamma (shape, scale), beta (alpha, beta), uniform (a, b),
        point (location).
    lower, upper : float, optional
        Truncation bounds (a truncated normal is ``prior("normal", 0, 1, lower=0)``).

    Returns
    -------
    Prior

    Examples
    --------
    >>> import multilevel as ml
    >>> print(ml.prior("normal", 0, 0.5, lower=0))
    Normal(0, 0.5)[0, Inf]
    >>> print(ml.prior("beta", alpha=2, beta=2))
    Beta(2, 2)
    """
    family = _ALIASES.get(distribution.lower(), distribution.lower())
    if family not in _FAMILIES:
        raise ModelSpecificationError(
            f"unknown prior distribution {distribution!r}; use one of {', '.join(_FAMILIES)}")
    names = _FAMILIES[family]
    if len(args) > len(names):
        raise ModelSpecificationError(f"a {family} prior takes parameters {', '.join(names)}")
    values = dict(zip(names, args))
    unknown = set(params) - set(names)
    if unknown:
        raise ModelSpecificationError(
            f"unknown parameter(s) {', '.join(sorted(unknown))} of a {family} prior; "
            f"it takes {', '.join(names)}")
    values.update(params)
    missing = [n for n in names if n not in values]
    if missing:
        raise ModelSpecificationError(f"the {family} prior needs {', '.join(missing)}")
    vals = tuple(float(values[n]) for n in names)
    _check_params(family, vals)
    natural = _NATURAL_SUPPORT.get(family, (vals if family == "uniform" else (-math.inf, math.inf)))
    lo = natural[0] if lower is None else max(float(lower), natural[0])
    hi = natural[1] if upper is None else min(float(upper), natural[1])
    if family == "point":
        lo = hi = vals[0]
    elif not lo < hi:
        raise ModelSpecificationError(f"the truncation [{lo}, {hi}] of the {family} prior is empty")
    return Prior(family, vals, lo, hi)


def _check_params(family: str, vals: tuple[float, ...]) -> None:
    positive = {"normal": (1,), "cauchy": (1,), "t": (1, 2), "invgamma": (0, 1), "beta": (0, 1)}
    for i in positive.get(family, ()):
        if not vals[i] > 0:
            raise ModelSpecificationError(
                f"parameter {_FAMILIES[family][i]} of a {family} prior must be positive, got {vals[i]}")
    if family == "uniform" and not vals[0] < vals[1]:
        raise ModelSpecificationError("a uniform prior needs a < b")
    if not all(np.isfinite(vals)):
        raise ModelSpecificationError(f"the parameters of a {family} prior must be finite")


@dataclass(frozen=True, repr=False)
class Priors(TextReport):
    """The priors of a fit, by parameter: ``mu``, ``tau``, ``rho`` (multilevel), one per
    moderator coefficient and one per scale coefficient.

    Examples
    --------
    >>> import math
    >>> from multilevel.bayes._priors import default_priors
    >>> print(default_priors(math.sqrt(2), multilevel=True, mods=[], scale=[]))
    Priors:
      mu  ~ Normal(0, 0.71)
      tau ~ Normal(0, 0.35)[0, Inf]
      rho ~ Beta(1, 1)
    (unit information SD = 1.414)
    """

    mu: Prior
    tau: Prior
    rho: Prior | None = None
    mods: dict[str, Prior] = field(default_factory=dict)
    scale: dict[str, Prior] = field(default_factory=dict)
    unit_information_sd: float | None = None

    def items(self) -> list[tuple[str, Prior]]:
        """(name, prior) pairs in display order.

        Examples
        --------
        >>> import multilevel as ml
        >>> priors = ml.Priors(mu=ml.prior("normal", 0, 1), tau=ml.prior("invgamma", 1, 0.15),
        ...                    rho=ml.prior("beta", 1, 1))
        >>> [name for name, _ in priors.items()]
        ['mu', 'tau', 'rho']
        """
        out = [("intercept" if self.mods else "mu", self.mu), ("tau", self.tau)]
        if self.rho is not None:
            out.append(("rho", self.rho))
        out += list(self.mods.items()) + [(f"scale: {k}", v) for k, v in self.scale.items()]
        return out

    def __str__(self) -> str:
        rows = self.items()
        width = max(len(k) for k, _ in rows)
        lines = ["Priors:"] + [f"  {k:<{width}} ~ {v}" for k, v in rows]
        if self.unit_information_sd is not None:
            lines.append(f"(unit information SD = {self.unit_information_sd:.3f})")
        if self.mods or self.scale:
            lines.append("(coefficient priors apply to standardized continuous predictors)")
        return "\n".join(lines)


def unit_information_sd(measure: str, sei: np.ndarray | None = None, ni: np.ndarray | None = None) -> float:
    """Unit-information SD for ``measure``: known for standardized measures, otherwise estimated
    from standard errors and sample sizes as ``sqrt(sum(n) / sum(1 / se^2))`` (Roever et al. 2021,
    eq. 6).

    Examples
    --------
    >>> from multilevel.bayes._priors import unit_information_sd
    >>> round(unit_information_sd("SMD"), 4)
    1.4142
    """
    key = measure.upper()
    if key in KNOWN_UISD:
        return KNOWN_UISD[key]
    if key != "GEN":
        raise ModelSpecificationError(
            f"unknown measure {measure!r}; use one of {', '.join(MEASURES)}")
    if ni is None or sei is None:
        raise ModelSpecificationError(
            "measure 'GEN' has no known unit information SD: give the sample sizes (ni=...) "
            "or set prior_unit_information_sd")
    return float(np.sqrt(np.sum(ni) / np.sum(1.0 / np.asarray(sei) ** 2)))


def default_priors(uisd: float, *, multilevel: bool, mods: list[str], scale: list[str]) -> Priors:
    """RoBMA 4 defaults: mu ~ N(0, UISD/2), tau ~ N+(0, UISD/4), rho ~ Beta(1, 1), moderator
    coefficients ~ N(0, UISD/4) (standardized predictors), scale coefficients ~ N(0, 0.5)."""
    return Priors(
        mu=prior("normal", 0.0, uisd / 2),
        tau=prior("normal", 0.0, uisd / 4, lower=0.0),
        rho=prior("beta", 1.0, 1.0) if multilevel else None,
        mods={name: prior("normal", 0.0, uisd / 4) for name in mods},
        scale={name: prior("normal", 0.0, 0.5) for name in scale},
        unit_information_sd=uisd,
    )
