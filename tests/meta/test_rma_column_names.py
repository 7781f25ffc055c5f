"""Moderators formulas with column names R users have (``abs.lat``, ```pub year```).

Renaming a column changes only the coefficient names, which follow R's
model.matrix (metafor 3.8-1 prints ``abs.lat`` and ``log(`pub year`)`` for
``mods = ~ abs.lat + log(`pub year`)``); the estimates stay those of the
original names.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml

RENAME = {"ablat": "abs.lat", "year": "pub year"}


@pytest.fixture(scope="module")
def bcg():
    data = ml.datasets.load("bcg")
    return ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=data)


@pytest.mark.parametrize("mods", ["~ abs.lat + log(`pub year`) + alloc", "~ `abs.lat` + log(Q('pub year')) + alloc"])
def test_rma_dotted_and_quoted_moderators(bcg, mods):
    ref = ml.rma("yi", "vi", data=bcg, mods="~ ablat + log(year) + alloc")
    fit = ml.rma("yi", "vi", data=bcg.rename(columns=RENAME), mods=mods)
    assert list(fit.beta.index) == ["intrcpt", "abs.lat", "log(`pub year`)", "allocrandom", "allocsystematic"]
    np.testing.assert_allclose(fit.beta.to_numpy(), ref.beta.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit.tau2, ref.tau2, rtol=1e-12)
    new = bcg.rename(columns=RENAME).iloc[:3]
    np.testing.assert_allclose(np.asarray(fit.predict(newmods=new).pred),
                               np.asarray(ref.predict(newmods=bcg.iloc[:3]).pred), rtol=1e-12)


def test_rma_mv_dotted_moderator():
    dat = ml.datasets.load("konstantopoulos2011")
    ref = ml.rma_mv("yi", "vi", random="~ 1 | district/school", mods="~ year", data=dat)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = ml.rma_mv("yi", "vi", random="~ 1 | district/school", mods="~ study.year",
                        data=dat.rename(columns={"year": "study.year"}))
    assert list(fit.beta.index) == ["intrcpt", "study.year"]
    np.testing.assert_allclose(fit.beta.to_numpy(), ref.beta.to_numpy(), rtol=1e-10)
