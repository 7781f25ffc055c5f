"""Column names R users have, expression responses and contrasts=, against R
(fixture written by tools/fixtures/formula_names.R).

Each case is an lm / lmer / lmList fit in R; every Python spelling of the
formula in ``py`` must give R's coefficient names exactly and R's numbers.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import PredictorScaleWarning, SingularFitWarning

FIXTURE = Path(__file__).parents[1] / "fixtures" / "formula" / "formula_names.json"
REF = json.loads(FIXTURE.read_text())
CASES = {case["id"]: case for case in REF["cases"]}
SPELLINGS = [(cid, py) for cid, case in CASES.items() for py in case["py"]]
LM_RTOL = 1e-9  # least squares: only rounding differs
LMER_RTOL = 1e-6  # optimizer stopping point (lme4's bobyqa against ours)


def _close(actual, desired, rtol):
    """Relative agreement; a coefficient that is zero in R (a balanced design) is compared on the
    scale of the largest one."""
    desired = np.asarray(desired, dtype=float)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.max(np.abs(desired)))


def _list(value):
    """jsonlite unboxes length-one vectors; undo that."""
    return value if isinstance(value, list) else [value]


def _embedded(name: str) -> pd.DataFrame:
    spec = REF["data"][name]
    df = pd.DataFrame({col: [np.nan if v is None else v for v in _list(values)]
                       for col, values in spec["columns"].items()})
    for col, levels in spec["levels"].items():
        df[col] = pd.Categorical(df[col], categories=_list(levels), ordered=col in _list(spec["ordered"]))
    return df


def dataset(name: str) -> pd.DataFrame:
    if name in REF["data"]:
        return _embedded(name)
    return ml.datasets.load(name).rename(columns=REF["renamed"].get(name, {}))


def _fit(case: dict, formula: str):
    data = dataset(case["data"])
    kwargs = {"contrasts": case["contrasts"]} if case["contrasts"] else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ml.MissingDataWarning, PredictorScaleWarning, SingularFitWarning))
        if case["fn"] == "lm":
            return ml.lm(formula, data, **kwargs)
        if case["fn"] == "lmer":
            return ml.lmer(formula, data, **kwargs)
        return ml.lm_list(formula, data, **kwargs)


@pytest.mark.parametrize(("case_id", "formula"), SPELLINGS)
def test_names_and_estimates(case_id, formula):
    case = CASES[case_id]
    fit = _fit(case, formula)
    if case["fn"] == "lm":
        assert list(fit.names) == _list(case["names"])
        assert fit.nobs == case["nobs"]
        _close(fit.fit.coef, _list(case["coef"]), LM_RTOL)
        _close(fit.fit.se, _list(case["se"]), LM_RTOL)
        _close(fit.sigma, case["sigma"], LM_RTOL)
    elif case["fn"] == "lmer":
        assert list(fit.fixef.index) == _list(case["names"])
        assert [list(b.column_names) for b in fit.frame.blocks] == [_list(c) for c in case["cnms"]]
        assert fit.nobs == case["nobs"]
        if case["singular"]:
            return  # a fit on the boundary: names only (the optimum is flat)
        _close(fit.theta, _list(case["theta"]), LMER_RTOL)
        _close(fit.fixef.to_numpy(), _list(case["coef"]), LMER_RTOL)
        _close(np.sqrt(np.diag(fit.vcov().to_numpy())), _list(case["se"]), LMER_RTOL)
        _close(fit.sigma, case["sigma"], LMER_RTOL)
    else:
        coef = fit.coef
        assert list(coef.columns) == _list(case["names"])
        assert [str(g) for g in coef.index] == _list(case["groups"])
        _close(coef.to_numpy(), np.array(case["coef"]), LM_RTOL)


@pytest.mark.parametrize("case_id", [cid for cid, case in CASES.items() if "printed" in case])
def test_printed_output(case_id):
    """R's print(summary(lm(...))) and print(lmList(...)) for the formula as R users write it:
    the call (with the contrasts list) and the coefficient names."""
    case = CASES[case_id]
    data = dataset(case["data"])
    kwargs = {"contrasts": case["contrasts"]} if case["contrasts"] else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.MissingDataWarning)
        if case["fn"] == "lm":
            text = str(ml.lm(case["formula"], data, data_name=case["data"], **kwargs).summary())
        else:
            text = str(ml.lm_list(case["formula"], data, data_name=case["data"], **kwargs))
    expected = [line.rstrip() for line in _list(case["printed"])]
    assert [line.rstrip() for line in text.split("\n")] == expected
