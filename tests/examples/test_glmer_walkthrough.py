"""The multilevel logistic regression walkthrough runs end to end, prints lme4's and performance's
numbers, and writes its figures and page."""

import importlib.util
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
EXAMPLE = Path(__file__).parents[2] / "examples" / "glmer_walkthrough.py"

# lme4 1.1-31 (tests/fixtures/glmm/glmer_cbpp_cbind.json, more_anova_cbpp.json) and performance 0.10.2
# (more_performance.json: ICC 0.1114, R2 0.1872 / 0.0854)
LME4_LINES = [
    " Family: binomial  ( logit )",
    "period2      -0.9919     0.3032  -3.272 0.001068 **",
    "period3      -1.1282     0.3228  -3.495 0.000474 ***",
    "null      2 213.66 217.71 -104.832   209.66",
    "period    5 194.05 204.18  -92.027   184.05 25.61  3  1.151e-05 ***",
    "period_obs    6 186.64 198.79 -87.319   174.64 9.4148  1   0.002152 **",
    "    Adjusted ICC: 0.111",
    "  Conditional R2: 0.187",
]


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("glmer_walkthrough_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("glmer_walkthrough")
    results = module.main([str(out / "figures"), "--markdown", str(out / "page.md")])
    return module, results, out


def test_walkthrough_runs_end_to_end(walkthrough):
    module, results, out = walkthrough
    assert len(results) == len(module.STEPS) == 7
    figures = sorted((out / "figures").glob("*.png"))
    assert len(figures) == 5 and all(f.stat().st_size > 5000 for f in figures)
    text = (out / "page.md").read_text(encoding="utf-8")
    assert text.count("```python") == 8 and text.count("![") == 5


def test_walkthrough_prints_lme4_numbers(walkthrough):
    _, results, _ = walkthrough
    printed = [line.rstrip() for _, output, _ in results for line in output.splitlines()]
    for line in LME4_LINES:
        assert line in printed, line


def test_profile_interval_of_the_herd_sd_is_lme4s(walkthrough):
    _, results, _ = walkthrough
    output = dict((step.__name__, text) for step, text, _ in results)["odds_ratios"]
    assert "herd SD, profile interval: [0.642, 0.346, 1.1]" in output
