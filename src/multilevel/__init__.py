"""multilevel: hierarchical (multilevel) models in Python.

Three capabilities share formulas, data handling, result objects and plots:

* linear mixed-effects models as lme4's ``lmer`` (:func:`lmer`), with the OLS
  baselines :func:`lm` and :func:`lm_list`, and generalized linear mixed models
  as lme4's ``glmer`` (:func:`glmer`);
* frequentist meta-analysis as metafor (:func:`escalc`, :func:`rma`, :func:`rma_mv`);
* Bayesian multilevel meta-analysis as RoBMA's ``brma`` (:func:`brma`).

Examples
--------
>>> import multilevel as ml
>>> sleep = ml.datasets.load("sleepstudy")
>>> sleep.shape
(180, 3)
"""

from . import datasets
from ._exceptions import *  # noqa: F403
from ._exceptions import __all__ as _exc_all
from .bayes import *  # noqa: F403
from .bayes import __all__ as _bayes_all
from .formula import *  # noqa: F403
from .formula import __all__ as _formula_all
from .glmm import *  # noqa: F403
from .glmm import __all__ as _glmm_all
from .lmm import *  # noqa: F403
from .lmm import __all__ as _lmm_all
from .meta import *  # noqa: F403
from .meta import __all__ as _meta_all
from .ols import *  # noqa: F403
from .ols import __all__ as _ols_all
from ._anova import anova

__version__ = "0.1.0"

__all__ = ["datasets", "anova", "__version__", *_exc_all, *_formula_all, *_lmm_all, *_glmm_all, *_ols_all,
           *_meta_all, *_bayes_all]
