"""ml.escalc against metafor 3.8-1 for every supported measure (incl. zero cells).

Fixtures: tools/fixtures/meta_rma.R -> tests/fixtures/meta/escalc_measures.json (inputs included).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "escalc_measures.json").read_text())
CASES = FIXTURE["cases"]


def _frame(case):
    return pd.DataFrame({col: np.atleast_1d(v) for col, v in case["inputs"].items()})


def _values(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


@pytest.mark.parametrize("key", list(CASES))
def test_measure_matches_metafor(key):
    case = CASES[key]
    data = _frame(case)
    extra = {k: v for k, v in (case["extra"] or {}).items()}
    out = ml.escalc(case["measure"], data=data, **{arg: arg for arg in case["args"]}, **extra)
    np.testing.assert_allclose(out["yi"], _values(case["yi"]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out["vi"], _values(case["vi"]), rtol=1e-12, atol=1e-15)


def test_arrays_without_data():
    case = CASES["SMD"]
    arrays = {arg: np.atleast_1d(v) for arg, v in case["inputs"].items()}
    out = ml.escalc("SMD", **arrays)
    assert list(out.columns) == ["yi", "vi"]
    np.testing.assert_allclose(out["yi"], case["yi"], rtol=1e-12)


def test_data_columns_kept_and_appended():
    bcg = ml.datasets.load("bcg")
    out = ml.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    assert list(out.columns) == list(bcg.columns) + ["yi", "vi"]
    assert "yi" not in bcg.columns


def test_zero_cells_only_where_needed():
    out = ml.escalc("OR", ai=[0, 5], bi=[10, 5], ci=[3, 2], di=[7, 8])
    np.testing.assert_allclose(out["yi"][0], np.log((0.5 / 10.5) / (3.5 / 7.5)))
    np.testing.assert_allclose(out["yi"][1], np.log((5 / 5) / (2 / 8)))


def test_hedges_correction_is_exact():
    from multilevel.meta.effects._escalc import hedges_correction

    m = np.array([4.0, 10.0, 50.0])
    approx = 1 - 3 / (4 * m - 1)
    assert np.all(np.abs(hedges_correction(m) - approx) < 1e-2)
    assert np.isnan(hedges_correction(1.0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(measure="XYZ", ai=[1], bi=[1], ci=[1], di=[1]), "unknown measure"),
    (dict(measure="OR", ai=[1], bi=[1], ci=[1]), "missing: di"),
    (dict(measure="OR", ai=[1, 2], bi=[1], ci=[1], di=[1]), "different lengths"),
    (dict(measure="OR", ai=[-1], bi=[1], ci=[1], di=[1]), "negative"),
    (dict(measure="COR", ri=[1.5], ni=[10]), "correlations"),
    (dict(measure="OR", a=[1]), "unknown escalc argument"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ml.DataError, match=match):
        ml.escalc(**kwargs)


def test_unknown_column():
    with pytest.raises(ml.UnknownColumnError, match="tposs"):
        ml.escalc("RR", ai="tposs", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
