"""``import multilevel`` stays light: heavy modules load on first use."""

import subprocess
import sys


def test_import_does_not_load_heavy_modules():
    code = ("import sys, multilevel; "
            "print(sorted(m for m in ('scipy.stats', 'jax', 'numpyro', 'arviz', 'matplotlib.pyplot', "
            "'dask', 'distributed') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
