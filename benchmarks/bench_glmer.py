"""Benchmark: multilevel.glmer against lme4's glmer (Rscript).

Run from the repository root::

    python benchmarks/bench_glmer.py              # all cases
    python benchmarks/bench_glmer.py --only cbpp --repeat 20

Every number is the best of ``--repeat`` runs. Our time includes formula
processing (``ml.glmer(formula, data, family)`` on a loaded DataFrame). lme4 is
timed inside R (``system.time`` around ``glmer()``, R start-up and data loading
excluded). The simulated datasets are the test fixtures' (``tests/fixtures/glmm``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import warnings

from _timing import best_of

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "glmm"

CASES = {
    "cbpp": dict(fixture="cbpp_cbind", repeat=20),
    "cbpp_agq9": dict(fixture="cbpp_cbind_agq9", repeat=20),
    "poisson_offset": dict(fixture="poisson_offset", repeat=20),
    "logistic_slope": dict(fixture="logistic_slope", repeat=5),
    "crossed_binomial": dict(fixture="crossed_binomial", repeat=3),
}


def _case(name: str) -> dict:
    return json.loads((FIXTURES / f"glmer_{CASES[name]['fixture']}.json").read_text())


def _data(ref: dict):
    import pandas as pd

    import multilevel as ml

    if "data_table" in ref:
        table = ref["data_table"]
        df = pd.DataFrame({k: table["columns"][k] for k in table["names"]})
        levels = table["levels"]
    elif ref.get("data_csv"):
        df = pd.read_csv(FIXTURES / ref["data_csv"])
        levels = ref["data_levels"]
    else:
        return ml.datasets.load(ref["data"])
    for col, lv in levels.items():
        df[col] = pd.Categorical(df[col], categories=lv)
    return df


def time_ours(name: str, repeat: int) -> float:
    import multilevel as ml

    ref = _case(name)
    df = _data(ref)

    def fit():
        return ml.glmer(ref["formula"], df, ref["family"], weights=ref.get("weights"), nAGQ=ref["nAGQ"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return best_of(fit, repeat, warmup=True)


def time_lme4(name: str, repeat: int) -> float | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    ref = _case(name)
    if ref["data"] == "cbpp":
        load = "d <- lme4::cbpp"
    elif ref.get("data_csv"):
        factors = ", ".join(f"{k} = 'factor'" for k in ref["data_levels"])
        load = f"d <- read.csv('{FIXTURES / ref['data_csv']}', colClasses = c({factors}))"
    else:
        load = (f"t <- jsonlite::fromJSON('{FIXTURES / ('glmer_' + CASES[name]['fixture'] + '.json')}')$data_table; "
                "d <- as.data.frame(t$columns); for (k in names(t$levels)) d[[k]] <- factor(d[[k]], t$levels[[k]])")
    weights = f", weights = {ref['weights']}" if ref.get("weights") else ""
    code = f"""
suppressMessages(library(lme4))
{load}
f <- function() suppressMessages(glmer({ref['formula']}, data = d, family = {ref['family']}, nAGQ = {ref['nAGQ']}{weights}))
invisible(f())
ts <- replicate({repeat}, system.time(f())[["elapsed"]])
cat(min(ts), "\\n")
"""
    out = subprocess.run([rscript, "-e", code], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return float(out.stdout.strip().split()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(CASES))
    parser.add_argument("--repeat", type=int)
    args = parser.parse_args(argv)
    print(f"{'case':<18} {'ours ms':>10} {'lme4 ms':>10} {'ratio':>7}")
    for name in ([args.only] if args.only else CASES):
        repeat = args.repeat or CASES[name]["repeat"]
        ours, theirs = time_ours(name, repeat), time_lme4(name, repeat)
        ratio = f"{theirs / ours:6.2f}x" if theirs else "    n/a"
        print(f"{name:<18} {ours * 1e3:10.1f} {(theirs or float('nan')) * 1e3:10.1f} {ratio}", flush=True)


if __name__ == "__main__":
    main()
