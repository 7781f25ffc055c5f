"""Benchmark: ml.influence and ml.leave1out on a simulated 100-study meta-analysis against metafor 3.8-1.

The data are simulated here with a fixed seed and handed to R in a temporary CSV file. Both sides
are timed in-process (Python: time.perf_counter; R: proc.time inside one Rscript run), best of N
repeats after a warm-up, so start-up costs are excluded. The REML fit itself is excluded on both
sides. Cook's distances and the leave-one-out estimates are compared before timing.

Run from the repository root:  python benchmarks/bench_influence.py [--repeats N]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import multilevel as ml
from _timing import best_of, rscript_json

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE)
dat <- read.csv(args[1])
n <- as.integer(args[2])
res <- rma(yi, vi, data = dat)
mr <- rma(yi, vi, mods = ~ x, data = dat)
out <- list(influence = best(function() influence(res), n),
            influence_mr = best(function() influence(mr), n),
            leave1out = best(function() leave1out(res), n),
            cook = as.numeric(cooks.distance(mr)), l1o = as.numeric(leave1out(res)$estimate))
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def simulate(k: int = 100, seed: int = 1) -> pd.DataFrame:
    """A random-effects meta-regression population: ``y = 0.2 + 0.1 x + u + e``, tau^2 = 0.02."""
    rng = np.random.default_rng(seed)
    ni = np.round(rng.uniform(20, 400, k))
    vi = 4 / ni
    x = rng.normal(size=k)
    yi = rng.normal(0.2 + 0.1 * x, np.sqrt(vi + 0.02))
    return pd.DataFrame({"yi": yi, "vi": vi, "x": x})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dat = simulate()
    fit = ml.rma("yi", "vi", data=dat)
    mr = ml.rma("yi", "vi", data=dat, mods="~ x")
    py = {"influence": best_of(lambda: ml.influence(fit), args.repeats, warmup=True),
          "influence_mr": best_of(lambda: ml.influence(mr), args.repeats, warmup=True),
          "leave1out": best_of(lambda: ml.leave1out(fit), args.repeats, warmup=True)}
    r = rscript_json(R_SCRIPT, dat, args.repeats)
    np.testing.assert_allclose(ml.cooks_distance(mr).to_numpy(), r["cook"], rtol=1e-6)
    np.testing.assert_allclose(ml.leave1out(fit).to_frame()["estimate"].to_numpy(), r["l1o"], rtol=1e-8)
    print(f"simulated meta-analysis (k = 100, REML), best of {args.repeats} calls")
    print(f"{'task':<34}{'multilevel':>14}{'metafor':>14}{'speed-up':>10}")
    for key, label in [("influence", "influence (random effects)"), ("influence_mr", "influence (meta-regression)"),
                       ("leave1out", "leave1out")]:
        print(f"{label:<34}{py[key] * 1e3:>11.2f} ms{r[key] * 1e3:>11.2f} ms{r[key] / py[key]:>9.1f}x")


if __name__ == "__main__":
    main()
