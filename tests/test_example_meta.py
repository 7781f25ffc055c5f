"""The multilevel meta-analysis walkthrough runs end to end and prints metafor's numbers.

One subprocess run (the Bayesian fits compile their samplers once per process); the
checks share it through a module-scoped fixture.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "meta_walkthrough.py"
DOC = ROOT / "docs" / "meta_walkthrough.md"

# what metafor 3.8-1 printed in the RoBMA vignette (rma.mv and confint), line by line
METAFOR_LINES = [
    "tau^2      0.0978  0.3127     no",
    "rho        0.6653             no",
    "Q(df = 55) = 578.8640, p-val < .0001",
    "  0.1847  0.0846  2.1845  0.0289  0.0190  0.3504  *",
    "tau^2   0.0978 0.0528 0.2398",
    "tau     0.3127 0.2298 0.4897",
    "rho   0.6653 0.3282 0.8855",
]
# metafor 3.8-1 for the further steps (predict, mods = ~ year, anova against rho = 0, and the
# I2 split computed in R from its fit: 95.187316, 63.324845, 31.862471)
METAFOR_FURTHER = [
    "tau2.between    63.32",
    "tau2.within     31.86",
    "year       0.0053   0.0094   0.5629  0.5735   -0.0132   0.0238",
    "QM(df = 1) = 0.3169, p-val = 0.5735",
    "Reduced  2 37.6910 41.7057 37.9218 -16.8455 17.7736 <.0001 578.8640",
    "0  0.1847  0.0846  0.019  0.3504 -0.4502  0.8197",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("meta_walkthrough")
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(EXAMPLE), str(out / "figures"), "--markdown",
                           str(out / "page.md")], capture_output=True, text=True, env=env,
                          cwd=out, timeout=900)
    return proc, out


def test_exits_cleanly(run):
    proc, _ = run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("line", METAFOR_LINES + METAFOR_FURTHER)
def test_prints_metafor_numbers(run, line):
    proc, _ = run
    assert line in proc.stdout.splitlines()


def test_prints_bayesian_summaries(run):
    out = run[0].stdout
    assert "Bayesian Multilevel Random-Effects Model (k = 56, clusters = 11)" in out
    assert "Heterogeneity Estimates:" in out and "I2 [between]" in out
    assert "BF10 = " in out and "bridge sampling" in out and "quadrature" in out


def test_figures_written(run):
    _, out = run
    names = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert names == ["meta_district_effects.png", "meta_mcmc_diagnostics.png", "meta_posterior_plots.png"]
    assert all((out / "figures" / n).stat().st_size > 10_000 for n in names)


def test_page_written(run):
    _, out = run
    text = (out / "page.md").read_text(encoding="utf-8")
    assert text.count("```python") == 12 and text.count("```r") == 8
    assert "![Posteriors of tau and rho with their priors.](figures/meta_posterior_plots.png)" in text
    assert "| I2 [between] |" in text


def test_committed_page_has_current_metafor_output(run):
    """The committed page shows what the script prints for the deterministic (metafor) steps."""
    proc, _ = run
    committed = DOC.read_text(encoding="utf-8")
    sections = proc.stdout.split("\n## ")
    frequentist = [s for s in sections if s.startswith(("2. ", "4. "))]
    assert len(frequentist) == 2
    for section in frequentist:
        body = section.split("\n", 1)[1].strip()
        assert body in committed
