"""Publication bias and sensitivity analyses for :func:`~multilevel.rma` fits, as metafor.

``regtest`` (Egger's regression test and its variants), ``ranktest`` (Begg and Mazumdar's
rank correlation test), ``trimfill`` (Duval and Tweedie's trim and fill) and ``fsn``
(fail-safe N of Rosenthal, Orwin and Rosenberg). The numerical core (``_core``) works on arrays.
"""

from ._fsn import FsnResult, fsn
from ._ranktest import RanktestResult, ranktest
from ._regtest import RegtestResult, WeightedRegression, regtest
from ._trimfill import RmaTrimfillFit, trimfill

__all__ = ["regtest", "RegtestResult", "WeightedRegression", "ranktest", "RanktestResult", "trimfill",
           "RmaTrimfillFit", "fsn", "FsnResult"]
