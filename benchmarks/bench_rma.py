"""Benchmark: ml.rma (REML) and its Q-profile confint on dat.bcg against metafor 3.8-1.

Both sides are timed in-process (Python: time.perf_counter; R: proc.time inside one
Rscript run), best of N repeats after a warm-up, so start-up costs are excluded.

Run from the repository root:  python benchmarks/bench_rma.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import subprocess

import numpy as np

import multilevel as ml
from _timing import best_of

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
best <- function(f, n, inner = 20) {
  f()
  min(replicate(n, { t0 <- proc.time()[["elapsed"]]; for (i in seq_len(inner)) f()
                     (proc.time()[["elapsed"]] - t0) / inner }))
}
n <- as.integer(commandArgs(TRUE)[1])
res <- rma(yi, vi, data = dat)
out <- list(fit = best(function() rma(yi, vi, data = dat), n),
            confint = best(function() confint(res), n),
            fit_mods = best(function() rma(yi, vi, mods = ~ ablat + year, data = dat), n),
            tau2 = res$tau2)
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    dat = ml.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=ml.datasets.load("bcg"))
    fit = ml.rma("yi", "vi", data=dat)
    py = {"fit": best_of(lambda: ml.rma("yi", "vi", data=dat), args.repeats, inner=20, warmup=True),
          "confint": best_of(fit.confint, args.repeats, inner=20, warmup=True),
          "fit_mods": best_of(lambda: ml.rma("yi", "vi", data=dat, mods="~ ablat + year"), args.repeats, inner=20, warmup=True)}
    proc = subprocess.run(["Rscript", "-e", R_SCRIPT, str(args.repeats)], capture_output=True, text=True,
                          check=True)
    r = json.loads(proc.stdout)
    assert np.isclose(fit.tau2, r["tau2"], rtol=1e-10), (fit.tau2, r["tau2"])
    print(f"dat.bcg (k = 13), best of {args.repeats} x 20 calls")
    print(f"{'task':<28}{'multilevel':>14}{'metafor':>14}{'speed-up':>10}")
    for key, label in [("fit", "rma REML"), ("confint", "confint (Q-profile)"),
                       ("fit_mods", "rma REML ~ ablat + year")]:
        print(f"{label:<28}{py[key] * 1e3:>11.3f} ms{r[key] * 1e3:>11.3f} ms{r[key] / py[key]:>9.1f}x")
    total_py, total_r = py["fit"] + py["confint"], r["fit"] + r["confint"]
    print(f"{'rma + confint':<28}{total_py * 1e3:>11.3f} ms{total_r * 1e3:>11.3f} ms{total_r / total_py:>9.1f}x")


if __name__ == "__main__":
    main()
