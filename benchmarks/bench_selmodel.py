"""Benchmark: ml.selmodel (step function and half-normal selection) and ml.trimfill on a simulated
100-study meta-analysis against metafor 3.8-1, in one run.

The data (studies selected for significance) are simulated here with a fixed seed and handed to R
in a temporary CSV file. Both sides are timed in-process (Python: time.perf_counter; R: proc.time
inside one Rscript run), best of N repeats after a warm-up for the fast tasks; the continuous
selection model takes long in metafor, so it is timed over fewer repeats (``--slow-repeats``).
The rma fit itself is excluded on both sides. The estimates are checked against each other.

Run from the repository root:  python benchmarks/bench_selmodel.py [--repeats N] [--slow-repeats M]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

import multilevel as ml
from _timing import best_of
from bench_bias import simulate

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE)
dat <- read.csv(args[1])
n <- as.integer(args[2]); n_slow <- as.integer(args[3])
best <- function(f, n, inner = 1, warm = TRUE) {
  if (warm) f()
  min(replicate(n, { t0 <- proc.time()[["elapsed"]]; for (i in seq_len(inner)) f()
                     (proc.time()[["elapsed"]] - t0) / inner }))
}
res <- rma(yi, vi, data = dat)
steps <- c(0.025, 0.5, 1)
sf <- suppressWarnings(selmodel(res, type = "stepfun", steps = steps))
hn <- suppressWarnings(selmodel(res, type = "halfnorm"))
out <- list(trimfill = best(function() trimfill(res), n, inner = 10),
            stepfun = best(function() suppressWarnings(selmodel(res, type = "stepfun", steps = steps)), n),
            halfnorm = best(function() suppressWarnings(selmodel(res, type = "halfnorm")), n_slow, warm = FALSE),
            stepfun_delta = as.numeric(sf$delta), stepfun_beta = as.numeric(sf$beta),
            halfnorm_delta = as.numeric(hn$delta), halfnorm_beta = as.numeric(hn$beta))
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slow-repeats", type=int, default=1)
    args = parser.parse_args()
    dat = simulate()
    fit = ml.rma("yi", "vi", data=dat)
    steps = [0.025, 0.5, 1]
    warnings.simplefilter("ignore", ml.MultilevelWarning)
    sf = ml.selmodel(fit, "stepfun", steps=steps)
    hn = ml.selmodel(fit, "halfnorm")
    py = {"trimfill": best_of(lambda: ml.trimfill(fit), args.repeats, inner=10, warmup=True),
          "stepfun": best_of(lambda: ml.selmodel(fit, "stepfun", steps=steps), args.repeats, warmup=True),
          "halfnorm": best_of(lambda: ml.selmodel(fit, "halfnorm"), max(args.slow_repeats, 2))}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim100.csv"
        dat.to_csv(path, index=False, float_format="%.17g")
        proc = subprocess.run(["Rscript", "-e", R_SCRIPT, str(path), str(args.repeats), str(args.slow_repeats)],
                              capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout)
    np.testing.assert_allclose(sf.delta, r["stepfun_delta"], rtol=1e-6)
    np.testing.assert_allclose(sf.coefficients[0], r["stepfun_beta"], rtol=1e-6)
    np.testing.assert_allclose(hn.delta, r["halfnorm_delta"], rtol=1e-6)
    np.testing.assert_allclose(hn.coefficients[0], r["halfnorm_beta"], rtol=1e-6)
    print(f"simulated meta-analysis (k = 100, REML), best of {args.repeats} "
          f"({args.slow_repeats} for metafor's half-normal selection model)")
    print(f"{'task':<34}{'multilevel':>14}{'metafor':>14}{'speed-up':>10}")
    for key, label in [("trimfill", "trimfill (L0)"), ("stepfun", "selmodel stepfun (0.025, 0.5)"),
                       ("halfnorm", "selmodel halfnorm")]:
        print(f"{label:<34}{py[key] * 1e3:>11.1f} ms{r[key] * 1e3:>11.1f} ms{r[key] / py[key]:>9.1f}x")


if __name__ == "__main__":
    main()
