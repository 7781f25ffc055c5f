"""Influence and model diagnostics of meta-analytic fits, as metafor's.

Case-deletion diagnostics (:func:`influence`, :func:`rstudent`, :func:`cooks_distance`,
:func:`dfbetas`), residuals and leverages (:func:`rstandard`, :func:`hatvalues`), sensitivity
analyses (:func:`leave1out`, :func:`cumul`, :func:`gosh`), multicollinearity (:func:`vif`),
permutation tests (:func:`permutest`) and the diagnostic plots (:func:`baujat`, :func:`radial`,
:func:`qqnorm`, :func:`labbe`). The functions take :func:`~multilevel.rma` fits; :func:`cooks_distance`,
:func:`rstandard`, :func:`hatvalues` and :func:`dfbetas` also :func:`~multilevel.rma_mv` fits
(optionally by cluster).

Layers: ``_refit`` and ``_case`` work on arrays; ``_influence``, ``_sequential``, ``_mv``,
``_gosh``, ``_vif`` and ``_permutest`` build the result tables (``_tables``); ``_plots`` draws.
"""

from typing import TYPE_CHECKING

from ..._lazy import attach

__all__ = ["influence", "InfluenceDiagnostics", "leave1out", "LeaveOneOut", "cumul", "CumulativeResults",
           "rstandard", "rstudent", "StandardizedResiduals", "ClusterResiduals", "hatvalues", "cooks_distance",
           "dfbetas", "baujat", "radial", "qqnorm", "gosh", "GoshResult", "vif", "VifResult", "permutest",
           "PermutationTest", "labbe"]
__getattr__, __dir__, _ = attach(__name__, {
    "._api": ("cooks_distance", "dfbetas", "hatvalues", "influence", "rstandard", "rstudent"),
    "._gosh": ("GoshResult", "gosh"),
    "._influence": ("InfluenceDiagnostics",),
    "._labbe": ("labbe",),
    "._permutest": ("PermutationTest", "permutest"),
    "._plots": ("baujat", "qqnorm", "radial"),
    "._sequential": ("cumul", "leave1out"),
    "._tables": ("ClusterResiduals", "CumulativeResults", "LeaveOneOut", "StandardizedResiduals"),
    "._vif": ("VifResult", "vif"),
})

if TYPE_CHECKING:  # static analysers and documentation tools see the eager imports
    from ._api import cooks_distance, dfbetas, hatvalues, influence, rstandard, rstudent
    from ._gosh import GoshResult, gosh
    from ._influence import InfluenceDiagnostics
    from ._labbe import labbe
    from ._permutest import PermutationTest, permutest
    from ._plots import baujat, qqnorm, radial
    from ._sequential import cumul, leave1out
    from ._tables import ClusterResiduals, CumulativeResults, LeaveOneOut, StandardizedResiduals
    from ._vif import VifResult, vif
