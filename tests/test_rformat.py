"""multilevel._rformat against R's format() and format.pval()."""

import json
from pathlib import Path

import pytest

from multilevel._rformat import format_num, format_pval

FIX = json.loads((Path(__file__).parent / "fixtures" / "rformat" / "rformat.json").read_text())


@pytest.mark.parametrize("case", FIX["format"], ids=lambda c: ",".join(c["x"]))
def test_format_num_matches_r(case):
    x = [float(v) for v in case["x"]]
    assert format_num(x, case["digits"][0]) == case["r"]


@pytest.mark.parametrize("case", FIX["format_pval"], ids=lambda c: ",".join(c["p"]))
def test_format_pval_matches_r(case):
    p = [float(v) for v in case["p"]]
    assert format_pval(p, case["digits"][0]) == case["r"]
