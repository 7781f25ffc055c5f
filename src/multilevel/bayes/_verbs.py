"""The result protocol of a brma fit (coefficients, covariance, intervals, tidy table) and the
quantile probabilities its summaries take from ``probs`` or ``level``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._exceptions import ArgumentError
from .._protocol import confint_frame, parse_level, tidy_frame

__all__ = ["BrmaVerbs"]

_TAILS = (0.025, 0.975)


def _probs(probs, level, default=_TAILS, *, median: bool = False) -> tuple[float, ...]:
    """Quantile probabilities from ``probs`` or from a central interval ``level``
    (a proportion or a percentage, see :func:`~multilevel._protocol.parse_level`)."""
    if level is None:
        return tuple(default if probs is None else probs)
    if probs is not None:
        raise ArgumentError(f"give level or probs, not both (level={level!r}, probs={probs!r})")
    lo, hi = _tails(level)
    return (lo, 0.5, hi) if median else (lo, hi)


def _tails(level) -> tuple[float, float]:
    """The quantile probabilities of a central ``level`` interval (0.9 -> 0.05, 0.95)."""
    a = round((1.0 - parse_level(level)) / 2.0, 12)  # 0.05, not 0.04999999999999999
    return a, round(1.0 - a, 12)


class BrmaVerbs:
    """Mixin of :class:`~multilevel.BrmaFit`: the protocol's verbs from the posterior draws.

    The class provides ``posterior`` (draws by parameter), ``data`` (the design, with the
    coefficient names ``X_names``) and the verbs of :class:`~multilevel._protocol.FitProtocol`.
    """

    __slots__ = ()

    @property
    def coef_names(self) -> list[str]:
        """R's names of the coefficients (``(Intercept)``, RoBMA's ``mu``, then the moderators as
        R's ``model.matrix`` names them, e.g. ``eralate``)."""
        return ["(Intercept)", *self.data.X_names[1:]]  # the design builder gives R's names

    def _coef_draws(self) -> np.ndarray:
        """Draws (chains * draws, p) of the coefficients (original predictor scale)."""
        post = self.posterior
        return np.column_stack([post[n].reshape(-1) for n in ["mu", *self.data.X_names[1:]]])

    def _parameter_draws(self) -> dict[str, np.ndarray]:
        """Flat draws of every parameter, coefficients under R's names."""
        post = self.posterior
        coefs = dict(zip(self.coef_names, self._coef_draws().T))
        rest = {n: d.reshape(-1) for n, d in post.items() if n not in ("mu", *self.data.X_names[1:])}
        return coefs | rest

    @property
    def params(self) -> pd.Series:
        """Posterior means of the coefficients (R's names; ``posterior["mu"]`` is the intercept)."""
        return pd.Series(self._coef_draws().mean(axis=0), index=pd.Index(self.coef_names))

    def vcov(self) -> pd.DataFrame:
        """Posterior covariance matrix of the coefficients.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> fit.vcov().shape
        (1, 1)
        """
        draws = self._coef_draws()
        cov = np.atleast_2d(np.cov(draws, rowvar=False))
        return pd.DataFrame(cov, index=self.coef_names, columns=self.coef_names)

    @property
    def nobs(self) -> int:
        """Number of estimates ``k``."""
        return int(self.data.k)

    @property
    def num_params(self) -> int:
        """Parameters of the model: coefficients, tau, rho (multilevel) and scale coefficients."""
        return len(self._parameter_draws())

    @property
    def loglik(self) -> float:
        """Not defined for a Bayesian fit: NaN (see :meth:`log_marginal_likelihood` and :meth:`loo`)."""
        return float("nan")

    def confint(self, level=0.95) -> pd.DataFrame:
        """Equal-tailed credible intervals of every parameter.

        ``level`` is a proportion (0.95) or a percentage (95). Returns the table of
        :func:`~multilevel._protocol.confint_frame`: ``estimate`` is the posterior mean,
        ``kind`` is ``"fixed"`` for the coefficients (R's names: ``(Intercept)`` is RoBMA's
        ``mu``) and ``"random"`` for tau, rho and the scale coefficients.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> ci = fit.confint(90)
        >>> list(ci.columns), list(ci.index)
        (['kind', 'estimate', 'lower', 'upper'], ['(Intercept)', 'tau', 'rho'])
        """
        lo, hi = _tails(level)
        flat = self._parameter_draws()
        fixed = set(self.coef_names)
        return confint_frame(list(flat), ["fixed" if n in fixed else "random" for n in flat],
                             [d.mean() for d in flat.values()], [np.quantile(d, lo) for d in flat.values()],
                             [np.quantile(d, hi) for d in flat.values()], level=parse_level(level), method="quantile")

    def tidy(self, level=0.95) -> pd.DataFrame:
        """One row per parameter (columns :data:`~multilevel._protocol.TIDY_COLUMNS`): posterior
        mean (``estimate``), posterior SD (``std_error``) and the equal-tailed ``level``
        interval; ``statistic`` and ``p_value`` are missing, ``median`` comes last.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.brma("yi", "vi", measure="SMD", cluster="district", data=dat, seed=1,
        ...               progress=False)
        >>> list(fit.tidy()["term"])
        ['(Intercept)', 'tau', 'rho']
        """
        ci = self.confint(level)
        flat = self._parameter_draws()
        return tidy_frame(list(ci.index), ci["kind"], ci["estimate"], [d.std(ddof=1) for d in flat.values()],
                          conf_low=ci["lower"], conf_high=ci["upper"], level=ci.attrs["level"],
                          median=[float(np.median(d)) for d in flat.values()])
