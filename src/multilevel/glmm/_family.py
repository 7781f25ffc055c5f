"""Families and links of generalized linear mixed models, as lme4 evaluates them (arrays only).

The inverse links are bounded away from 0 and 1 by machine epsilon exactly
where lme4's ``glmFamily.cpp`` bounds them, so that the penalized iteratively
reweighted least squares follow lme4's path; variance functions, deviance
residuals and the ``aic`` terms (minus twice the conditional log-likelihood)
are R's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special

from .._exceptions import ArgumentError

__all__ = ["Link", "Family", "make_family", "LINKS", "FAMILIES"]

_EPS = float(np.finfo(float).eps)
_LOG_EPS = float(np.log(_EPS))
_LOGIT_SAFE = 36.0  # |eta| below which expit(eta) lies inside [eps, 1 - eps]


def _clamp01(p):
    return np.clip(p, _EPS, 1.0 - _EPS)


def _logit_mueta(eta):
    e = np.exp(-np.abs(eta))
    return np.maximum(_EPS, e / np.square(1.0 + e))


def _cloglog_inv(eta):
    return _clamp01(-np.expm1(-np.exp(eta)))


def _cloglog_mueta(eta):
    return np.maximum(_EPS, np.exp(eta - np.exp(eta)))


def _boundexp(eta):
    return np.maximum(_EPS, np.exp(eta))


@dataclass(frozen=True)
class Link:
    """A link function: ``linkfun`` (mu -> eta), ``linkinv`` (eta -> mu) and ``mu_eta`` (d mu / d eta)."""

    name: str
    linkfun: Callable[[np.ndarray], np.ndarray]
    linkinv: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]


LINKS = {
    "logit": Link("logit", special.logit, lambda e: _clamp01(special.expit(e)), _logit_mueta),
    "probit": Link("probit", special.ndtri, lambda e: np.minimum(1.0 - _EPS, special.ndtr(e)),
                     lambda e: np.exp(-0.5 * np.square(e)) / np.sqrt(2.0 * np.pi)),
    "cloglog": Link("cloglog", lambda m: np.log(-np.log1p(-m)), _cloglog_inv, _cloglog_mueta),
    "log": Link("log", np.log, _boundexp, _boundexp),
    "identity": Link("identity", lambda m: np.array(m, dtype=float), lambda e: np.array(e, dtype=float),
                     lambda e: np.ones_like(e, dtype=float)),
    "inverse": Link("inverse", lambda m: 1.0 / m, lambda e: 1.0 / e, lambda e: -1.0 / np.square(e)),
    "sqrt": Link("sqrt", np.sqrt, np.square, lambda e: 2.0 * e),
}


def _ylogy(y, mu):
    """``y log(y / mu)``, 0 where ``y / mu`` is 0 (lme4's ``Y_log_Y``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return special.xlogy(y, y / mu)


def _log_or0(x):
    with np.errstate(divide="ignore"):
        return np.where(x != 0, np.log(np.where(x != 0, x, 1.0)), 0.0)


# --------------------------------------------------------------------------- distributions
def _binomial_variance(mu):
    return np.maximum(_EPS, mu * (1.0 - mu))


def _binomial_devres(y, mu, wt):
    return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))


def _binomial_aic(y, n, mu, wt, dev):
    m = n if np.any(n > 1) else wt
    yy = np.rint(m * y)
    m = np.rint(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        ld = (special.gammaln(m + 1.0) - special.gammaln(yy + 1.0) - special.gammaln(m - yy + 1.0)
              + special.xlogy(yy, mu) + special.xlog1py(m - yy, -mu))
        factor = np.where(m <= 0, 0.0, wt / np.where(m <= 0, 1.0, m))
    return -2.0 * float(np.sum(np.where(factor == 0, 0.0, factor * ld)))


def _binomial_aic_parts(y, n, wt):
    """The mu-free pieces of :func:`_binomial_aic`: ``(factor, const, yy, m - yy)`` with
    ``aic = -2 sum(factor (const + yy log mu + (m - yy) log(1 - mu)))``, ``factor = 0`` where ``m = 0``."""
    m = n if np.any(n > 1) else wt
    yy = np.rint(m * y)
    m = np.rint(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(m <= 0, 0.0, wt / np.where(m <= 0, 1.0, m))
        const = special.gammaln(m + 1.0) - special.gammaln(yy + 1.0) - special.gammaln(m - yy + 1.0)
    keep = factor != 0
    return factor, np.where(keep, const, 0.0), np.where(keep, yy, 0.0), np.where(keep, m - yy, 0.0)


def _binomial_aic_fn(y, n, wt):
    """:func:`_binomial_aic` with the terms that do not depend on mu computed once."""
    factor, const, yy, rest = _binomial_aic_parts(y, n, wt)
    keep = factor != 0
    factor, const, yy, rest = factor[keep], const[keep], yy[keep], rest[keep]

    def aic(mu, dev):
        ld = const + special.xlogy(yy, mu[keep]) + special.xlog1py(rest, -mu[keep])
        return -2.0 * float(factor @ ld)

    return aic


def _poisson_devres(y, mu, wt):
    return 2.0 * wt * (y * _log_or0(y / mu) - (y - mu))


def _poisson_aic(y, n, mu, wt, dev):
    ld = special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)
    return -2.0 * float(np.sum(ld * wt))


def _poisson_aic_fn(y, n, wt):
    const = special.gammaln(y + 1.0)
    return lambda mu, dev: -2.0 * float(np.sum((special.xlogy(y, mu) - mu - const) * wt))


def _gamma_devres(y, mu, wt):
    return -2.0 * wt * (_log_or0(y / mu) - (y - mu) / mu)


def _gamma_aic(y, n, mu, wt, dev):
    disp = dev / np.sum(wt)
    shape, scale = 1.0 / disp, mu * disp
    ld = (shape - 1.0) * np.log(y) - y / scale - special.gammaln(shape) - shape * np.log(scale)
    return -2.0 * float(np.sum(wt * ld)) + 2.0


def _invgauss_devres(y, mu, wt):
    return wt * np.square(y - mu) / (y * np.square(mu))


def _invgauss_aic(y, n, mu, wt, dev):
    wsum = np.sum(wt)
    return float(wsum * (np.log(dev / wsum * 2.0 * np.pi) + 1.0) + 3.0 * np.sum(np.log(y) * wt) + 2.0)


@dataclass(frozen=True)
class Family:
    """A GLM family with its link, as R's ``family`` object.

    ``has_scale`` is False for binomial and Poisson (dispersion fixed at 1).
    ``valid_links`` are the links R accepts for the family.
    """

    name: str
    link: Link
    variance: Callable[[np.ndarray], np.ndarray]
    dev_resid: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    aic: Callable[..., float]
    has_scale: bool
    valid_links: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}({self.link.name})"

    def aic_function(self, y, n, wt) -> Callable[[np.ndarray, float], float]:
        """``aic(mu, dev)`` for fixed data, with what does not depend on mu computed once."""
        if self.name == "binomial":
            return _binomial_aic_fn(y, n, wt)
        if self.name == "poisson":
            return _poisson_aic_fn(y, n, wt)
        return lambda mu, dev: self.aic(y, n, mu, wt, dev)


_DISTRIBUTIONS = {
    # name: (variance, dev_resid, aic, has_scale, default link, valid links)
    "binomial": (_binomial_variance, _binomial_devres, _binomial_aic, False, "logit",
                 ("logit", "probit", "cloglog", "log", "identity", "cauchit")),
    "poisson": (lambda mu: np.asarray(mu, dtype=float), _poisson_devres, _poisson_aic, False, "log",
                ("log", "identity", "sqrt")),
    "Gamma": (np.square, _gamma_devres, _gamma_aic, True, "inverse", ("inverse", "identity", "log")),
    "inverse.gaussian": (lambda mu: np.power(mu, 3), _invgauss_devres, _invgauss_aic, True, "1/mu^2",
                         ("1/mu^2", "inverse", "identity", "log")),
}

FAMILIES = tuple(_DISTRIBUTIONS)


def make_family(family, link: str | None = None) -> Family:
    """A :class:`Family` from a name (``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``),
    a name with the link in R's call syntax (``'Gamma(link = "log")'``, ``"binomial(probit)"``),
    a ``(name, link)`` pair or a :class:`Family`.

    Examples
    --------
    >>> str(make_family("binomial")), str(make_family('Gamma(link = "log")'))
    ('binomial(logit)', 'Gamma(log)')
    """
    if isinstance(family, Family):
        return family
    if isinstance(family, tuple) and len(family) == 2:
        family, link = family
    if not isinstance(family, str):
        raise ArgumentError(f"family must be a name such as 'binomial' or 'poisson', not {family!r}")
    name, parsed_link = _split_call(family.strip())
    link = link if link is not None else parsed_link
    key = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian"}.get(name.lower(), name.lower())
    if key not in _DISTRIBUTIONS:
        raise ArgumentError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    variance, devres, aic, has_scale, default_link, valid = _DISTRIBUTIONS[key]
    link = default_link if link is None else link
    if link not in valid:
        raise ArgumentError(f"link {link!r} is not available for the {key} family; "
                            f"available links: {', '.join(valid)}")
    if link not in LINKS:
        raise ArgumentError(f"link {link!r} of the {key} family is not implemented; "
                            f"use one of {', '.join(v for v in valid if v in LINKS)}")
    return Family(key, LINKS[link], variance, devres, aic, has_scale, valid)


def _split_call(text: str) -> tuple[str, str | None]:
    """``'Gamma(link = "log")'`` -> ``("Gamma", "log")``; ``"poisson"`` -> ``("poisson", None)``."""
    if "(" not in text:
        return text, None
    if not text.endswith(")"):
        raise ArgumentError(f"cannot read the family {text!r}; write e.g. 'binomial' or 'Gamma(link = \"log\")'")
    name, inner = text[:text.index("(")].strip(), text[text.index("(") + 1:-1].strip()
    if not inner:
        return name, None
    if "=" in inner:
        key, inner = (s.strip() for s in inner.split("=", 1))
        if key != "link":
            raise ArgumentError(f"unknown argument {key!r} in family {text!r} (only link = ...)")
    return name, inner.strip("'\"")


# --------------------------------------------------------------------------- PIRLS kernels
def sum_log(p: np.ndarray) -> float:
    """``sum(log(p))`` for ``p`` in ``[eps, 1]``: the logarithms of products of 16 entries
    (at least ``eps^16``, far from underflow), a sixteenth of the logarithms."""
    n = p.shape[-1]
    m = n // 16
    if p.ndim == 1:
        head = np.multiply.reduce(p[:16 * m].reshape(16, m), axis=0)
        return float(np.log(head).sum()) + float(np.log(p[16 * m:]).sum())
    head = np.multiply.reduce(p[:, :16 * m].reshape(p.shape[0], 16, m), axis=1)  # one row per point
    return np.log(head).sum(axis=1) + np.log(p[:, 16 * m:]).sum(axis=1)


class Kernel:
    """The family computations of one PIRLS iteration for fixed data ``y``, prior weights ``wt``.

    Every method also takes arrays of several points, one per row (the results per row).
    ``mu(eta)``; ``working(eta, mu, lin)`` returns ``(w, v)``: the IRLS weights
    ``w = wt mu'(eta)^2 / V(mu)`` and ``v = w z`` with the working response
    ``z = lin + (y - mu) / mu'(eta)`` (``lin`` is ``eta`` less the offset that PIRLS keeps fixed); ``deviance(mu)`` returns the sum of the
    deviance residuals (what PIRLS compares between iterations) and what ``aic(mu, dev,
    aux)`` can reuse; ``dev_resid(mu)`` R's residuals. This generic kernel evaluates the
    family's functions as written; the canonical links below fuse them.
    """

    def __init__(self, family: Family, y: np.ndarray, wt: np.ndarray, n_trials: np.ndarray):
        self.family, self.y, self.wt = family, y, wt
        self._aic = family.aic_function(y, n_trials, wt)

    def mu(self, eta):
        return self.family.link.linkinv(eta)

    def working(self, eta, mu, lin):
        mueta = self.family.link.mu_eta(eta)
        wv = self.wt / self.family.variance(mu)
        w = mueta * mueta * wv
        v = mueta * wv * (self.y - mu)
        v += w * lin
        return w, v

    def dev_resid(self, mu):
        return self.family.dev_resid(self.y, mu, self.wt)

    def deviance(self, mu, eta=None) -> tuple[float, object]:
        return np.sum(self.dev_resid(mu), axis=-1), None

    def aic(self, mu, dev: float, aux=None) -> float:
        return self._aic(mu, dev)


class _LogitKernel(Kernel):
    """binomial(logit): ``mu'(eta) = V(mu) = mu (1 - mu)`` (both bounded below by machine
    epsilon, as lme4), so ``w = wt mu (1 - mu)``, ``v = w (eta - base) + wt (y - mu)``. The
    deviance and the ``aic`` are linear in ``log mu`` and ``log(1 - mu)``; for a 0/1
    response only the logarithm of the probability of what was observed is needed."""

    def __init__(self, family, y, wt, n_trials):
        super().__init__(family, y, wt, n_trials)
        self.a, self.b = wt * y, wt * (1.0 - y)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.dev_const = float(np.sum(2.0 * wt * (special.xlogy(y, y) + special.xlogy(1.0 - y, 1.0 - y))))
        factor, const, yy, rest = _binomial_aic_parts(y, n_trials, wt)
        self.aic_const = float(factor @ const)
        self.binary = bool(np.all((y == 0.0) | (y == 1.0)))
        self.sign, self.y0 = 2.0 * y - 1.0, 1.0 - y
        self.aic_w = factor * (yy + rest)  # binary: the weight of log P(observed)
        self.aic_a, self.aic_b = factor * yy, factor * rest
        self.unit = bool(np.all(wt == 1.0))
        self.unit_binary = self.binary and self.unit and bool(np.all(self.aic_w == 1.0))

    def mu(self, eta):
        mu = special.expit(eta)
        if eta.size and not -_LOGIT_SAFE < eta.min() <= eta.max() < _LOGIT_SAFE:
            np.clip(mu, _EPS, 1.0 - _EPS, out=mu)
        return mu

    def working(self, eta, mu, lin):
        w = 1.0 - mu
        w *= mu
        np.maximum(w, _EPS, out=w)
        if not self.unit:
            w *= self.wt
        v = self.y - mu if self.unit else self.a - self.wt * mu  # first: it can cancel
        v += w * lin
        return w, v

    def deviance(self, mu, eta=None):
        if self.binary:
            p = self.sign * mu  # the probability of what was observed: mu or 1 - mu (exactly)
            p += self.y0
            if self.unit_binary:
                total = sum_log(p)
                return -2.0 * total, total
            lp = np.log(p, out=p)
            return -2.0 * (lp @ self.wt), lp
        lm, l1m = np.log(mu), np.log1p(-mu)
        return self.dev_const - 2.0 * (lm @ self.a + l1m @ self.b), (lm, l1m)

    def aic(self, mu, dev, aux=None):
        if aux is None:
            return self._aic(mu, dev)
        if self.unit_binary:
            return -2.0 * (self.aic_const + aux)
        if self.binary:
            return -2.0 * (self.aic_const + float(self.aic_w @ aux))
        lm, l1m = aux
        return -2.0 * (self.aic_const + float(self.aic_a @ lm + self.aic_b @ l1m))


class _PoissonLogKernel(Kernel):
    """poisson(log): ``mu'(eta) = V(mu) = mu`` (bounded below by machine epsilon), so
    ``w = wt mu``, ``v = w (eta - base) + wt (y - mu)``; deviance and ``aic`` are linear in
    ``mu`` and ``log mu``."""

    def __init__(self, family, y, wt, n_trials):
        super().__init__(family, y, wt, n_trials)
        self.a = wt * y
        self.dev_const = float(np.sum(2.0 * wt * (special.xlogy(y, y) - y)))
        self.aic_const = float(wt @ special.gammaln(y + 1.0))

    def mu(self, eta):
        return np.maximum(_EPS, np.exp(eta))

    def working(self, eta, mu, lin):
        w = self.wt * mu
        v = self.a - w  # first: it can cancel
        v += w * lin
        return w, v

    def deviance(self, mu, eta=None):
        log_mu = np.log(mu) if eta is None else np.maximum(eta, _LOG_EPS)  # log(max(eps, exp(eta)))
        s_mu, s_log = mu @ self.wt, log_mu @ self.a
        return self.dev_const + 2.0 * (s_mu - s_log), (s_mu, s_log)

    def aic(self, mu, dev, aux=None):
        if aux is None:
            return self._aic(mu, dev)
        s_mu, s_log = aux
        return -2.0 * (s_log - s_mu - self.aic_const)


def make_kernel(family: Family, y, wt, n_trials) -> Kernel:
    """The PIRLS kernel of ``family`` for this response (fused for binomial(logit) and poisson(log))."""
    fused = {("binomial", "logit"): _LogitKernel, ("poisson", "log"): _PoissonLogKernel}
    key = (family.name, family.link.name)
    cls = fused.get(key, Kernel) if LINKS.get(family.link.name) is family.link else Kernel
    return cls(family, np.asarray(y, dtype=float), np.asarray(wt, dtype=float), np.asarray(n_trials, dtype=float))
