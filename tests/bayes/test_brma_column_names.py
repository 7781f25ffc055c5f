"""brma's mods= and scale= formulas with dotted and backtick-quoted column names (design only,
nothing is sampled)."""

from __future__ import annotations

import numpy as np

import multilevel as ml
from multilevel.bayes._design import prepare


def test_dotted_and_quoted_names_give_the_same_design():
    bcg = ml.datasets.load("bcg")
    dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    ref = prepare("yi", "vi", None, cluster=None, mods="~ ablat + year", scale="~ alloc", data=dat)
    renamed = dat.rename(columns={"ablat": "abs.lat", "year": "pub year", "alloc": "al.loc"})
    got = prepare("yi", "vi", None, cluster=None, mods="~ abs.lat + `pub year`", scale="~ `al.loc`", data=renamed)
    for name in ("X", "Z", "y", "v"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-12)
    assert got.X_names == ("Intercept", "abs.lat", "`pub year`")  # R's model.matrix names
    assert got.Z_names == ("al.locrandom", "al.locsystematic")


def test_factor_coefficients_are_named_as_in_r():
    """brma's designs come from the package's one fixed-effects builder: R's column names."""
    dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    bd = prepare("yi", "vi", None, cluster=None, mods="~ ablat + factor(alloc)", scale="~ alloc", data=dat)
    assert bd.X_names == ("Intercept", "ablat", "factor(alloc)random", "factor(alloc)systematic")
    assert bd.Z_names == ("allocrandom", "allocsystematic")
    rma = ml.rma("yi", "vi", data=dat, mods="~ ablat + factor(alloc)")
    assert rma.design.names[1:] == bd.X_names[1:]
