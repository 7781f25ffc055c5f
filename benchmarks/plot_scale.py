"""Plot and tabulate the runs of ``bench_scale.py`` (time and peak memory against the number of rows).

Reads the JSON list written by ``bench_scale.py --json PATH`` (one record per size) and draws two
log-log panels: the fit's time against the rows for each tool (ours, lme4, mixedlm, statsmodels;
wall-clock seconds as solid lines, CPU seconds dashed, a fit stopped at the time limit as an
upward triangle at the cap), and the peak resident memory of each tool's process. It prints the
Markdown table of ``benchmarks/README.md``. Run from the repository root::

    python benchmarks/plot_scale.py                                   # benchmarks/scale.json -> scale.png
    python benchmarks/plot_scale.py runs.json --out scale.png --time cpu
"""

from __future__ import annotations

import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = {"ours": ("multilevel (ours)", "C0", "o"), "lme4": ("lme4 (R)", "C1", "s"),
         "mixedlm": ("mixedlm", "C2", "D"), "statsmodels": ("statsmodels MixedLM", "C3", "v")}


def load(paths) -> list[dict]:
    """The runs of all files, sorted by rows (a later file's run of the same size wins)."""
    runs = {}
    for path in paths:
        with open(path) as fh:
            for run in json.load(fh):
                runs[(run["rows"], run["users"], run["items"])] = run
    return [runs[k] for k in sorted(runs)]


def _series(runs, tool, key):
    """``(rows, values)`` of the finished fits and ``(rows, caps)`` of the timed-out ones."""
    done, capped = ([], []), ([], [])
    for run in runs:
        res = run.get(tool)
        if not res:
            continue
        if res.get(key) is not None:
            done[0].append(run["rows"])
            done[1].append(res[key])
        elif res.get("timeout"):
            capped[0].append(run["rows"])
            capped[1].append(res["cap_s"])
    return done, capped


def plot(runs, out: str, time_key: str = "both") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5.6))
    keys = ["wall_s", "cpu_s"] if time_key == "both" else [f"{time_key}_s"]
    for tool, (label, color, marker) in TOOLS.items():
        for key in keys:
            (x, y), (xc, yc) = _series(runs, tool, key)
            dashed = key == "cpu_s" and len(keys) == 2
            if x:
                ax_t.plot(x, y, color=color, marker=marker, ls="--" if dashed else "-",
                          mfc="none" if dashed else color, label=f"{label}, {'CPU' if key == 'cpu_s' else 'wall'}")
            if xc and key == "wall_s" or (xc and len(keys) == 1):
                ax_t.plot(xc, yc, ls="none", marker="^", ms=11, color=color, mfc="none", mew=2,
                          label=f"{label}: no fit within the cap")
        (x, y), _ = _series(runs, tool, "maxrss_gib")
        if x:
            ax_m.plot(x, y, color=color, marker=marker, label=label)
    caps = sorted({run["cap_s"] for run in runs if "cap_s" in run})
    for cap in caps:
        ax_t.axhline(cap, color="0.6", lw=0.8, ls=":")
    for ax in (ax_t, ax_m):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("rows (users x items crossed; see the table for the levels)")
        ax.grid(True, which="both", alpha=0.25)
    ax_t.set_ylabel("seconds per fit")
    ax_t.set_title("y ~ x + (1 | user) + (1 | item), REML: time")
    ax_m.set_ylabel("peak resident memory of the process (GiB)")
    ax_m.set_title("peak memory")
    ax_m.legend(fontsize=8, loc="upper left")
    handles, labels = ax_t.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    loads = [v for run in runs for v in (run.get("loadavg_start"), run.get("loadavg_end")) if v is not None]
    if loads:
        fig.suptitle(f"2-core machine, 1-minute load average {min(loads):.0f}-{max(loads):.0f} during the runs "
                     "(wall times inflated; CPU times comparable)", fontsize=9)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(out, dpi=120)


def _count(k: int) -> str:
    if k < 1000:
        return str(k)
    return f"{k // 1_000_000}M" if k >= 1_000_000 and k % 1_000_000 == 0 else f"{k / 1000:g}k"


def _cell(res) -> str:
    if not res:
        return "not run"
    if res.get("wall_s") is not None:
        cpu = f" ({res['cpu_s']:.1f} s CPU)" if res.get("cpu_s") is not None else ""
        return f"{res['wall_s']:.1f} s{cpu}"
    if res.get("timeout"):
        return f"no fit within {res['cap_s']:g} s"
    return res.get("error", "failed")


def _memory(run) -> str:
    parts = [f"{tool} {run[tool]['maxrss_gib']:.2f}" for tool in TOOLS
             if isinstance(run.get(tool), dict) and run[tool].get("maxrss_gib") is not None]
    return " / ".join(parts) + " GiB" if parts else ""


def table(runs) -> str:
    """The Markdown table: size | ours | lme4 | mixedlm | statsmodels | peak memory."""
    lines = ["| size (rows / users / items) | ours | lme4 | mixedlm | statsmodels | peak memory (RSS) |",
             "|---|---|---|---|---|---|"]
    for run in runs:
        ours = run.get("ours", {})
        size = f"{_count(run['rows'])} / {_count(run['users'])} / {_count(run['items'])}"
        if ours.get("formulation"):
            size += f" ({ours['formulation']})"
        cells = [_cell(run.get(tool)) for tool in TOOLS]
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {_memory(run)} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=[os.path.join(HERE, "scale.json")])
    ap.add_argument("--out", default=os.path.join(HERE, "scale.png"))
    ap.add_argument("--time", choices=["both", "wall", "cpu"], default="both")
    args = ap.parse_args(argv)
    runs = load(args.paths)
    plot(runs, args.out, args.time)
    print(table(runs))


if __name__ == "__main__":
    main()
