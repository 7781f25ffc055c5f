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
    assert got.X_names == ("Intercept", "abs.lat", "pub year")
