"""The walkthrough example runs end to end and writes its figures and page."""

import importlib.util
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
EXAMPLE = Path(__file__).parents[2] / "examples" / "walkthrough.py"


@pytest.fixture(scope="module")
def walkthrough():
    spec = importlib.util.spec_from_file_location("walkthrough_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_walkthrough_runs_end_to_end(walkthrough, tmp_path, capsys):
    page = tmp_path / "walkthrough.md"
    results = walkthrough.main([str(tmp_path / "figures"), "--markdown", str(page)])
    assert len(results) == len(walkthrough.STEPS) == 11
    figures = sorted((tmp_path / "figures").glob("*.png"))
    assert len(figures) == 11 and all(f.stat().st_size > 5000 for f in figures)
    text = page.read_text(encoding="utf-8")
    assert text.count("```python") == 12 and text.count("![") == 11
    out = capsys.readouterr().out
    # numbers of the simulated students data, as R prints them (tests/fixtures/ols, lmm/workflow_*)
    assert "(Intercept)     30.71738    0.89478  34.329   <2e-16 ***" in out
    assert "Adjusted ICC: 0.311" in out
    assert "REML criterion at convergence: 993.6" in out
    assert "Chisq" in out

