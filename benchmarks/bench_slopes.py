"""Benchmark: one grouping factor with a correlated random slope, ``y ~ x + (x | g)``.

Times ``ml.lmer`` (REML) side by side with mixedlm (the ``mixedlm`` package, a
Rust core), lme4 ``lmer`` (through ``Rscript``, timed inside R: start-up and
data loading excluded) and statsmodels ``MixedLM`` on simulated data with 8
rows per group (2,000,000 rows have 250,000 groups), and ``Reaction ~ Days +
(Days | Subject)`` on sleepstudy. Every cell is the CPU time of the fitting
process (all its threads; R: user + system) and, in parentheses, the wall time,
each the best of ``--repeat`` runs; the Python fits are interleaved (ours,
mixedlm, statsmodels, ours, ...) so that a busy machine slows them alike.
mixedlm runs its Rust thread pool on every core for large problems;
``--mixedlm-threads 1`` pins it to one thread (then its CPU time is not inflated
by threads waiting on each other on a busy machine). Peak memory of our fit is measured in a fresh
process (``tracemalloc`` peak and maximum resident set size).

Run from the repository root::

    python benchmarks/bench_slopes.py                       # all sizes
    python benchmarks/bench_slopes.py --sizes 10000,100000 --repeat 5
    python benchmarks/bench_slopes.py --sizes sleepstudy --repeat 30
    python benchmarks/bench_slopes.py --sizes 1000000 --mixedlm-threads 1 --no-r

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


def time_interleaved(fits: dict, repeat: int, inner: int) -> dict:
    """Best ``(wall, cpu)`` seconds per fit of each callable, the callables taking turns in every
    repeat; ``cpu`` is the process's CPU time (all its threads), best of the repeats separately."""
    best = {name: [np.inf, np.inf] for name in fits}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn in fits.values():  # warm-up: imports, caches
            fn()
        for _ in range(repeat):
            for name, fn in fits.items():
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(inner):
                    fn()
                wall, cpu = (time.perf_counter() - w0) / inner, (time.process_time() - c0) / inner
                best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    return {name: tuple(v) for name, v in best.items()}


def time_lme4(df, formula, size: str, repeat: int, inner: int) -> tuple[float, float] | None:
    """Best ``(wall, cpu)`` seconds of lme4's fit (``cpu``: user + system), timed inside R."""
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
both <- function(s) c(s[["elapsed"]], s[["user.self"]] + s[["sys.self"]])
t0 <- both(system.time(f()))
ts <- if ({repeat} > 1) replicate({repeat} - 1, both(system.time(for (i in seq_len({inner})) f())) / {inner}) else matrix(t0)
cat(min(t0[1], ts[1, ]), min(t0[2], ts[2, ]), "\n")
"""
        out = subprocess.run([rscript, "-e", code], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    wall, cpu = out.stdout.strip().split()[-2:]
    return float(wall), float(cpu)


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
    parser.add_argument("--mixedlm-threads", type=int, default=None,
                        help="threads of mixedlm's Rust pool (RAYON_NUM_THREADS; default: its own choice, "
                             "which uses both cores on large problems)")
    args = parser.parse_args(argv)
    if args.mixedlm_threads is not None:  # read once, when mixedlm's pool starts
        os.environ["RAYON_NUM_THREADS"] = str(args.mixedlm_threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cpus, load average {load:.1f}; best of N; ratios are other / ours; "
          f"mixedlm threads: {args.mixedlm_threads or 'default'}; each cell CPU time (wall time)")
    print("| size | ours | mixedlm | lme4 | statsmodels | mixedlm/ours | lme4/ours | sm/ours | peak MiB (traced / RSS) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    r_ok = not args.no_r
    for size in args.sizes.split(","):
        df, formula, group, sm_fixed, sm_re = _case(size)
        n = len(df)
        repeat = args.repeat or (30 if n < 1000 else 7 if n <= 100_000 else 3)
        inner = 10 if n < 1000 else 1
        fits = python_fits(df, formula, group, sm_fixed, sm_re, statsmodels=n <= args.sm_max)
        t = time_interleaved(fits, repeat, inner)
        r = None
        if r_ok:
            t0 = time.perf_counter()
            r = time_lme4(df, formula, size, max(1, min(repeat, 5)) if n <= 100_000 else 1, inner)
            if r is None or r[0] > args.r_limit or time.perf_counter() - t0 > 3 * args.r_limit:
                r_ok = False  # larger sizes would take longer still
        t["lme4"] = r
        mem = {"traced_mib": np.nan, "maxrss_mib": np.nan} if args.no_memory else memory_ours(size)
        label = "sleepstudy" if size == "sleepstudy" else f"{n:,} rows / {n // ROWS_PER_GROUP:,} groups"
        print(f"| {label} | " + " | ".join(_both(t.get(k)) for k in ("ours", "mixedlm", "lme4", "statsmodels"))
              + " | " + " | ".join(_ratios(t.get(k), t["ours"]) for k in ("mixedlm", "lme4", "statsmodels"))
              + f" | {mem['traced_mib']:.0f} / {mem['maxrss_mib']:.0f} |", flush=True)


def _both(t) -> str:
    """``CPU (wall)`` of a ``(wall, cpu)`` pair."""
    return "n/a" if t is None else f"{_fmt(t[1])} ({_fmt(t[0])})"


def _ratios(other, ours) -> str:
    return "n/a" if other is None else f"{_ratio(other[1], ours[1])} ({_ratio(other[0], ours[0])})"

if __name__ == "__main__":
    main()
