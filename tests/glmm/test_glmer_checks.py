"""Bad-input checks of glmer added with the GLMM workflow: perfect separation, and the named
errors of unknown families, responses outside the support and PIRLS failures for glmer_nb too."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.glmm._separation import find_separation


def _binary(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(20), 10)
    x = np.round(rng.normal(size=200), 3)
    z = rng.normal(size=200)
    y = (rng.uniform(size=200) < 1 / (1 + np.exp(-(0.5 * z + rng.normal(0, 0.5, 20)[g])))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"g{i:02d}" for i in g]})


def test_complete_separation_warns_naming_the_predictor():
    df = _binary()
    df["dose"] = np.where(df["y"] > 0, 2.0, 0.0) + np.round(np.random.default_rng(1).uniform(0, 1.5, 200), 3)
    with pytest.warns(ml.SeparationWarning, match="'dose' diverges") as rec:
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        ml.glmer("y ~ z + dose + (1 | g)", df, "binomial")
    assert "all successes have dose >= " in str(rec[0].message)


def test_quasi_separation_by_a_factor_level_warns():
    df = _binary()
    df["arm"] = np.where((df["y"] > 0) & (df.index % 3 == 0), "treated", "control")
    with pytest.warns(ml.SeparationWarning, match="armtreated"):
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        ml.glmer("y ~ z + arm + (1 | g)", df, "binomial")


def test_no_warning_without_separation(recwarn):
    cbpp = ml.datasets.load("cbpp")
    ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, "binomial")
    assert not [w for w in recwarn if issubclass(w.category, ml.SeparationWarning)]


def test_find_separation_on_arrays():
    X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6], [0.0, 1, 0, 1, 0, 1]])
    y = np.array([0.0, 0, 0, 1, 1, 1])
    found = find_separation(X, ["(Intercept)", "x", "d"], y, np.ones(6))
    assert [(s.name, s.side, s.cut) for s in found] == [("x", ">=", 4.0)]
    # proportions: rows with both successes and failures are on both sides
    assert find_separation(X, ["(Intercept)", "x", "d"], np.array([0.0, 0.5, 0.5, 1, 1, 1]), np.full(6, 2.0)) == []
    assert [s.side for s in find_separation(X, ["1", "x", "d"], 1 - y, np.ones(6))] == ["<="]


def test_glmer_nb_input_errors():
    cbpp = ml.datasets.load("cbpp")
    with pytest.raises(ml.ArgumentError, match="tol"):
        ml.glmer_nb("incidence ~ period + (1 | herd)", cbpp, tol=0)
    with pytest.raises(ml.ArgumentError, match="init_theta"):
        ml.glmer_nb("incidence ~ period + (1 | herd)", cbpp, init_theta=-1.0)
    with pytest.raises(ml.UnknownColumnError):
        ml.glmer_nb("incidence ~ nothere + (1 | herd)", cbpp)


def test_simulate_rejects_bad_nsim():
    fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"), "binomial")
    for bad in (0, 1.5, True):
        with pytest.raises(ml.ArgumentError, match="nsim"):
            fit.simulate(bad)
