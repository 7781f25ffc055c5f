"""Session-scoped fits of every kind, shared by the cross-cutting tests (results are immutable).

``fit_kinds.FIT_FIXTURES`` maps each fitted-model class to the fixture here that builds one.
"""

import warnings

import pytest

import multilevel as ml

# this file is loaded as a plugin; collecting it again for doctests (--doctest-modules) would
# import a second module named "conftest" beside tests/bayes/conftest.py
collect_ignore = ["conftest.py"]


@pytest.fixture(scope="session")
def sleep():
    return ml.datasets.load("sleepstudy")


@pytest.fixture(scope="session")
def bcg_rr():
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.fixture(scope="session")
def konst():
    return ml.datasets.load("konstantopoulos2011")


@pytest.fixture(scope="session")
def lm_fit(sleep):
    return ml.lm("Reaction ~ Days", sleep)


@pytest.fixture(scope="session")
def lm_list_fit(sleep):
    return ml.lm_list("Reaction ~ Days | Subject", sleep)


@pytest.fixture(scope="session")
def lmer_fit(sleep):
    return ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)


@pytest.fixture(scope="session")
def lmer_dask_fit(sleep):
    """An lmer fit from the cross-products of a Dask DataFrame (the threaded scheduler)."""
    dd = pytest.importorskip("dask.dataframe")
    return ml.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(sleep, npartitions=3))


@pytest.fixture(scope="session")
def rma_fit(bcg_rr):
    return ml.rma("yi", "vi", data=bcg_rr, mods="~ ablat")


@pytest.fixture(scope="session")
def glmer_fit():
    return ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                    family="binomial")


@pytest.fixture(scope="session")
def glmer_nb_fit():
    return ml.glmer_nb("incidence ~ period + offset(log(size)) + (1 | herd)", ml.datasets.load("cbpp"))


@pytest.fixture(scope="session")
def hackshaw():
    return ml.datasets.load("hackshaw1998")


@pytest.fixture(scope="session")
def selmodel_fit(hackshaw):
    """Step-function selection model of the hackshaw1998 random-effects model (closed-form likelihood)."""
    return ml.selmodel(ml.rma("yi", "vi", data=hackshaw), "stepfun", steps=[0.025, 0.5, 1])


@pytest.fixture(scope="session")
def trimfill_fit(bcg_rr):
    """Trim and fill of the bcg random-effects model (metafor fills one study on the left)."""
    return ml.trimfill(ml.rma("yi", "vi", data=bcg_rr))


@pytest.fixture(scope="session")
def rma_mh_fit():
    """Mantel-Haenszel odds ratio of the bcg tables."""
    return ml.rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.fixture(scope="session")
def rma_glmm_fit():
    """Unconditional logistic mixed model (fixed study effects, random log odds ratios) of the bcg tables."""
    return ml.rma_glmm(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.fixture(scope="session")
def rma_peto_fit():
    """Peto's odds ratio of the bcg tables."""
    return ml.rma_peto(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))


@pytest.fixture(scope="session")
def robust_rma_fit(bcg_rr):
    return ml.rma("yi", "vi", data=bcg_rr, mods="~ ablat").robust("alloc", data=bcg_rr)


@pytest.fixture(scope="session")
def rma_mv_fit(konst):
    return ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=konst)


@pytest.fixture(scope="session")
def robust_rma_mv_fit(konst):
    return ml.rma_mv("yi", "vi", random="~ 1 | district/school", data=konst, mods="~ year").robust("district")


@pytest.fixture(scope="session")
def robma_fit():
    """The RoBMA-PSMA ensemble on the Fisher's z of molloy2014 (smaller posterior samples)."""
    dat = ml.escalc("ZCOR", ri="ri", ni="ni", data=ml.datasets.load("molloy2014"))
    return ml.robma("yi", "vi", measure="ZCOR", data=dat, seed=1, draws=4000)


@pytest.fixture(scope="session")
def robma_reg_fit():
    """A RoBMA meta-regression on the log odds ratios of bcg (two moderators; bias: one weight
    function and PET, 48 models; small samples)."""
    dat = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    bias = [ml.prior_weightfunction("one.sided", [0.025, 0.05]), ml.prior_pet()]
    return ml.robma("yi", "vi", measure="OR", mods="~ ablat + alloc", data=dat, prior_bias=bias,
                    effect_direction="negative", seed=1, draws=2000)


@pytest.fixture(scope="session")
def brma_fit(konst):
    """A multilevel brma fit with few draws: enough to exercise every method, not for inference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        return ml.brma("yi", "vi", measure="SMD", cluster="district", data=konst, seed=1, progress=False,
                       chains=2, draws=200, warmup=200)

