"""Data types of the penalized least squares core (:mod:`._pls`), arrays only.

:class:`TermStructure` (one random-effects term: level codes and raw columns of ``Z``),
:func:`theta_template_indices` (where ``theta`` goes in a term's lower-triangular template)
and :class:`PLSSolution` (what the problem gives at one ``theta``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["PLSSolution", "TermStructure", "theta_template_indices"]


@functools.lru_cache(maxsize=32)
def _triu_indices(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(k)``, read-only and made once per ``k`` (NumPy's costs a small fit's evaluation)."""
    rows, cols = np.triu_indices(k)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def theta_template_indices(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle of a ``k x k`` template, column-wise (lme4's order)."""
    rows, cols = _triu_indices(k)
    return cols, rows


@dataclass(frozen=True, eq=False)
class TermStructure:
    """One random-effects term: ``codes`` (n,) 0-based level per row, raw ``Z`` (n, k), ``num_levels``."""

    codes: np.ndarray
    Z: np.ndarray
    num_levels: int

    @property
    def k(self) -> int:
        return self.Z.shape[1]

    @property
    def q(self) -> int:
        return self.num_levels * self.k

    @property
    def num_theta(self) -> int:
        return self.k * (self.k + 1) // 2

    def expanded(self) -> sp.csr_matrix:
        """The term's columns of Z, ``n x (levels * k)``, level-major."""
        n, k = self.Z.shape
        cols = (self.codes[:, None] * k + np.arange(k)[None, :]).ravel()
        rows = np.repeat(np.arange(n), k)
        return sp.csr_matrix((self.Z.ravel(), (rows, cols)), shape=(n, self.q))


@dataclass(frozen=True, eq=False)
class PLSSolution:
    """What the penalized least squares problem gives at one ``theta``.

    Attributes
    ----------
    theta : ndarray
    beta : ndarray (p,)
        Fixed effects (profiled).
    u : ndarray (q,)
        Spherical random effects; ``b = Lambda u``.
    b : list of ndarray
        Conditional modes per term, each ``(levels, k)``.
    sigma_ml, sigma_reml : float
        ``sqrt(pwrss / n)`` and ``sqrt(pwrss / (n - p))``.
    logdet_L : float
        ``log |L_theta|^2`` of ``Lambda'Z'Z Lambda + I``.
    logdet_RX : float
        ``log |R_X|^2``.
    pwrss : float
        Penalized residual sum of squares ``||y - X beta - Z b||^2 + ||u||^2``.
    RX : ndarray (p, p)
        Upper triangular, ``RX' RX`` is the (unscaled) precision of ``beta``.
    fitted : ndarray (n,)
    deviance_ml, deviance_reml : float
        ML deviance and REML criterion at ``theta``.
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: list
    sigma_ml: float
    sigma_reml: float
    logdet_L: float
    logdet_RX: float
    pwrss: float
    RX: np.ndarray
    fitted: np.ndarray
    deviance_ml: float
    deviance_reml: float

    def sigma(self, reml: bool) -> float:
        return self.sigma_reml if reml else self.sigma_ml

    def deviance(self, reml: bool) -> float:
        return self.deviance_reml if reml else self.deviance_ml
