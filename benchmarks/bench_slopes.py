"""Benchmark: one grouping factor with a correlated random slope, ``y ~ x + (x | g)``.

Times ``ml.lmer`` (REML) side by side with mixedlm (the ``mixedlm`` package, a
Rust core), lme4 ``lmer`` (through ``Rscript``, timed inside R: start-up and
data loading excluded) and statsmodels ``MixedLM`` on simulated data with 8
rows per group (2,000,000 rows have 250,000 groups), and ``Reaction ~ Days +
(Days | Subject)`` on sleepstudy. Every number is the best of ``--repeat`` runs;
the Python fits are interleaved (ours, mixedlm, statsmodels, ours, ...) so that
a busy machine slows them alike. Peak memory of our fit is measured in a fresh
process (``tracemalloc`` peak and maximum resident set size).

Run from the repository root::

    python benchmarks/bench_slopes.py                       # all sizes
    python benchmarks/bench_slopes.py --sizes 10000,100000 --repeat 5
    python benchmarks/bench_slopes.py --sizes sleepstudy --repeat 30

lme4 is skipped for a size once one of its fits has taken longer than
``--r-limit`` seconds (then every larger size is skipped as well), statsmodels
above ``--sm-max`` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

from _timing import best_of

FORMULA = "y ~ x + (x | g)"
SLEEP = "Reaction ~ Days + (Days | Subject)"
ROWS_PER_GROUP = 8


def simulate(n: int, seed: int = 1) -> pd.DataFrame:
    """``n`` rows, ``n / 8`` groups: intercept and slope correlated (0.7), residual sd 1."""
    rng = np.random.default_rng(seed)
    groups = n // ROWS_PER_GROUP
    g = np.repeat(np.arange(groups), ROWS_PER_GROUP)
    x = rng.normal(size=n)
    b0 = rng.normal(scale=1.0, size=groups)
    b1 = 0.5 * b0 + rng.normal(scale=0.5, size=groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})


def _case(size: str):
    import multilevel as ml

    if size == "sleepstudy":
        return ml.datasets.load("sleepstudy"), SLEEP, "Subject", "Reaction ~ Days", "~Days"
    return simulate(int(size)), FORMULA, "g", "y ~ x", "~x"


def python_fits(df, formula, group, sm_fixed, sm_re, *, statsmodels: bool):
    """Callables fitting the model with each available Python package."""
    import multilevel as ml

    fits = {"ours": lambda: ml.lmer(formula, df)}
    try:
        import mixedlm

        fits["mixedlm"] = lambda: mixedlm.lmer(formula, df)
    except ImportError:
        pass
    if statsmodels:
        import statsmodels.formula.api as smf

        fits["statsmodels"] = lambda: smf.mixedlm(sm_fixed, df, groups=df[group], re_formula=sm_re).fit(reml=True)
    return fits


def time_interleaved(fits: dict, repeat: int, inner: int, cpu: bool = False) -> dict:
    """Best time per fit of each callable, the callables taking turns in every repeat
    (``cpu``: the process's CPU time, all its threads, instead of the wall clock)."""
    best = {name: np.inf for name in fits}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn in fits.values():  # warm-up: imports, caches
            fn()
        for _ in range(repeat):
            for name, fn in fits.items():
                best[name] = min(best[name], _cpu_of(fn, inner) if cpu else best_of(fn, 1, inner=inner))
    return best


def _cpu_of(fn, inner: int) -> float:
    t0 = time.process_time()
    for _ in range(inner):
        fn()
    return (time.process_time() - t0) / inner


def time_lme4(df, formula, size: str, repeat: int, inner: int, cpu: bool = False) -> float | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        if size == "sleepstudy":
            load = "d <- lme4::sleepstudy"
        else:
            path = os.path.join(tmp, "d.csv")
            df.to_csv(path, index=False)
            load = f"d <- read.csv('{path}'); d$g <- factor(d$g)"
        code = f"""
suppressMessages(library(lme4))
{load}
f <- function() suppressMessages(lmer({formula}, data = d, REML = TRUE))
clock <- function(s) if ({str(cpu).upper()}) s[["user.self"]] + s[["sys.self"]] else s[["elapsed"]]
t0 <- clock(system.time(f()))
ts <- if ({repeat} > 1) replicate({repeat} - 1, clock(system.time(for (i in seq_len({inner})) f())) / {inner}) else t0
cat(min(c(t0, ts)), "\\n")
"""
        out = subprocess.run([rscript, "-e", code], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return float(out.stdout.strip().split()[-1])


def memory_ours(size: str) -> dict:
    """Peak memory of one fit of ours, in a fresh process."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"""
import json, resource, sys, tracemalloc, warnings
sys.path.insert(0, {here!r})
from bench_slopes import _case
import multilevel as ml
df, formula, *_ = _case({size!r})
tracemalloc.start()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ml.lmer(formula, df)
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({{"traced_mib": peak / 2**20, "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(t) -> str:
    if t is None or not np.isfinite(t):
        return "n/a"
    return f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"


def _ratio(other, ours) -> str:
    return "n/a" if other is None or not np.isfinite(other) else f"{other / ours:.1f}x"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="sleepstudy,10000,100000,1000000,2000000")
    parser.add_argument("--repeat", type=int, default=None, help="runs per timing (default by size)")
    parser.add_argument("--no-r", action="store_true", help="skip lme4")
    parser.add_argument("--r-limit", type=float, default=300.0, help="skip lme4 beyond a fit this slow (s)")
    parser.add_argument("--sm-max", type=int, default=100_000, help="largest size for statsmodels")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU time of the fitting process instead of wall time (fairer on a busy machine)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cpus, load average {load:.1f}; best of N; ratios are other / ours; "
          f"{'CPU' if args.cpu else 'wall'} time")
    print("| size | ours | mixedlm | lme4 | statsmodels | mixedlm/ours | lme4/ours | sm/ours | peak MiB (traced / RSS) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    r_ok = not args.no_r
    for size in args.sizes.split(","):
        df, formula, group, sm_fixed, sm_re = _case(size)
        n = len(df)
        repeat = args.repeat or (30 if n < 1000 else 7 if n <= 100_000 else 3)
        inner = 10 if n < 1000 else 1
        fits = python_fits(df, formula, group, sm_fixed, sm_re, statsmodels=n <= args.sm_max)
        t = time_interleaved(fits, repeat, inner, args.cpu)
        r = None
        if r_ok:
            t0 = time.perf_counter()
            r = time_lme4(df, formula, size, max(1, min(repeat, 5)) if n <= 100_000 else 1, inner, args.cpu)
            if r is None or r > args.r_limit or time.perf_counter() - t0 > 3 * args.r_limit:
                r_ok = False  # larger sizes would take longer still
        mem = {"traced_mib": np.nan, "maxrss_mib": np.nan} if args.no_memory else memory_ours(size)
        label = "sleepstudy" if size == "sleepstudy" else f"{n:,} rows / {n // ROWS_PER_GROUP:,} groups"
        ours = t["ours"]
        print(f"| {label} | {_fmt(ours)} | {_fmt(t.get('mixedlm'))} | {_fmt(r)} | {_fmt(t.get('statsmodels'))} "
              f"| {_ratio(t.get('mixedlm'), ours)} | {_ratio(r, ours)} | {_ratio(t.get('statsmodels'), ours)} "
              f"| {mem['traced_mib']:.0f} / {mem['maxrss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
