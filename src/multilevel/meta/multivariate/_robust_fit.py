"""The fit of :meth:`RmaMvFit.robust` (metafor's ``robust.rma`` object of an ``rma.mv`` model).

The coefficients are the model's; their covariance matrix, tests, intervals and predictions
are the cluster-robust ones of :mod:`._robust` (CR1, CR0 or CR2). It answers the result
protocol as :class:`~multilevel.RobustRmaFit` does for ``rma`` models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..univariate._robust import RobustRmaFit
from ._predict import predict
from ._robust import RobustRmaMv

__all__ = ["RobustRmaMvFit"]


@dataclass(frozen=True, eq=False, repr=False)
class RobustRmaMvFit(RobustRmaFit):
    """An ``rma_mv`` fit with cluster-robust inference (metafor's ``robust.rma`` object), frozen.

    The verbs are those of :class:`~multilevel.RobustRmaFit`: :attr:`params`, :meth:`vcov`
    (the cluster-robust matrix), :meth:`confint` and :meth:`tidy` (t on the robust df),
    :meth:`predict`, :meth:`summary` (metafor's printed robust model), ``nobs`` and the
    likelihood criteria of the underlying fit. The fields of the report (``se``, ``tval``,
    ``df``, ``pval``, ``vb``, ``QM``, ``num_clusters`` ...) and of the model (``sigma2``,
    ``tau2`` ...) are read through this object.

    Attributes
    ----------
    fit : RmaMvFit
        The fit the robust inference is computed for.
    report : RobustRmaMv
        The printed report.

    Examples
    --------
    >>> import multilevel as ml
    >>> dat = ml.datasets.load("konstantopoulos2011")
    >>> rob = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat, mods="~ year").robust("district")
    >>> rob.tidy()[["term", "estimate", "std_error", "df"]].round(4)
              term  estimate  std_error   df
    0  (Intercept)  -10.3898    18.8454  9.0
    1         year    0.0053     0.0095  9.0
    """

    report: RobustRmaMv

    def predict(self, newmods: Any = None, *, newdata: Any = None, level: float | None = None,
                tau2_levels: Any = None, gamma2_levels: Any = None) -> pd.DataFrame:
        """Predicted effects as :meth:`RmaMvFit.predict`, with the cluster-robust covariance
        matrix and t quantiles on the robust df (``n - p``; for CR2, Satterthwaite's df of each
        prediction's linear combination), as metafor's ``predict`` of a robust model.

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat, mods="~ year")
        >>> fit.robust("district").predict([1970, 1990]).round(4)
             pred      se   ci_lb   ci_ub   pi_lb   pi_ub
        0  0.0745  0.2107 -0.4022  0.5512 -0.7997  0.9486
        1  0.1807  0.0881 -0.0186  0.3801 -0.5786  0.9401
        """
        return predict(self.fit, newmods, self._level(level), tau2_levels, gamma2_levels, newdata=newdata,
                       vb=self.report.vb.to_numpy(), row_df=self.report.contrast_df)

    def summary(self) -> RobustRmaMv:
        """metafor's printed robust model (``to_frame()``: the model-results table).

        Examples
        --------
        >>> import multilevel as ml
        >>> dat = ml.datasets.load("konstantopoulos2011")
        >>> report = ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat).robust("district").summary()
        >>> print(str(report).splitlines()[-2])
        1) results based on cluster-robust inference (var-cov estimator: CR1,
        """
        return self.report
