"""Session-scoped brma fits shared by the bayes tests (fits are immutable)."""

import warnings

import pytest

import multilevel as ml


def _fit(**kwargs):
    """A NUTS fit (the quadrature engine has its own tests, test_grid.py)."""
    kwargs.setdefault("engine", "nuts")
    dat = ml.datasets.load("konstantopoulos2011")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)
        return ml.brma(yi="yi", vi="vi", measure="SMD", data=dat, seed=1, progress=False, **kwargs)


@pytest.fixture(scope="session")
def fit_ml():
    """The seed's call: multilevel model, default priors, seed = 1."""
    return _fit(cluster="district")


@pytest.fixture(scope="session")
def fit_ml_mu0():
    return _fit(cluster="district", prior_effect=ml.prior("point", 0))


@pytest.fixture(scope="session")
def fit_re():
    return _fit()


@pytest.fixture(scope="session")
def fit_reg():
    """Meta-regression and location-scale model on the BCG trials (log risk ratios)."""
    import numpy as np

    bcg = ml.datasets.load("bcg").copy()
    bcg["yi"] = np.log((bcg.tpos / (bcg.tpos + bcg.tneg)) / (bcg.cpos / (bcg.cpos + bcg.cneg)))
    bcg["vi"] = 1 / bcg.tpos - 1 / (bcg.tpos + bcg.tneg) + 1 / bcg.cpos - 1 / (bcg.cpos + bcg.cneg)
    return ml.brma("yi", "vi", measure="RR", mods="~ ablat", scale="~ year", data=bcg, seed=3,
                   progress=False, engine="nuts")
