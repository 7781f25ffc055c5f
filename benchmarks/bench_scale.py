"""Benchmark: large crossed random effects (users x items) against lme4 and statsmodels.

Simulated ratings-like data (``_ratings.py``: Zipf-like user activity and item
popularity), ``y ~ x + (1 | user) + (1 | item)`` by REML. Run from the repository root::

    python benchmarks/bench_scale.py --shape 1M              # ours only
    python benchmarks/bench_scale.py --shape 100k --lme4 --statsmodels
    python benchmarks/bench_scale.py --rows 200000 --users 20000 --items 4000 --formulation dense
    python benchmarks/bench_scale.py --shape 100k --all --timeout 200 --json benchmarks/scale.json

Each fit runs in a fresh process (data generated there; generation is not timed). Reported:
wall-clock and CPU seconds of the fit (``ml.lmer`` on the DataFrame; the first call in the
process, which also imports the modules the fit needs: ``import multilevel`` and ``import
mixedlm`` load them lazily), ``warm_wall_s`` and ``warm_cpu_s`` (the best of ``--warm`` further
calls in the same process, as in a session that fits several models), optimizer evaluations,
the formulation chosen, the peak resident set size of the process (``ru_maxrss``), theta,
logLik and, for the matrix-free formulation, whether its final evaluation was exact (the dense
formulation at the fitted theta, where affordable) or else the standard errors of the log-determinant
and of logLik and the probes of the final evaluation (``--check-dense``: also the exact logLik at the same theta
from the dense formulation, and the difference). lme4
is timed inside R (``system.time`` around ``lmer``; reading the data is not timed; peak memory
is R's ``VmHWM``) with a time limit, as are mixedlm (``mixedlm.lmer``) and statsmodels'
``MixedLM`` (crossed effects as variance components of one all-rows group), which needs dense
``n x levels`` designs and is only attempted up to ``--sm-max-cells`` cells. A fit that does
not finish within ``--timeout`` seconds is recorded as ``{"timeout": true, "cap_s": ...}``.

``--repeats N`` runs each Python tool in ``N`` fresh processes and keeps the best time of each
kind (the machine may be shared: CPU times vary less than wall-clock times). The children get
a bytecode cache (``PYTHONPYCACHEPREFIX``, in the temporary directory) even where
``PYTHONDONTWRITEBYTECODE`` is set, and an untimed import fills it first: otherwise a pure-Python
package is recompiled at every start, while installed packages ship their bytecode.

``--json PATH`` adds the run to a JSON list in ``PATH`` (a run of the same size replaces the
earlier one), with the load average and the time; ``plot_scale.py`` draws the file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {"20k": (20_000, 2_000, 500), "100k": (100_000, 10_000, 2_000), "300k": (300_000, 20_000, 6_000),
          "1M-9k": (1_000_000, 50_000, 9_000), "1M": (1_000_000, 50_000, 12_000),
          "4M": (4_000_000, 150_000, 40_000), "ml25m": (25_000_000, 162_000, 59_000)}
FORMULA = "y ~ x + (1 | user) + (1 | item)"

_OURS = """
import json, resource, sys, time, warnings
sys.path.insert(0, {here!r})
from _ratings import ratings
import multilevel as ml
df = ratings({n}, {nu}, {ni})
times = []
for _ in range(1 + {warm}):
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer({formula!r}, df, REML=True, formulation={formulation!r})
    times.append((time.perf_counter() - t0, time.process_time() - c0))
(wall, cpu), warm = times[0], times[1:] or [(None, None)]
acc = getattr(fit._problem, "accuracy", None)
out = dict(wall_s=wall, cpu_s=cpu, warm_wall_s=min(w[0] for w in warm) if {warm} else None,
           warm_cpu_s=min(w[1] for w in warm) if {warm} else None,
           feval=fit.optinfo.feval, formulation=fit._problem.formulation,
           maxrss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
           theta=[float(t) for t in fit.theta], loglik=float(fit.loglik), sigma=float(fit.sigma),
           fixef=[float(b) for b in fit.fixef], logdet_se=None if acc is None else acc.standard_error,
           loglik_se=None if acc is None else acc.standard_error / 2, probes=None if acc is None else acc.probes,
           loglik_exact=None if acc is None else acc.exact)
if {check_dense!r} and fit._problem.formulation == "matrix-free":  # the exact criterion at the same theta
    from multilevel.lmm._pls import PLSProblem
    p = fit._problem
    c1 = time.process_time()
    exact = PLSProblem(p.X, p.y, p.terms).solve(fit.theta)
    out.update(loglik_dense_at_theta=-exact.deviance_reml / 2, dense_check_cpu_s=time.process_time() - c1,
               loglik_error=float(fit.loglik) + exact.deviance_reml / 2)
print(json.dumps(out))
"""

_R = """
suppressPackageStartupMessages({{ library(lme4); library(jsonlite) }})
d <- read.csv({path!r}); d$user <- factor(d$user); d$item <- factor(d$item)
tm <- system.time(m <- lmer(y ~ x + (1 | user) + (1 | item), data = d, REML = TRUE))
warm <- lapply(seq_len({warm}), function(i) system.time(lmer(y ~ x + (1 | user) + (1 | item), data = d, REML = TRUE)))
best <- function(f) if (length(warm)) min(sapply(warm, f)) else NULL
hwm <- grep("^VmHWM", readLines("/proc/self/status"), value = TRUE)
hwm <- if (length(hwm)) as.numeric(gsub("[^0-9]", "", hwm)) / 2^20 else NA
cat(toJSON(list(wall_s = unname(tm["elapsed"]), cpu_s = unname(tm["user.self"] + tm["sys.self"]),
                warm_wall_s = best(function(t) unname(t["elapsed"])),
                warm_cpu_s = best(function(t) unname(t["user.self"] + t["sys.self"])),
                theta = unname(getME(m, "theta")), loglik = as.numeric(logLik(m)), sigma = sigma(m),
                maxrss_gib = hwm), auto_unbox = TRUE, digits = NA), "\\n")
"""

_SM = """
import json, resource, sys, time, warnings
sys.path.insert(0, {here!r})
from _ratings import ratings
import statsmodels.formula.api as smf
df = ratings({n}, {nu}, {ni}); df["one"] = 1
t0, c0 = time.perf_counter(), time.process_time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = smf.mixedlm("y ~ x", df, groups="one", re_formula="0",
                    vc_formula={{"user": "0 + C(user)", "item": "0 + C(item)"}}).fit(reml=True)
print(json.dumps(dict(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0, loglik=float(m.llf),
                      maxrss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)))
"""

_MIXEDLM = """
import json, resource, sys, time, warnings
sys.path.insert(0, {here!r})
from _ratings import ratings
import mixedlm
df = ratings({n}, {nu}, {ni})
times = []
for _ in range(1 + {warm}):
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedlm.lmer({formula!r}, df, REML=True)
    times.append((time.perf_counter() - t0, time.process_time() - c0))
(wall, cpu), warm = times[0], times[1:]
print(json.dumps(dict(wall_s=wall, cpu_s=cpu, warm_wall_s=min(w[0] for w in warm) if warm else None,
                      warm_cpu_s=min(w[1] for w in warm) if warm else None,
                      loglik=float(m.logLik().value), sigma=float(m.sigma),
                      maxrss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)))
"""
TOOLS = ("ours", "lme4", "mixedlm", "statsmodels")


def _child_env():
    """The environment of the Python children: a bytecode cache outside the source tree, also where
    ``PYTHONDONTWRITEBYTECODE`` is set (see the module notes)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "multilevel-bench-pycache"))
    return env


def _run(cmd, timeout):
    """Run ``cmd`` in its own process group and parse the JSON on its last line; at ``timeout`` the
    whole group is killed (Rscript starts R as a child, which would otherwise keep running)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=_child_env())
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"no fit within {timeout:g} s", "timeout": True, "cap_s": float(timeout)}
    if proc.returncode != 0:
        return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(stdout.strip().splitlines()[-1])


def _best(runs):
    """The best of several runs of one tool: the first run's record with each time replaced by its
    minimum over the runs that finished (``runs`` counts them); the first failure if none did."""
    done = [r for r in runs if "wall_s" in r]
    if not done:
        return runs[0]
    out = dict(done[0], runs=len(done))
    for key in ("wall_s", "cpu_s", "warm_wall_s", "warm_cpu_s"):
        values = [r[key] for r in done if r.get(key) is not None]
        out[key] = min(values) if values else None
    return out


def _warm_cache(modules):
    """Import ``modules`` once in a child, untimed, so that the timed children find their bytecode."""
    code = "import importlib\nfor m in %r:\n    try:\n        importlib.import_module(m)\n" \
           "    except ImportError:\n        pass\n" % (list(modules),)
    subprocess.run([sys.executable, "-c", code], env=_child_env(), capture_output=True, check=False)


def ours(n, nu, ni, formulation="auto", timeout=3600, check_dense=False, warm=0, repeats=1):
    code = _OURS.format(here=HERE, n=n, nu=nu, ni=ni, formula=FORMULA, formulation=formulation,
                        check_dense=bool(check_dense), warm=int(warm))
    return _best([_run([sys.executable, "-c", code], timeout) for _ in range(max(1, repeats))])


def lme4(n, nu, ni, timeout, warm=0):
    if shutil.which("Rscript") is None:
        return {"error": "Rscript not found"}
    sys.path.insert(0, HERE)
    from _ratings import ratings

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ratings.csv")
        ratings(n, nu, ni).to_csv(path, index=False, float_format="%.17g")
        script = os.path.join(tmp, "fit.R")
        with open(script, "w") as fh:
            fh.write(_R.format(path=path, warm=int(warm)))
        return _run(["Rscript", script], timeout)


def mixedlm(n, nu, ni, timeout, warm=0, repeats=1):
    code = _MIXEDLM.format(here=HERE, n=n, nu=nu, ni=ni, formula=FORMULA, warm=int(warm))
    return _best([_run([sys.executable, "-c", code], timeout) for _ in range(max(1, repeats))])


def statsmodels(n, nu, ni, timeout, max_cells):
    if n * (nu + ni) > max_cells:
        return {"error": f"not attempted: dense {n} x {nu + ni} design", "not_attempted": True}
    return _run([sys.executable, "-c", _SM.format(here=HERE, n=n, nu=nu, ni=ni)], timeout)


def _arguments(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default=None)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--users", type=int)
    ap.add_argument("--items", type=int)
    ap.add_argument("--formulation", default="auto", choices=["auto", "dense", "matrix-free"])
    ap.add_argument("--lme4", action="store_true", help="also fit with lme4 (Rscript)")
    ap.add_argument("--mixedlm", action="store_true", help="also fit with mixedlm")
    ap.add_argument("--statsmodels", action="store_true", help="also fit with statsmodels MixedLM")
    ap.add_argument("--check-dense", action="store_true",
                    help="matrix-free fits: also the exact (dense) logLik at the fitted theta (up to 10,000 items)")
    ap.add_argument("--all", action="store_true", help="all of --lme4 --mixedlm --statsmodels")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds allowed to each other tool")
    ap.add_argument("--ours-timeout", type=float, default=3600.0, help="seconds allowed to ours")
    ap.add_argument("--sm-max-cells", type=float, default=2e8, help="largest n x levels design tried")
    ap.add_argument("--warm", type=int, default=0,
                    help="further fits in the same process after the first (ours and mixedlm; best reported)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="fresh processes per Python tool (ours and mixedlm; best of each time reported)")
    ap.add_argument("--json", metavar="PATH", help="add the run to the JSON list in PATH (for plot_scale.py)")
    return ap.parse_args(argv)


def _save(path, record):
    """Add ``record`` to the JSON list in ``path``, replacing a run of the same size."""
    runs = []
    if os.path.exists(path):
        with open(path) as fh:
            runs = json.load(fh)
    size = tuple(record[k] for k in ("rows", "users", "items"))
    runs = [r for r in runs if tuple(r[k] for k in ("rows", "users", "items")) != size] + [record]
    runs.sort(key=lambda r: (r["rows"], r["items"]))
    with open(path, "w") as fh:
        json.dump(runs, fh, indent=1)
        fh.write("\n")


def main(argv=None):
    args = _arguments(argv)
    n, nu, ni = SHAPES[args.shape] if args.shape else (args.rows, args.users, args.items)
    out = {"rows": n, "users": nu, "items": ni, "formula": FORMULA, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
           time.gmtime()), "loadavg_start": os.getloadavg()[0], "cap_s": args.timeout}
    _warm_cache(["multilevel.lmm", "mixedlm", "statsmodels.formula.api"])
    out["ours"] = ours(n, nu, ni, args.formulation, args.ours_timeout, check_dense=args.check_dense,
                       warm=args.warm, repeats=args.repeats)
    if args.lme4 or args.all:
        out["lme4"] = lme4(n, nu, ni, args.timeout, warm=args.warm)
    if args.mixedlm or args.all:
        out["mixedlm"] = mixedlm(n, nu, ni, args.timeout, warm=args.warm, repeats=args.repeats)
    if args.statsmodels or args.all:
        out["statsmodels"] = statsmodels(n, nu, ni, args.timeout, args.sm_max_cells)
    out["loadavg_end"] = os.getloadavg()[0]
    for other in TOOLS[1:]:
        if "wall_s" in out.get(other, {}) and "wall_s" in out["ours"]:
            out[f"ratio_{other}"] = out[other]["wall_s"] / out["ours"]["wall_s"]
            out[f"cpu_ratio_{other}"] = out[other]["cpu_s"] / out["ours"]["cpu_s"]
            if out[other].get("warm_cpu_s") and out["ours"].get("warm_cpu_s"):
                out[f"warm_ratio_{other}"] = out[other]["warm_wall_s"] / out["ours"]["warm_wall_s"]
                out[f"warm_cpu_ratio_{other}"] = out[other]["warm_cpu_s"] / out["ours"]["warm_cpu_s"]
            out[f"loglik_diff_{other}"] = out["ours"]["loglik"] - out[other]["loglik"]
    print(json.dumps(out, indent=1))
    if args.json:
        _save(args.json, out)


if __name__ == "__main__":
    main()
