"""Benchmark: multilevel.lmer against lme4 (Rscript) and statsmodels MixedLM.

Run from the repository root::

    python benchmarks/bench_lmer.py              # all cases
    python benchmarks/bench_lmer.py --only sleepstudy --repeat 30

Every number is the best of ``--repeat`` runs. Our time includes formula
processing (``ml.lmer(formula, data)`` on a loaded DataFrame). lme4 is timed
inside R (``system.time`` around ``lmer()``, R start-up and data loading
excluded). statsmodels is timed where it can fit the model. Peak memory of our
fit is measured in a fresh process: ``tracemalloc`` peak (Python and NumPy
allocations during the fit) and the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import warnings

from _timing import best_of

CASES = {
    "sleepstudy": dict(data="sleepstudy", formula="Reaction ~ Days + (Days | Subject)", REML=True,
                       sm=dict(formula="Reaction ~ Days", groups="Subject", re_formula="~Days"), repeat=30),
    "penicillin": dict(data="Penicillin", formula="diameter ~ 1 + (1 | plate) + (1 | sample)", REML=True,
                       sm=dict(formula="diameter ~ 1", groups=None,  # crossed: one group, variance components
                               vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"}), repeat=30),
    # statsmodels would need dense 73,421 x 4,100 designs for the crossed factors: not attempted
    "insteval": dict(data="InstEval", formula="y ~ 1 + service * dept + (1 | s) + (1 | d)", REML=False,
                     sm=None, repeat=5),
}


def time_ours(case: dict, repeat: int) -> float:
    import multilevel as ml

    df = ml.datasets.load(case["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml.lmer(case["formula"], df, REML=case["REML"])  # warm-up (imports, caches)
        return best_of(lambda: ml.lmer(case["formula"], df, REML=case["REML"]), repeat)


def memory_ours(name: str) -> dict:
    """Peak memory of one fit, in a fresh process."""
    code = f"""
import json, resource, tracemalloc, warnings
import multilevel as ml
case = {CASES[name]!r}
df = ml.datasets.load(case["data"])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ml.lmer(case["formula"], df, REML=case["REML"])
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({{"tracemalloc_peak_mib": peak / 2**20,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "maxrss_before_fit_mib": base / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_statsmodels(case: dict, repeat: int) -> float | None:
    if case["sm"] is None:
        return None
    try:
        import statsmodels.formula.api as smf
    except ImportError:
        return None
    import multilevel as ml

    df = ml.datasets.load(case["data"])
    sm = case["sm"]

    groups = df[sm["groups"]] if sm["groups"] else [1] * len(df)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            smf.mixedlm(sm["formula"], df, groups=groups, re_formula=sm.get("re_formula"),
                        vc_formula=sm.get("vc_formula")).fit(reml=case["REML"])

    fit()
    return best_of(fit, repeat)


def time_lme4(case: dict, repeat: int) -> float | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    inner = 20 if case["data"] != "InstEval" else 1
    code = f"""
suppressMessages(library(lme4))
d <- lme4::{case['data']}
f <- function() suppressMessages(lmer({case['formula']}, data = d, REML = {str(case['REML']).upper()}))
invisible(f())
ts <- replicate({repeat}, system.time(for (i in seq_len({inner})) f())[["elapsed"]] / {inner})
cat(min(ts), "\\n")
"""
    out = subprocess.run([rscript, "-e", code], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return float(out.stdout.strip().split()[-1])


def _fmt(t: float | None) -> str:
    if t is None:
        return "      n/a"
    return f"{t * 1000:9.1f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases: " + ", ".join(CASES))
    parser.add_argument("--repeat", type=int, default=None, help="runs per timing (default per case)")
    parser.add_argument("--no-r", action="store_true", help="skip lme4")
    parser.add_argument("--no-statsmodels", action="store_true", help="skip statsmodels")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="set OPENBLAS_NUM_THREADS for our fits (must come before NumPy is loaded)")
    args = parser.parse_args(argv)
    if args.blas_threads is not None:
        if "numpy" in sys.modules:
            parser.error("--blas-threads must be set before NumPy is imported")
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cpus, load average {load:.1f}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}; times in ms, best of N")
    print(f"{'case':12s} {'ours':>9s} {'lme4':>9s} {'statsm.':>9s} {'lme4/ours':>10s} {'sm/ours':>8s} "
          f"{'peak MiB':>9s} {'maxRSS MiB':>10s}")
    for name in args.only.split(","):
        case = CASES[name]
        n = args.repeat or case["repeat"]
        ours = time_ours(case, n)
        r = None if args.no_r else time_lme4(case, max(2, min(n, 10)))
        sm = None if args.no_statsmodels else time_statsmodels(case, max(2, min(n, 10)))
        mem = memory_ours(name)
        ratio_r = f"{r / ours:10.1f}" if r else "       n/a"
        ratio_sm = f"{sm / ours:8.1f}" if sm else "     n/a"
        print(f"{name:12s} {_fmt(ours)} {_fmt(r)} {_fmt(sm)} {ratio_r} {ratio_sm} "
              f"{mem['tracemalloc_peak_mib']:9.1f} {mem['maxrss_mib']:10.1f}")


if __name__ == "__main__":
    main()
