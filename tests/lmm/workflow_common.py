"""Shared fixtures of the workflow tests: R's reference numbers and cached fits."""

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lmm"
SCHOOLS = ["Hillcrest", "Oakwood", "St Mary\u2019s"]


@lru_cache(maxsize=None)
def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"workflow_{name}.json").read_text(encoding="utf-8"))


def data(name: str) -> pd.DataFrame:
    aliases = {"sleep": "sleepstudy", "pastes": "Pastes"}
    return ml.datasets.load(aliases.get(name, name))


@lru_cache(maxsize=None)
def fit(formula: str, data_name: str, reml: bool = True):
    """Fits are frozen, so one per (formula, data) serves every test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.lmer(formula, data(data_name), REML=reml, data_name=data_name)


def matrix(m: dict) -> pd.DataFrame:
    rows = m["rows"] if isinstance(m["rows"], list) else [m["rows"]]
    cols = m["cols"] if isinstance(m["cols"], list) else [m["cols"]]
    values = np.array(m["values"], dtype=float).reshape(len(rows), len(cols))
    return pd.DataFrame(values, index=rows, columns=cols)
