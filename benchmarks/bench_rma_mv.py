"""Benchmark ``rma_mv`` against metafor's ``rma.mv`` on the school-calendar data.

The compound-symmetric fit ``random = ~ school | district`` and its
profile-likelihood ``confint`` are timed in both (best of several repeats;
R's timing is taken inside R, so its start-up is excluded). Run:

    /work/venv/bin/python benchmarks/bench_rma_mv.py [repeats]
"""

from __future__ import annotations

import subprocess
import sys

import multilevel as ml
from _timing import best_of

R_SCRIPT = r"""
suppressMessages(library(metafor))
dat <- dat.konstantopoulos2011
best <- function(f, n) min(sapply(seq_len(n), function(i) system.time(f())[["elapsed"]]))
best_fine <- function(f, n, inner) {
  min(sapply(seq_len(n), function(i) { t0 <- proc.time()[["elapsed"]]; for (j in seq_len(inner)) f();
                                       (proc.time()[["elapsed"]] - t0) / inner }))
}
n <- as.integer(commandArgs(TRUE)[1])
fit <- rma.mv(yi, vi, random = ~ school | district, data = dat)
t_fit <- best_fine(function() rma.mv(yi, vi, random = ~ school | district, data = dat), n, 10)
t_ci <- best(function() confint(fit), n)
cat(sprintf("%.9f %.9f\n", t_fit, t_ci))
"""


def main(repeats: int = 7) -> None:
    dat = ml.datasets.load("konstantopoulos2011")

    def fit_once():
        return ml.rma_mv("yi", "vi", random="~ school | district", data=dat)

    fit = fit_once()
    fit.confint()  # warm up
    py_fit = best_of(fit_once, 2 * repeats, inner=20)
    py_ci = best_of(fit.confint, 2 * repeats)
    out = subprocess.run(["Rscript", "-e", R_SCRIPT, str(repeats)], capture_output=True, text=True, check=True)
    r_fit, r_ci = (float(v) for v in out.stdout.split())
    print(f"{'':18s}{'metafor':>12s}{'multilevel':>12s}{'speed-up':>10s}")
    print(f"{'rma.mv fit (CS)':18s}{r_fit * 1e3:10.2f}ms{py_fit * 1e3:10.2f}ms{r_fit / py_fit:9.1f}x")
    print(f"{'confint (profile)':18s}{r_ci * 1e3:10.2f}ms{py_ci * 1e3:10.2f}ms{r_ci / py_ci:9.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
