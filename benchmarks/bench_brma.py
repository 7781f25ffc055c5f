"""Benchmark: multilevel.brma (NumPyro NUTS) vs JAGS (rjags) on the same model, in one run.

(The latency of a first fit in a new process, with the default quadrature engine, is
``bench_brma_latency.py``.)

Model and data: the multilevel random-effects model of the RoBMA vignette (Konstantopoulos
2011, 56 estimates in 11 districts, RoBMA's default SMD priors). Both samplers produce
3 chains x 5000 draws after warm-up; JAGS uses RoBMA's defaults (adapt 500, burn-in 2000),
we use 1000 NUTS warm-up iterations. JAGS is timed inside R (``proc.time``), so R start-up and
package loading are excluded; our fit is timed after a first (compiling) fit.

Effective samples per second = min ESS over (mu, tau, rho) / sampling time, with the same ESS
estimator (NumPyro's multi-chain ESS) applied to both samplers' draws. Wall-clock and CPU
times are both reported: on a shared machine the CPU-time ratio is the steadier one.
Best of ``--repeats`` interleaved runs for each sampler.

    /work/venv/bin/python benchmarks/bench_brma.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml
from multilevel.bayes._diagnostics import ess

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ("mu", "tau", "rho")


def run_ours(dat, seed):
    c0, t0 = time.process_time(), time.perf_counter()
    fit = ml.brma(yi="yi", vi="vi", measure="SMD", cluster="district", data=dat, seed=seed, engine="nuts")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    min_ess = min(ess(fit.posterior[p]) for p in PARAMS)
    r = fit._run
    return {"wall": wall, "cpu": cpu, "wall_sampling": r.time_sampling, "cpu_sampling": r.cpu_sampling,
            "min_ess": min_ess}


def run_jags(seed_file):
    cmd = ["Rscript", str(ROOT / "tools" / "fixtures" / "brma_jags.R"), "bench", "3", "5000", "2000", "500",
           seed_file]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    d = pd.read_csv(seed_file)
    draws = {p: np.stack([g[p].to_numpy() for _, g in d.groupby("chain")]) for p in PARAMS}
    return {"wall": out["time_total"], "cpu": out["cpu_total"], "wall_sampling": out["time_sampling"],
            "cpu_sampling": out["cpu_sampling"], "min_ess": min(ess(draws[p]) for p in PARAMS),
            "versions": f"rjags {out['rjags_version']}, JAGS {out['JAGS_version']}"}


def main(repeats: int) -> None:
    dat = ml.datasets.load("konstantopoulos2011")
    t0 = time.perf_counter()
    run_ours(dat, 0)
    first = time.perf_counter() - t0
    ours, jags = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            ours.append(run_ours(dat, i + 1))
            jags.append(run_jags(str(Path(tmp) / "draws.csv")))
    best = lambda rows, key: min(r[key] for r in rows)  # noqa: E731
    eps = lambda rows, t: max(r["min_ess"] / r[t] for r in rows)  # noqa: E731
    print(f"first fit (includes compilation): {first:.2f} s")
    print(f"{'':28s}{'ours':>10s}{'JAGS':>10s}{'ratio':>10s}")
    for label, key in (("wall time, whole fit (s)", "wall"), ("CPU time, whole fit (s)", "cpu"),
                       ("wall time, sampling (s)", "wall_sampling"), ("CPU time, sampling (s)", "cpu_sampling")):
        a, b = best(ours, key), best(jags, key)
        print(f"{label:28s}{a:10.3f}{b:10.3f}{b / a:9.1f}x")
    print(f"{'min ESS (mu, tau, rho)':28s}{np.median([r['min_ess'] for r in ours]):10.0f}"
          f"{np.median([r['min_ess'] for r in jags]):10.0f}")
    for label, key in (("ESS / s (wall, sampling)", "wall_sampling"), ("ESS / s (CPU, sampling)", "cpu_sampling")):
        a, b = eps(ours, key), eps(jags, key)
        print(f"{label:28s}{a:10.0f}{b:10.0f}{a / b:9.1f}x")
    print(f"repeats: {repeats} (best of each); {jags[0]['versions']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    main(parser.parse_args().repeats)
