"""lmer in memory against lmer from Parquet files through Dask (1M rows by default).

Writes a simulated crossed data set (``y ~ x + f + (x | g1) + (1 | g2)``, g1 with 2000
levels, g2 with 100) as Parquet files, then fits it in three fresh processes:

* ``memory``: pandas reads the files, ``ml.lmer`` fits the table;
* ``dask-threads``: ``ml.lmer`` on the Parquet path, Dask's threaded scheduler
  (partitions are worked on in the calling process, a few at a time);
* ``dask-cluster``: the same with a ``distributed.LocalCluster`` of two worker processes
  (the calling process only receives the summed cross-products).

Each reports its wall time and the peak resident memory of the calling process
(``ru_maxrss``), and the largest difference of its estimates from the in-memory fit.

The peak memory of the fit itself grows with the random-effects structure (for the
default formula, the Schur-update maps of 2000 levels with a random slope take most of
it, in memory and from Dask alike); ``--formula "y ~ x + f + (1 | g2)"`` shows the rows'
share.

Run: ``python benchmarks/bench_dask.py [--rows 1000000] [--partitions 20] [--formula ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

FORMULA = "y ~ x + f + (x | g1) + (1 | g2)"


def simulate(path: str, rows: int, partitions: int, seed: int = 1) -> None:
    """Write the data set as ``partitions`` Parquet files, one chunk at a time."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    b1, s1, b2 = rng.normal(size=2000) * 0.8, rng.normal(size=2000) * 0.3, rng.normal(size=100) * 0.5
    os.makedirs(path, exist_ok=True)
    for i, chunk in enumerate(np.array_split(np.arange(rows), partitions)):
        m = chunk.size
        g1, g2 = rng.integers(0, 2000, m), rng.integers(0, 100, m)
        x = rng.normal(size=m)
        f = rng.choice(np.array(["lo", "mid", "hi"]), m)
        y = 1 + 0.5 * x + (f == "hi") * 0.3 + b1[g1] + s1[g1] * x + b2[g2] + rng.normal(size=m)
        pd.DataFrame({"y": y, "x": x, "f": f, "g1": np.char.add("s", g1.astype(str)), "g2": g2}).to_parquet(
            os.path.join(path, f"part-{i:04d}.parquet"), index=False)


def run_mode(mode: str, path: str, formula: str = FORMULA) -> dict:
    """Fit in this process; returns the timing, the peak RSS and the estimates."""
    import multilevel as ml

    t0 = time.perf_counter()
    if mode == "memory":
        import pandas as pd

        fit = ml.lmer(formula, pd.read_parquet(path))
    elif mode == "dask-threads":
        fit = ml.lmer(formula, path)
    else:
        import distributed

        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster):
            t0 = time.perf_counter()  # the cluster's start-up is not counted
            fit = ml.lmer(formula, path)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "seconds": seconds, "peak_mb": peak_mb, "fixef": fit.fixef.tolist(),
            "theta": fit.theta.tolist(), "deviance": fit.deviance,
            "se": np.sqrt(np.diag(np.asarray(fit.vcov() if callable(fit.vcov) else fit.vcov))).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=20)
    parser.add_argument("--formula", default=FORMULA, help="a formula in y, x, f, g1, g2 (default: %(default)s)")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # child process
        print(json.dumps(run_mode(args.mode, args.path, args.formula)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data")
        simulate(path, args.rows, args.partitions)
        results = []
        for mode in ("memory", "dask-threads", "dask-cluster"):
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--path", path, "--formula", args.formula],
                                 check=True,
                                 capture_output=True, text=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref = results[0]
    print(f"{args.formula}: {args.rows} rows in {args.partitions} Parquet files")
    print(f"{'mode':<14}{'seconds':>9}{'peak MB':>9}  differences from memory: fixef, SE, deviance (relative), "
          "theta (absolute)")
    for r in results:
        rel = [float(np.max(np.abs(np.subtract(r[k], ref[k])) / np.abs(ref[k]))) for k in ("fixef", "se", "deviance")]
        theta = float(np.max(np.abs(np.subtract(r["theta"], ref["theta"]))))
        cells = "  ".join(f"{v:.1e}" for v in rel + [theta])
        print(f"{r['mode']:<14}{r['seconds']:>9.1f}{r['peak_mb']:>9.0f}  {cells}")

if __name__ == "__main__":
    main()
