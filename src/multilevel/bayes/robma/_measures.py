r"""Effect sizes and standard errors on the fitting scale, by RoBMA's conversion rules (NumPy only).

RoBMA (``combine_data`` and its standard-error functions) ties every standard error to a sample
size n, so that all conversions agree with Fisher's z, :math:`s_z = 1/\sqrt{n - 3}`:

* Cohen's d from n (two groups of equal size): :math:`s_d = \sqrt{4/n + d^2/(2n)}`; n from
  d and :math:`s_d`: :math:`n = (d^2 + 8) / (2 s_d^2)`;
* Fisher's z from n: :math:`s_z = 1/\sqrt{n - 3}`;
* a correlation r goes through its Cohen's d, :math:`d = 2r/\sqrt{1 - r^2}`: from n,
  :math:`s_d` as above and :math:`s_r = 4 s_d / (d^2 + 4)^{3/2}`; from :math:`s_r`,
  :math:`s_d = 2 s_r / (1 - r^2)^{3/2}` and n as for d. A correlation is fitted as Fisher's z,
  :math:`z = \operatorname{atanh} r` with :math:`s_z = 1/\sqrt{n - 3}` at that n (not the delta
  method :math:`s_r / (1 - r^2)`).

Log odds ratios and other measures have no sample-size rule (RoBMA cannot convert them).
"""

from __future__ import annotations

import numpy as np

from ..._data import offending_rows
from ..._exceptions import ArgumentError, DataError

__all__ = ["se_from_n", "n_from_r", "fitting_scale"]

_MIN_N = {"SMD": 0.0, "ZCOR": 3.0, "COR": 3.0}


def _d_from_r(r):
    return 2 * r / np.sqrt(1 - r**2)


def se_from_n(measure: str, y: np.ndarray, n: np.ndarray, labels=None) -> np.ndarray:
    """Standard errors of estimates ``y`` (on the scale of ``measure``) from the sample sizes
    ``n``, by RoBMA's rules (module notes); NaN stays NaN (rows dropped later)."""
    if measure not in _MIN_N:
        raise ArgumentError(f"ni (sample sizes) gives standard errors for measures 'SMD', 'ZCOR' and 'COR' only "
                            f"(RoBMA has no sample-size rule for {measure!r}); give vi or sei")
    bad = ~np.isnan(n) & ~(n > _MIN_N[measure])
    if bad.any():
        raise DataError(f"ni must be sample sizes above {_MIN_N[measure]:g} for measure {measure!r} "
                        f"(the standard error of Fisher's z is 1 / sqrt(n - 3)); {offending_rows(bad, labels, n)}")
    if measure == "ZCOR":
        return 1 / np.sqrt(n - 3)
    d = y if measure == "SMD" else _d_from_r(y)
    se_d = np.sqrt(4 / n + d**2 / (2 * n))
    return se_d if measure == "SMD" else 4 * se_d / (d**2 + 4) ** 1.5


def n_from_r(r: np.ndarray, se_r: np.ndarray) -> np.ndarray:
    """RoBMA's sample size of a correlation with standard error ``se_r`` (through Cohen's d)."""
    d = _d_from_r(r)
    se_d = 2 * se_r / (1 - r**2) ** 1.5
    return (d**2 + 8) / (2 * se_d**2)


def fitting_scale(measure: str, y: np.ndarray, se: np.ndarray, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and standard errors on the scale the ensemble is fitted on: correlations as
    Fisher's z with :math:`s_z = 1/\\sqrt{n - 3}`, n from r and its standard error (RoBMA's rule);
    other measures unchanged."""
    if measure == "COR":
        bad = ~(np.abs(y) < 1)
        if bad.any():
            raise DataError(f"measure 'COR' needs correlations in (-1, 1); {offending_rows(bad, labels, y)}")
        n = n_from_r(y, se)
        bad = ~(n > 3)
        if bad.any():
            raise DataError(f"measure 'COR': the sample size n = (1 - r^2/2) (1 - r^2)^2 / se^2 implied by a "
                            f"correlation and its standard error (RoBMA's rule) must exceed 3 for the standard "
                            f"error of Fisher's z, 1 / sqrt(n - 3); {offending_rows(bad, labels, se)}")
        y, se = np.arctanh(y), 1 / np.sqrt(n - 3)
    if measure == "ZCOR":
        bad = np.abs(y) > 5
        if bad.any():
            raise DataError(f"measure 'ZCOR' (Fisher's z) values beyond +-5 (|r| > 0.9999) do not look like "
                            f"Fisher's z; {offending_rows(bad, labels, y)}")
    return y, se
