"""The sparse formulation of ``ml.lmer`` against the dense and matrix-free ones and lme4, on
students x teachers within schools (``_nested_crossed.py``: 5 students per teacher, 4 rows per
student, schools of 20 teachers, districts of 10 schools, 10% of rows with a teacher of another
school of the district).

For each number of teachers: set-up, one evaluation of the REML criterion (at theta = (0.6, 0.4),
best of ``--repeats``) and the whole fit of ``y ~ x + (1 | student) + (1 | teacher)`` per
formulation, wall and CPU time (evaluations with one BLAS thread, as fits of large problems
run; the machine may be loaded by other work: CPU time is the fairer measure), and lme4's fit
(timed inside R, CPU time from ``proc.time``) where ``--r-max`` allows.
The dense formulation is run up to ``--dense-max`` teachers (its evaluation grows as teachers^3).
Prints a table and writes JSON (``--out``)::

    python benchmarks/bench_sparse.py --sizes 2000,5000,10000,20000,50000 --out sparse.json
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _nested_crossed import students_teachers  # noqa: E402

import multilevel as ml  # noqa: E402
from multilevel.lmm._blas import blas_threads  # noqa: E402
from multilevel.lmm._formulation import choose_formulation, make_problem  # noqa: E402
from multilevel.lmm._pls import TermStructure  # noqa: E402

FORMULA = "y ~ x + (1 | student) + (1 | teacher)"
SLOPES = "y ~ x + (1 | student) + (x | teacher)"


def _clock(fn):
    """``(result, wall seconds, CPU seconds)`` of one call."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def _terms(df, slopes=False):
    n = len(df)
    one = np.ones((n, 1))
    z = np.column_stack([one, df["x"]]) if slopes else one
    return (np.column_stack([one, df["x"]]), df["y"].to_numpy(),
            [TermStructure(df["student"].to_numpy().astype(np.intp), one, int(df["student"].max()) + 1),
             TermStructure(df["teacher"].to_numpy().astype(np.intp), z, int(df["teacher"].max()) + 1)])


def evaluation(df, formulation, repeats, slopes=False):
    """Set-up and best-of-``repeats`` evaluation, each ``(wall, cpu)``, and the criterion."""
    X, y, terms = _terms(df, slopes)
    problem, sw, sc = _clock(lambda: make_problem(X, y, terms, formulation, max_dense=10**9))
    theta = np.array([0.6, 0.4, 0.05, 0.15]) if slopes else np.array([0.6, 0.4])
    with blas_threads(1):  # as a fit of a large problem runs its evaluations
        value = problem.deviance(theta, True)  # the first evaluation makes the per-thread workspaces
        best = min(_clock(lambda: problem.deviance(theta, True))[1:] for _ in range(repeats))
    return {"setup": [sw, sc], "evaluation": list(best), "criterion": value}


def fit(df, formulation, formula=FORMULA):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, w, c = _clock(lambda: ml.lmer(formula, df, formulation=formulation))
    return {"fit": [w, c], "fit_criterion": -2.0 * m.loglik, "theta": m.theta.tolist(), "feval": m.optinfo.feval}


R_FIT = r"""
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
a <- commandArgs(TRUE)
d <- read.csv(a[1]); d$student <- factor(d$student); d$teacher <- factor(d$teacher)
f <- as.formula(a[2])
best <- NULL
for (i in seq_len(as.integer(a[3]))) {
  t0 <- proc.time(); m <- lmer(f, data = d); t1 <- proc.time() - t0
  cur <- c(wall = t1[["elapsed"]], cpu = t1[["user.self"]] + t1[["sys.self"]])
  if (is.null(best) || cur[["wall"]] < best[["wall"]]) best <- cur
}
cat(toJSON(list(fit = unname(best), fit_criterion = REMLcrit(m), theta = getME(m, "theta"),
                version = as.character(packageVersion("lme4"))), auto_unbox = TRUE, digits = NA))
"""


def lme4_fit(df, repeats, formula=FORMULA):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        df.to_csv(path, index=False, float_format="%.17g")
        out = subprocess.run(["Rscript", "-e", R_FIT, str(path), formula, str(repeats)], capture_output=True,
                             text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(size, args):
    df = students_teachers(size)
    X, y, terms = _terms(df)
    row = {"teachers": size, "rows": len(df), "students": int(df["student"].max()) + 1,
           "auto": choose_formulation(terms, 2)}
    forms = ["sparse", "matrix-free"] + (["dense"] if size <= args.dense_max else [])
    for form in forms:
        row[form] = evaluation(df, form, args.repeats)
        if form != "dense" or size <= args.dense_fit_max:
            row[form].update(fit(df, form))
    if size <= args.slopes_max:
        row["sparse slopes"] = evaluation(df, "sparse", args.repeats, slopes=True)
        row["sparse slopes"].update(fit(df, "sparse", SLOPES))
    if size <= args.r_max:
        row["lme4"] = lme4_fit(df, args.r_repeats)
        if size <= args.slopes_max:
            row["lme4 slopes"] = lme4_fit(df, args.r_repeats, SLOPES)
    return row


def _ms(pair):
    return f"{1e3 * pair[0]:9.1f} / {1e3 * pair[1]:9.1f}"


def report(row):
    print(f"\n{row['teachers']} teachers, {row['students']} students, {row['rows']} rows; auto: {row['auto']}")
    print(f"  {'':16s} {'setup ms (wall/cpu)':>22s} {'evaluation ms':>22s} {'fit ms':>22s}  fitted criterion")
    for form in ("sparse", "dense", "matrix-free", "sparse slopes"):
        if form in row:
            r = row[form]
            f = _ms(r["fit"]) if "fit" in r else " " * 21
            print(f"  {form:16s} {_ms(r['setup'])} {_ms(r['evaluation'])} {f}  {r.get('fit_criterion', np.nan):.6f}")
    for key, form in (("lme4", "sparse"), ("lme4 slopes", "sparse slopes")):
        if key in row:
            r = row[key]
            print(f"  {key:16s} {'':44s} {_ms(r['fit'])}  {r['fit_criterion']:.6f}   lme4 {r['version']}")
            if "fit" in row[form]:
                print(f"    ratio lme4 / {form}: wall {r['fit'][0] / row[form]['fit'][0]:.1f}x, "
                      f"CPU {r['fit'][1] / row[form]['fit'][1]:.1f}x")
    if "dense" in row:
        ratio = row["dense"]["evaluation"][1] / row["sparse"]["evaluation"][1]
        print(f"  dense / sparse evaluation (CPU): {ratio:.1f}x")
    print(f"  matrix-free / sparse evaluation (CPU): "
          f"{row['matrix-free']['evaluation'][1] / row['sparse']['evaluation'][1]:.1f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000,5000,10000,20000,50000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dense-max", type=int, default=5000)
    ap.add_argument("--dense-fit-max", type=int, default=2000)
    ap.add_argument("--slopes-max", type=int, default=20000)
    ap.add_argument("--r-max", type=int, default=10000)
    ap.add_argument("--r-repeats", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(run(size, args))
        report(rows[-1])
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
