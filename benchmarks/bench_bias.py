"""Benchmark: ml.trimfill (and regtest, ranktest) on a simulated 100-study meta-analysis against metafor 3.8-1.

The data (studies selected for significance, so that trim and fill imputes studies) are
simulated here with a fixed seed and handed to R in a temporary CSV file. Both sides are timed
in-process (Python: time.perf_counter; R: proc.time inside one Rscript run), best of N repeats
after a warm-up, so start-up costs are excluded. The REML fit itself is excluded on both sides.

Run from the repository root:  python benchmarks/bench_bias.py [--repeats N]
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
tf <- trimfill(res)
out <- list(trimfill = best(function() trimfill(res), n, 10),
            regtest = best(function() regtest(res), n, 10),
            ranktest = best(function() ranktest(res), n, 10),
            k0 = tf$k0, beta = as.numeric(tf$beta))
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def simulate(k: int = 100, seed: int = 1) -> pd.DataFrame:
    """The first ``k`` published studies of a random-effects population (mean 0.2, tau^2 0.02) in
    which every significant study but only 35% of the others are published."""
    rng = np.random.default_rng(seed)
    ni = np.round(rng.uniform(20, 400, 3 * k))
    vi = 4 / ni
    yi = rng.normal(0.2, np.sqrt(vi + 0.02))
    published = (yi / np.sqrt(vi) > 1.96) | (rng.uniform(size=3 * k) < 0.35)
    return pd.DataFrame({"yi": yi[published][:k], "vi": vi[published][:k]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    dat = simulate()
    fit = ml.rma("yi", "vi", data=dat)
    tf = ml.trimfill(fit)
    py = {"trimfill": best_of(lambda: ml.trimfill(fit), args.repeats, inner=10, warmup=True),
          "regtest": best_of(lambda: ml.regtest(fit), args.repeats, inner=10, warmup=True),
          "ranktest": best_of(lambda: ml.ranktest(fit), args.repeats, inner=10, warmup=True)}
    r = rscript_json(R_SCRIPT, dat, args.repeats)
    assert tf.k0 == r["k0"], (tf.k0, r["k0"])
    assert np.isclose(float(tf.beta.iloc[0]), r["beta"], rtol=1e-8), (float(tf.beta.iloc[0]), r["beta"])
    print(f"simulated meta-analysis (k = 100, REML; trim and fill imputes k0 = {tf.k0}), "
          f"best of {args.repeats} x 10 calls")
    print(f"{'task':<28}{'multilevel':>14}{'metafor':>14}{'speed-up':>10}")
    rank_kind = "exact" if ml.ranktest(fit).exact else "ties, normal"
    for key, label in [("trimfill", "trimfill (L0)"), ("regtest", "regtest (rma, sei)"),
                       ("ranktest", f"ranktest ({rank_kind})")]:
        print(f"{label:<28}{py[key] * 1e3:>11.3f} ms{r[key] * 1e3:>11.3f} ms{r[key] / py[key]:>9.1f}x")


if __name__ == "__main__":
    main()
