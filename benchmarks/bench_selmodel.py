"""Benchmark: ml.selmodel (step function and every continuous selection function) and ml.trimfill
on a simulated 100-study meta-analysis against metafor 3.8-1, in one run.

The data (studies selected for significance) are simulated here with a fixed seed and handed to R
in a temporary CSV file. Both sides are timed in-process, wall clock and CPU time of the process
(Python: time.perf_counter / time.process_time; R: proc.time() elapsed / user + system inside
one Rscript run), best of N repeats after a warm-up for the fast tasks; the continuous selection
models take long in metafor, so they are timed over fewer repeats (``--slow-repeats``). The speed-up
is reported on CPU time, which a shared, loaded machine distorts less than wall-clock time. The rma
fit itself is excluded on both sides. The estimates are checked against each other.

Run from the repository root:
    python benchmarks/bench_selmodel.py [--repeats N] [--slow-repeats M] [--types halfnorm negexp ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import multilevel as ml
from bench_bias import simulate

CONTINUOUS = ("halfnorm", "negexp", "logistic", "power", "beta")

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE)
dat <- read.csv(args[1])
n <- as.integer(args[2]); n_slow <- as.integer(args[3]); types <- strsplit(args[4], ",")[[1]]
best <- function(f, n, inner = 1, warm = TRUE) {
  if (warm) f()
  runs <- replicate(n, { t0 <- proc.time(); for (i in seq_len(inner)) f(); d <- proc.time() - t0
                         c(d[["elapsed"]], d[["user.self"]] + d[["sys.self"]]) / inner })
  list(wall = min(runs[1, ]), cpu = min(runs[2, ]))
}
res <- rma(yi, vi, data = dat)
steps <- c(0.025, 0.5, 1)
sel <- function(type) if (type == "stepfun") suppressWarnings(selmodel(res, type = "stepfun", steps = steps)) else
  suppressWarnings(selmodel(res, type = type))
out <- list(time = list(trimfill = best(function() trimfill(res), n, inner = 10),
                        stepfun = best(function() sel("stepfun"), n)), delta = list(), beta = list())
for (ty in c("stepfun", types)) {
  if (ty == "stepfun") { s <- sel(ty) } else {  # the slow fits: time n_slow runs, keep the last fit
    wall <- cpu <- Inf
    for (i in seq_len(n_slow)) { t0 <- proc.time(); s <- sel(ty); d <- proc.time() - t0
                                 wall <- min(wall, d[["elapsed"]]); cpu <- min(cpu, d[["user.self"]] + d[["sys.self"]]) }
    out$time[[ty]] <- list(wall = wall, cpu = cpu)
  }
  out$delta[[ty]] <- as.numeric(s$delta); out$beta[[ty]] <- as.numeric(s$beta)
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def best_of(fn, repeats: int, *, inner: int = 1, warmup: bool = False) -> dict[str, float]:
    """Smallest wall-clock and CPU time per call (seconds) over ``repeats`` runs of ``inner`` calls."""
    if warmup:
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        wall.append((time.perf_counter() - w0) / inner)
        cpu.append((time.process_time() - c0) / inner)
    return {"wall": min(wall), "cpu": min(cpu)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slow-repeats", type=int, default=1)
    parser.add_argument("--types", nargs="+", default=list(CONTINUOUS), choices=list(CONTINUOUS) + ["negexppow"])
    args = parser.parse_args()
    dat = simulate()
    fit = ml.rma("yi", "vi", data=dat)
    steps = [0.025, 0.5, 1]
    warnings.simplefilter("ignore", ml.MultilevelWarning)

    def sel(kind):
        return ml.selmodel(fit, "stepfun", steps=steps) if kind == "stepfun" else ml.selmodel(fit, kind)

    kinds = ["stepfun", *args.types]
    fits = {kind: sel(kind) for kind in kinds}
    py = {"trimfill": best_of(lambda: ml.trimfill(fit), args.repeats, inner=10, warmup=True)}
    for kind in kinds:
        py[kind] = best_of(lambda: sel(kind), max(args.repeats, 3))
        print(f"  multilevel {kind}: {py[kind]['cpu']:.2f} s CPU", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim100.csv"
        dat.to_csv(path, index=False, float_format="%.17g")
        proc = subprocess.run(["Rscript", "-e", R_SCRIPT, str(path), str(args.repeats), str(args.slow_repeats),
                               ",".join(args.types)], capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout)
    for kind in kinds:
        np.testing.assert_allclose(fits[kind].delta, r["delta"][kind], rtol=1e-6)
        np.testing.assert_allclose(fits[kind].coefficients[0], r["beta"][kind], rtol=1e-6)
    print(f"simulated meta-analysis (k = 100, REML), best of {args.repeats} "
          f"({args.slow_repeats} for metafor's continuous selection models); estimates agree to 1e-6")
    print(f"{'task':<32}{'multilevel CPU':>15}{'metafor CPU':>13}{'speed-up':>10}{'   (wall: ours / metafor)':>28}")
    labels = {"trimfill": "trimfill (L0)", "stepfun": "selmodel stepfun (0.025, 0.5)"}
    for key in ["trimfill", *kinds]:
        ours, theirs = py[key], r["time"][key]
        print(f"{labels.get(key, 'selmodel ' + key):<32}{ours['cpu'] * 1e3:>12.1f} ms{theirs['cpu'] * 1e3:>10.0f} ms"
              f"{theirs['cpu'] / ours['cpu']:>9.1f}x{ours['wall'] * 1e3:>13.1f} / {theirs['wall'] * 1e3:.0f} ms")
    if "beta" in kinds:
        ratio = r["time"]["beta"]["cpu"] / py["beta"]["cpu"]
        print(f"selmodel beta speed-up on CPU time: {ratio:.1f}x (goal 10x: {'met' if ratio >= 10 else 'missed'})")


if __name__ == "__main__":
    main()
