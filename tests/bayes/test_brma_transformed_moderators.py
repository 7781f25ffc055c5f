"""brma standardizes the model frame's columns after the formula's transformations (as RoBMA).

Regression: the raw variables used to be standardized first and the transformation applied to
the standardized values, so ``~ log(x)`` failed (log of negative values) and ``~ np.log(z + 2)``
silently fitted log(z_std + 2), another model than the one written.
"""

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes._design import new_design, prepare


@pytest.fixture
def dat():
    bcg = ml.datasets.load("bcg")
    out = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    out["lab"] = np.log(out["ablat"])
    return out


def _std(x):
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / x.std(ddof=1)


def test_transformation_is_standardized_after_it_is_applied(dat):
    bd = prepare("yi", "vi", None, cluster=None, mods="~ log(ablat) + np.log(year - 1900)", scale=None, data=dat)
    assert bd.X_names == ("Intercept", "log(ablat)", "np.log(year - 1900)")
    np.testing.assert_allclose(bd.X[:, 1], _std(np.log(dat["ablat"])), rtol=1e-13)
    np.testing.assert_allclose(bd.X[:, 2], _std(np.log(dat["year"] - 1900)), rtol=1e-13)
    np.testing.assert_allclose(new_design(bd, dat, "mods"), bd.X, rtol=1e-13)


def test_interaction_is_the_product_of_standardized_columns(dat):
    bd = prepare("yi", "vi", None, cluster=None, mods="~ ablat * year + alloc", scale=None, data=dat)
    assert bd.X_names == ("Intercept", "ablat", "year", "allocrandom", "allocsystematic", "ablat:year")
    np.testing.assert_allclose(bd.X[:, 5], _std(dat["ablat"]) * _std(dat["year"]), rtol=1e-12)
    assert bd.back_X is not None


def test_transformed_and_precomputed_moderators_give_the_same_fit(dat):
    a = ml.brma("yi", "vi", mods="~ log(ablat)", data=dat, measure="RR", seed=1)
    b = ml.brma("yi", "vi", mods="~ lab", data=dat, measure="RR", seed=1)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-12)
    pa = a.predict(newdata={"ablat": [20.0, 40.0]}).to_numpy()
    pb = b.predict(newdata={"lab": np.log([20.0, 40.0])}).to_numpy()
    np.testing.assert_allclose(pa, pb, rtol=1e-12)
