"""The publication-bias walkthrough runs end to end, prints metafor's numbers for the single
adjustments, RoBMA's tables for the ensemble, and writes its five figures and the page."""

import importlib.util
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
EXAMPLE = Path(__file__).parents[2] / "examples" / "robma_walkthrough.py"

# metafor 3.8-1 on dat.lehmann2018 (rma, regtest, PET, PEESE, selmodel stepfun at .025)
METAFOR_LINES = [
    "tau^2 (estimated amount of total heterogeneity): 0.1032 (SE = 0.0251)",
    "  0.2073  0.0451  4.5923  <.0001  0.1188  0.2958  ***",
    "Test for Funnel Plot Asymmetry: z = 2.5616, p = 0.0104",
    "Limit Estimate (as sei -> 0):   b = -0.0359 (CI: -0.2394, 0.1676)",
    "sqrt(vi)    1.0765  0.4203   2.5616  0.0104   0.2528  1.9002  *",
    "intrcpt    0.0903  0.0647  1.3959  0.1627  -0.0365  0.2171",
    "0.025 < p <= 1      56    0.5485  0.2495  -1.8097  0.0703  0.0594  1.0375  .",
]


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("robma_walkthrough_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("robma_walkthrough")
    record = module.main([str(out / "figures"), "--markdown", str(out / "page.md")])
    return module, record, out


def test_runs_every_step(walkthrough):
    module, record, _ = walkthrough
    assert [step.__name__ for step, *_ in record.steps] == module.STEPS


def test_prints_metafor_numbers(walkthrough):
    _, record, _ = walkthrough
    printed = [line.rstrip() for _, output, _, _ in record.steps for line in output.splitlines()]
    for line in METAFOR_LINES:
        assert line in printed, line
    # and the page's R blocks hold the same lines as metafor printed them
    for line in METAFOR_LINES:
        assert line in walkthrough[0].R_OUTPUT["random_effects"] + walkthrough[0].R_OUTPUT["single_adjustments"]


def test_prints_the_robma_tables(walkthrough):
    _, record, _ = walkthrough
    out = dict((step.__name__, text) for step, text, _, _ in record.steps)
    assert "Components summary:" in out["robma_fit"] and "omega[0.025,0.05]" in out["robma_fit"]
    assert "Conditional estimates:" in out["conditional"]
    assert "PET" in out["models"] and "importance" in out["models"]
    assert out["interpretation"].startswith("Robust Bayesian meta-analysis found moderate evidence against the effect")
    assert "prediction" in out["output_scales"]


def test_figures_and_page(walkthrough):
    _, _, out = walkthrough
    names = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert names == ["robma_forest_plot.png", "robma_plot_effect.png", "robma_plot_models.png",
                     "robma_plot_petpeese.png", "robma_plot_weightfunction.png"]
    assert all((out / "figures" / n).stat().st_size > 10_000 for n in names)
    text = (out / "page.md").read_text(encoding="utf-8")
    assert text.count("```python") == 16 and text.count("```r") == 5 and text.count("![") == 5
    assert "## Agreement with the vignette" in text
