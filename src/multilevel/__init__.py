"""multilevel: hierarchical (multilevel) models in Python.

Three capabilities share formulas, data handling, result objects and plots:

* linear mixed-effects models as lme4's ``lmer`` (:func:`lmer`), with the OLS
  baselines :func:`lm` and :func:`lm_list`, and generalized linear mixed models
  as lme4's ``glmer`` (:func:`glmer`);
* frequentist meta-analysis as metafor (:func:`escalc`, :func:`rma`, :func:`rma_mv`);
* Bayesian multilevel meta-analysis as RoBMA's ``brma`` (:func:`brma`) and RoBMA's robust
  Bayesian model averaging over publication-bias models (:func:`robma`).

``import multilevel`` is light: each public name is imported from its subpackage the first
time it is used (``ml.lmer`` loads :mod:`multilevel.lmm`, ``ml.brma`` :mod:`multilevel.bayes`).
The subpackages' ``__all__`` lists are the source of :data:`__all__` here (a test checks that
the table below matches them).

Examples
--------
>>> import multilevel as ml
>>> sleep = ml.datasets.load("sleepstudy")
>>> sleep.shape
(180, 3)
>>> "brma" in ml.__all__ and "brma" in dir(ml)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._exceptions import *  # noqa: F403  (light: no third-party imports)
from ._exceptions import __all__ as _exc_all
from ._lazy import attach

__version__ = "0.1.0"

#: Public names by the module that defines them for users (each subpackage's ``__all__``).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._anova": ("anova",),
    ".formula": ("model_frame", "parse_formula", "ModelFrame", "RandomEffectsBlock"),
    ".lmm": ("lmer", "LinearMixedModel", "LmerSummary", "VarCorr", "OptimizerSummary", "AnovaTable", "plot_lmer",
             "plot_lmer_residuals", "plot_profile", "plot_qq_ranef", "plot_ranef"),
    ".glmm": ("glmer", "glmer_nb", "GeneralizedLinearMixedModel", "NegativeBinomialMixedModel", "plot_glmer"),
    ".ols": ("lm", "lm_list", "LinearModel", "LmList", "LinearModelSummary", "FStatistic", "plot_lm",
             "plot_lm_list", "plot_residuals"),
    ".meta": ("escalc", "rma", "RmaFit", "forest", "funnel", "rma_mv", "RmaMvFit", "regtest", "RegtestResult",
              "WeightedRegression", "ranktest", "RanktestResult", "trimfill", "RmaTrimfillFit", "fsn", "FsnResult",
              "rma_mh", "RmaMhFit", "rma_peto", "RmaPetoFit", "selmodel", "SelmodelFit", "hc", "HcResult",
              "influence", "InfluenceDiagnostics", "leave1out", "LeaveOneOut", "cumul", "CumulativeResults",
              "rstandard", "rstudent", "StandardizedResiduals", "ClusterResiduals", "hatvalues", "cooks_distance",
              "dfbetas", "baujat", "radial", "qqnorm", "gosh", "GoshResult", "vif", "VifResult", "permutest",
              "PermutationTest", "labbe", "rma_glmm", "RmaGlmmFit", "RobustRmaFit", "RobustRmaMvFit"),
    ".bayes": ("brma", "BrmaFit", "prior", "Prior", "Priors", "bayes_factor", "robma", "RobmaFit",
               "RobmaRegFit", "prior_weightfunction", "prior_pet", "prior_peese"),
}
_SUBPACKAGES = ("datasets", "formula", "lmm", "glmm", "ols", "meta", "bayes")
_export, _dir, _ = attach(__name__, _EXPORTS)

__all__ = ["datasets", "anova", "__version__", *_exc_all, *_EXPORTS[".formula"], *_EXPORTS[".lmm"],
           *_EXPORTS[".glmm"], *_EXPORTS[".ols"], *_EXPORTS[".meta"], *_EXPORTS[".bayes"]]


def __getattr__(name: str):
    """Import a public name (or a subpackage) on first use and keep it in the module."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    return _export(name)


def __dir__() -> list[str]:
    return sorted({*_dir(), *__all__, *_SUBPACKAGES})


if TYPE_CHECKING:  # static analysers and documentation tools see the eager imports (tests check they match)
    from . import datasets
    from ._anova import anova
    from .formula import (ModelFrame, RandomEffectsBlock, model_frame, parse_formula)
    from .lmm import (AnovaTable, LinearMixedModel, LmerSummary, OptimizerSummary, VarCorr, lmer, plot_lmer,
                      plot_lmer_residuals, plot_profile, plot_qq_ranef, plot_ranef)
    from .glmm import (GeneralizedLinearMixedModel, NegativeBinomialMixedModel, glmer, glmer_nb, plot_glmer)
    from .ols import (FStatistic, LinearModel, LinearModelSummary, LmList, lm, lm_list, plot_lm, plot_lm_list,
                      plot_residuals)
    from .meta import (ClusterResiduals, CumulativeResults, FsnResult, GoshResult, HcResult, InfluenceDiagnostics,
                       LeaveOneOut, PermutationTest, RanktestResult, RegtestResult, RmaFit, RmaGlmmFit, RmaMhFit,
                       RmaMvFit, RmaPetoFit, RmaTrimfillFit, RobustRmaFit, RobustRmaMvFit, SelmodelFit, StandardizedResiduals, VifResult,
                       WeightedRegression, baujat, cooks_distance, cumul, dfbetas, escalc, forest, fsn, funnel,
                       gosh, hatvalues, hc, influence, labbe, leave1out, permutest, qqnorm, radial, ranktest,
                       regtest, rma, rma_glmm, rma_mh, rma_mv, rma_peto, rstandard, rstudent, selmodel, trimfill,
                       vif)
    from .bayes import (BrmaFit, Prior, Priors, RobmaFit, RobmaRegFit, bayes_factor, brma, prior, prior_peese, prior_pet,
                        prior_weightfunction, robma)
