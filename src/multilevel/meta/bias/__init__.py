"""Publication bias and sensitivity analyses for :func:`~multilevel.rma` fits, as metafor.

``regtest`` (Egger's regression test and its variants), ``ranktest`` (Begg and Mazumdar's
rank correlation test), ``trimfill`` (Duval and Tweedie's trim and fill) and ``fsn``
(fail-safe N of Rosenthal, Orwin and Rosenberg), ``selmodel`` (selection models) and ``hc``
(Henmi and Copas's interval). The numerical cores (``_core``, ``_selcore``, ``_roptim``) work on arrays.
"""

from ._fsn import FsnResult, fsn
from ._hc import HcResult, hc
from ._ranktest import RanktestResult, ranktest
from ._regtest import RegtestResult, WeightedRegression, regtest
from ._selmodel import selmodel
from ._selresult import SelmodelFit, SelmodelSummary
from ._trimfill import RmaTrimfillFit, trimfill

__all__ = ["regtest", "RegtestResult", "WeightedRegression", "ranktest", "RanktestResult", "trimfill",
           "RmaTrimfillFit", "fsn", "FsnResult", "selmodel", "SelmodelFit", "hc", "HcResult"]
