"""Benchmark: latency of a first brma fit in a fresh Python process, by engine, vs JAGS.

Each measurement is one new process running, end to end (interpreter start, imports, data,
fit)::

    import multilevel as ml
    d = ml.datasets.load("konstantopoulos2011")
    ml.brma(d.yi, d.vi, measure="SMD", cluster=d.district, seed=1)

(the RoBMA vignette's multilevel model, 3 chains x 5000 draws), timed from outside
(wall clock) and, inside the process, split into imports + data and the fit itself.

* ``import multilevel`` alone (public names load on first use, so this is the interpreter and
  the package's exception types);
* default engine (``"auto"``: quadrature for this model; it imports neither JAX nor formulaic);
* ``engine="nuts"`` with JAX's persistent compilation cache off (``MULTILEVEL_JAX_CACHE=0``:
  every process compiles), and with a fresh cache directory: the first process fills it,
  the following ones load the compiled programs;
* JAGS via ``Rscript tools/fixtures/brma_jags.R bench 3 5000 2000 500`` (RoBMA's adapt and
  burn-in), end to end (R start-up, rjags loading, model compilation, sampling).

Each variant runs ``--repeats`` times (interleaved); the table gives the best and the median.
On a shared machine wall-clock times vary with the load: the load average is printed.

    /work/venv/bin/python benchmarks/bench_brma_latency.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIT = """
import json, time
t0 = time.perf_counter()
import multilevel as ml
d = ml.datasets.load("konstantopoulos2011")
t1 = time.perf_counter()
fit = ml.brma(d.yi, d.vi, measure="SMD", cluster=d.district, seed=1, progress=False{engine})
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "fit": t2 - t1, "engine": fit.engine,
                  "mu": float(fit.posterior["mu"].mean())}}))
"""


def _env(cache) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache is not None:
        env["MULTILEVEL_JAX_CACHE"] = str(cache)
    return env


def run_python(engine: str | None, cache) -> dict:
    code = FIT.format(engine=f", engine={engine!r}" if engine else "")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=_env(cache))
    wall = time.perf_counter() - t0
    return {"wall": wall, **json.loads(out.stdout.strip().splitlines()[-1])}


def run_import() -> dict:
    """A fresh process that only imports the package (no data, no fit)."""
    code = "import time; t0 = time.perf_counter(); import multilevel; print(time.perf_counter() - t0)"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env(None))
    wall = time.perf_counter() - t0
    return {"wall": wall, "import": float(out.stdout.strip()), "fit": 0.0}


def run_jags() -> dict:
    cmd = ["Rscript", str(ROOT / "tools" / "fixtures" / "brma_jags.R"), "bench", "3", "5000", "2000", "500"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    inner = json.loads(out.stdout)
    return {"wall": wall, "import": wall - inner["time_total"], "fit": inner["time_total"]}


def _row(label: str, rows: list[dict]) -> str:
    cols = []
    for key in ("wall", "import", "fit"):
        x = np.array([r[key] for r in rows])
        cols.append(f"{x.min():7.2f} {np.median(x):7.2f}")
    return f"{label:44s}" + "  ".join(cols)


def main(repeats: int, jags: bool) -> None:
    load0 = os.getloadavg()
    results: dict[str, list[dict]] = {}
    add = lambda key, row: results.setdefault(key, []).append(row)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        add("default engine (quadrature), first process", run_python(None, "0"))
        add("nuts, persistent cache filled by this process", run_python("nuts", Path(tmp) / "jax"))
        for _ in range(repeats):
            add("import multilevel only", run_import())
            add("default engine (quadrature), later processes", run_python(None, "0"))
            add("nuts, no persistent cache", run_python("nuts", "0"))
            add("nuts, warm persistent cache", run_python("nuts", Path(tmp) / "jax"))
            if jags:
                add("JAGS (Rscript, end to end)", run_jags())
    load1 = os.getloadavg()
    print(f"{'seconds: best / median':44s}{'process':>15s}  {'imports+data':>15s}  {'fit':>15s}")
    for label, rows in results.items():
        print(_row(label, rows) + f"   (n = {len(rows)})")
    print(f"JAGS columns: R start-up + package loading, and the time inside R (model, adapt, "
          f"burn-in, sampling).")
    print(f"load average before {load0[0]:.1f}, after {load1[0]:.1f}; {os.cpu_count()} CPUs; "
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-jags", action="store_true")
    args = parser.parse_args()
    main(args.repeats, not args.no_jags)
