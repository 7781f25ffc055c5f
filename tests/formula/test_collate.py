"""String levels sorted as R's factor() sorts them (ICU collation), against R's output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import multilevel as ml
from multilevel.formula._collate import r_sorted

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "formula" / "formula.json").read_text())


def test_r_level_order():
    collation = REF["collation"]
    assert r_sorted(set(collation["input"])) == collation["levels"]


def test_string_grouping_levels_follow_r():
    labels = REF["collation"]["input"]
    df = pd.DataFrame({"y": [float(i % 7) for i in range(2 * len(labels))], "g": labels * 2})
    mf = ml.model_frame("y ~ 1 + (1 | g)", df)
    assert list(mf.blocks[0].levels) == REF["collation"]["levels"]
