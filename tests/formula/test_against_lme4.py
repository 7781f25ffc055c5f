"""model_frame against lme4's lFormula (fixture written by tools/fixtures/formula.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import RankDeficiencyWarning

FIXTURE = Path(__file__).parents[1] / "fixtures" / "formula" / "formula.json"
REF = json.loads(FIXTURE.read_text())
CASES = {case["id"]: case for case in REF["cases"]}
RTOL = 1e-12  # sums of exactly representable or identical floating-point values
ATOL = 1e-9  # sums that are zero up to rounding (orthogonal polynomial columns)


def _list(value):
    """jsonlite unboxes length-one vectors; undo that."""
    return value if isinstance(value, list) else [value]


def _dataset(name: str) -> pd.DataFrame:
    if name == "synthetic":
        return pd.DataFrame(REF["synthetic"])
    df = ml.datasets.load(name)
    if name == "cake":
        df["temperature"] = df["temperature"].cat.as_unordered()
    return df


@pytest.fixture(scope="module")
def frames():
    cache = {}

    def get(case_id):
        if case_id not in cache:
            case = CASES[case_id]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RankDeficiencyWarning)
                cache[case_id] = ml.model_frame(case["formula"], _dataset(case["data"]))
        return cache[case_id]

    return get


def _expanded_zt_sums(block, weights):
    """Row sums of lme4's Zt for the block: row l*k + j sums Z[:, j] over rows of level l."""
    k = block.num_columns
    out = np.zeros(block.num_levels * k)
    for j in range(k):
        out[j::k] = np.bincount(block.codes, weights=block.Z[:, j] * weights, minlength=block.num_levels)
    return out


@pytest.mark.parametrize("case_id", list(CASES))
def test_fixed_design(frames, case_id):
    case, mf = CASES[case_id], frames(case_id)
    assert mf.nobs == case["nobs"]
    assert list(mf.fixed_names) == _list(case["x_colnames"])
    assert list(mf.X.shape) == case["x_dim"]
    np.testing.assert_allclose(mf.X.sum(axis=0), _list(case["x_colsums"]), rtol=RTOL, atol=ATOL)
    w = np.arange(1, mf.nobs + 1)
    np.testing.assert_allclose(mf.X.T @ w, _list(case["x_wcolsums"]), rtol=RTOL, atol=ATOL)
    assert list(mf.dropped_fixed) == _list(case["x_dropped"])
    np.testing.assert_allclose(mf.y.sum(), case["y_sum"], rtol=RTOL)


@pytest.mark.parametrize("case_id", list(CASES))
def test_random_terms(frames, case_id):
    case, mf = CASES[case_id], frames(case_id)
    assert [b.term for b in mf.blocks] == _list(case["terms"])
    assert [b.group for b in mf.blocks] == _list(case["cnms_groups"])
    assert [list(b.column_names) for b in mf.blocks] == [_list(c) for c in case["cnms"]]


@pytest.mark.parametrize("case_id", list(CASES))
def test_grouping_factors(frames, case_id):
    case, mf = CASES[case_id], frames(case_id)
    first = {}
    for b in mf.blocks:
        first.setdefault(b.group, b)
    assert list(first) == _list(case["flist_names"])
    for block, levels, codes in zip(first.values(), case["levels"], case["codes"]):
        assert [str(v) for v in block.levels] == _list(levels)
        np.testing.assert_array_equal(block.codes, codes)
    assign = [list(first).index(b.group) + 1 for b in mf.blocks]
    assert assign == _list(case["flist_assign"])


@pytest.mark.parametrize("case_id", list(CASES))
def test_random_designs(frames, case_id):
    case, mf = CASES[case_id], frames(case_id)
    w = np.arange(1, mf.nobs + 1, dtype=float)
    for block, dims, sums, wsums in zip(mf.blocks, case["zt_dims"], case["zt_rowsums"], case["zt_wrowsums"]):
        assert [block.num_levels * block.num_columns, mf.nobs] == dims
        np.testing.assert_allclose(_expanded_zt_sums(block, 1.0), _list(sums), rtol=RTOL)
        np.testing.assert_allclose(_expanded_zt_sums(block, w), _list(wsums), rtol=RTOL)


def test_fixture_versions():
    assert REF["lme4_version"] == "1.1.31"
