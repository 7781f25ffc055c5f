"""ml.escalc against metafor 3.8-1: every measure and vtype on two or more data sets (oracle table).

Fixtures: tools/fixtures/meta_escalc_more.R -> tests/fixtures/meta/escalc_more.json (data included).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "meta" / "escalc_more.json").read_text())
CASES = FIXTURE["cases"]
DATA = {name: pd.DataFrame({col: np.array([np.nan if v is None else v for v in np.atleast_1d(vals)], dtype=float)
                            for col, vals in cols.items()}) for name, cols in FIXTURE["data"].items()}


def _values(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def _run(case):
    extra = dict(case["extra"] or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        return ml.escalc(case["measure"], data=DATA[case["data"]], **case["args"], **extra)


@pytest.mark.parametrize("key", list(CASES))
def test_measure_matches_metafor(key):
    case = CASES[key]
    out = _run(case)
    yi, vi = _values(case["yi"]), _values(case["vi"])
    np.testing.assert_array_equal(np.isnan(out["yi"]), np.isnan(yi))
    np.testing.assert_array_equal(np.isnan(out["vi"]), np.isnan(vi))
    np.testing.assert_allclose(out["yi"], yi, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(out["vi"], vi, rtol=1e-4, atol=1e-12)


def test_every_measure_is_covered_on_two_data_sets():
    from multilevel.meta.effects._escalc import MEASURES

    seen: dict[str, set] = {}
    for case in CASES.values():
        seen.setdefault(case["measure"], set()).add(case["data"])
    skipped = {"RTET": 2, "OR2D": 0, "D2OR": 0, "SMD1H": 2, "CVRC": 2, "VRC": 2}
    for measure in MEASURES:
        assert len(seen.get(measure, ())) >= skipped.get(measure, 2), measure
