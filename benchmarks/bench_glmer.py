"""Benchmark: multilevel.glmer against lme4's glmer (Rscript), on the same data.

Run from the repository root::

    python benchmarks/bench_glmer.py                       # all cases
    python benchmarks/bench_glmer.py --only crossed_binomial slope_100k
    python benchmarks/bench_glmer.py --repeat 5 --r-repeat 3

Each case's data is written to a temporary CSV that R reads (factor levels in the
same order), so both sides fit the same numbers. Our time is ``ml.glmer(formula,
data, family)`` on a loaded DataFrame (formula processing included); lme4 is timed
inside R (``system.time`` around ``glmer()``, R start-up and data loading excluded).
Both are the best of several repeats, as wall-clock time and as CPU time of the
process (user + system): on a machine shared with other jobs the CPU times are
the steadier comparison. The script also prints both fits' log-likelihoods.

Cases: the test fixtures (``tests/fixtures/glmm``: cbpp with Laplace and nAGQ = 9,
a Poisson model with an offset, a 1,000-row random-slope logistic model, a 6,000-row
binomial with 120 x 60 crossed random effects) and ``slope_100k``, a simulated
100,000-row random-slope logistic model ``y ~ x + (x | g)`` with 1,000 groups.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "glmm"

CASES = {  # name: fixture (or None: simulated), our repeats, R's repeats
    "cbpp": ("cbpp_cbind", 20, 20),
    "cbpp_agq9": ("cbpp_cbind_agq9", 20, 20),
    "poisson_offset": ("poisson_offset", 20, 20),
    "logistic_slope": ("logistic_slope", 10, 5),
    "crossed_binomial": ("crossed_binomial", 5, 3),
    "slope_100k": (None, 3, 1),
}


def simulate_slope_100k(n: int = 100_000, groups: int = 1_000, seed: int = 20240611):
    """``y ~ x + (x | g)``: intercept -0.5, slope 1, random intercept sd 1, slope sd 0.5, correlation 0.3."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = rng.integers(groups, size=n)
    x = np.round(rng.standard_normal(n), 4)
    b0 = rng.standard_normal(groups)
    b1 = 0.5 * (0.3 * b0 + np.sqrt(1 - 0.09) * rng.standard_normal(groups))
    eta = -0.5 + x + b0[g] + b1[g] * x
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    levels = [f"g{i:04d}" for i in range(groups)]
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical.from_codes(g, categories=levels)})


def load_case(name: str):
    """``(spec, data)``: spec has formula, family, weights, nAGQ; data a pandas DataFrame."""
    import pandas as pd

    import multilevel as ml

    fixture = CASES[name][0]
    if fixture is None:
        return dict(formula="y ~ x + (x | g)", family="binomial", weights=None, nAGQ=1), simulate_slope_100k()
    ref = json.loads((FIXTURES / f"glmer_{fixture}.json").read_text())
    spec = dict(formula=ref["formula"], family=ref["family"], weights=ref.get("weights"), nAGQ=ref["nAGQ"])
    if "data_table" in ref:
        table = ref["data_table"]
        df = pd.DataFrame({k: table["columns"][k] for k in table["names"]})
        levels = table["levels"]
    elif ref.get("data_csv"):
        df = pd.read_csv(FIXTURES / ref["data_csv"])
        levels = ref["data_levels"]
    else:
        return spec, ml.datasets.load(ref["data"])
    for col, lv in levels.items():
        df[col] = pd.Categorical(df[col], categories=lv)
    return spec, df


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall-clock and best CPU seconds over ``repeat`` calls (after one warm-up call)."""
    out = fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return min(wall), min(cpu), out


def time_ours(spec, df, repeat: int):
    import multilevel as ml

    def fit():
        return ml.glmer(spec["formula"], df, spec["family"], weights=spec["weights"], nAGQ=spec["nAGQ"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu, res = _best(fit, repeat)
    return wall, cpu, res.loglik


def _r_data(df, path: pathlib.Path) -> str:
    """Write ``df`` to ``path``; R code reading it back with the same factor levels."""
    df.to_csv(path, index=False)
    lines = [f"d <- read.csv('{path}')"]
    for col in df.columns:
        if str(df[col].dtype) == "category":
            levels = ", ".join(json.dumps(str(v)) for v in df[col].cat.categories)
            lines.append(f"d[['{col}']] <- factor(as.character(d[['{col}']]), levels = c({levels}))")
    return "\n".join(lines)


def time_lme4(spec, df, repeat: int):
    rscript = shutil.which("Rscript")
    if rscript is None or repeat <= 0:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        load = _r_data(df, pathlib.Path(tmp) / "data.csv")
        weights = f", weights = {spec['weights']}" if spec["weights"] else ""
        code = f"""
suppressMessages(library(lme4))
{load}
f <- function() suppressWarnings(suppressMessages(glmer({spec['formula']}, data = d, family = {spec['family']},
                                       nAGQ = {spec['nAGQ']}{weights})))
m <- f()
ts <- replicate({repeat}, {{ t <- system.time(m <<- f()); c(t[["elapsed"]], t[["user.self"]] + t[["sys.self"]]) }})
cat("RESULT", min(ts[1, ]), min(ts[2, ]), format(as.numeric(logLik(m)), digits = 15), "\\n")
"""
        script = pathlib.Path(tmp) / "fit.R"  # a file: Rscript -e takes at most 10,000 characters
        script.write_text(code)
        out = subprocess.run([rscript, str(script)], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    wall, cpu, loglik = (float(v) for v in line.split()[1:4])
    return wall, cpu, loglik


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(CASES))
    parser.add_argument("--repeat", type=int, help="our repeats (default per case)")
    parser.add_argument("--r-repeat", type=int, help="lme4's repeats (default per case; 0 skips R)")
    args = parser.parse_args(argv)
    print(f"{'case':<17} {'ours ms':>9} {'lme4 ms':>9} {'ratio':>6} | {'ours cpu':>9} {'lme4 cpu':>9} {'ratio':>6}"
          f" | {'logLik ours':>14} {'logLik lme4':>14}")
    for name in args.only or CASES:
        spec, df = load_case(name)
        ours = time_ours(spec, df, args.repeat or CASES[name][1])
        theirs = time_lme4(spec, df, CASES[name][2] if args.r_repeat is None else args.r_repeat)
        theirs = theirs or (np.nan, np.nan, np.nan)
        print(f"{name:<17} {ours[0] * 1e3:9.1f} {theirs[0] * 1e3:9.1f} {theirs[0] / ours[0]:5.1f}x"
              f" | {ours[1] * 1e3:9.1f} {theirs[1] * 1e3:9.1f} {theirs[1] / ours[1]:5.1f}x"
              f" | {ours[2]:14.6f} {theirs[2]:14.6f}", flush=True)


if __name__ == "__main__":
    main()
