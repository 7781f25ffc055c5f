"""Simulate the bundled ``students`` dataset (run from the repository root).

The walkthrough in the documentation follows a teaching script whose data are
not public. This script simulates data with the same structure: 183 students
in three schools (Hillcrest 60, Oakwood 69, St Mary\u2019s 54), the average hours
each studied before the exams (``study_time``) and the average test score in
percent (``test_score``). Each school has its own intercept, slope and
residual standard deviation, chosen to resemble the per-school regressions of
that script (Hillcrest 38.6 + 1.11 x, Oakwood 21.1 + 2.09 x,
St Mary\u2019s 22.5 + 2.81 x, residual SD about 2.6-2.9).

The data are simulated: they carry no information about real schools.

Writes ``src/multilevel/datasets/data/students.csv`` and the entry
``students`` of ``src/multilevel/datasets/data/simulated.json`` (same format as
the R-generated ``manifest.json``, including the canonical checksum).

    python tools/make_students.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20250430
DATA_DIR = Path("src/multilevel/datasets/data")
SCHOOLS = {  # name: (n, intercept, slope, residual sd, mean study time, sd study time)
    "Hillcrest": (60, 38.6, 1.11, 2.8, 9.2, 3.1),
    "Oakwood": (69, 21.1, 2.09, 2.9, 8.7, 2.8),
    "St Mary\u2019s": (54, 22.5, 2.81, 2.6, 8.8, 3.0),
}


def simulate(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for school, (n, a, b, sd, mx, sx) in SCHOOLS.items():
        x = np.round(np.clip(rng.normal(mx, sx, n), 0.5, None), 1)
        y = np.round(np.clip(a + b * x + rng.normal(0.0, sd, n), 0.0, 100.0), 1)
        parts.append(pd.DataFrame({"school": school, "study_time": x, "test_score": y}))
    df = pd.concat(parts, ignore_index=True)
    df["school"] = pd.Categorical(df["school"], categories=list(SCHOOLS))
    return df


def canonical_md5(df: pd.DataFrame) -> str:
    """md5 of the serialization ``multilevel.datasets.checksum`` rebuilds."""
    lines = ["#school", *map(str, df["school"])]
    for col in ("study_time", "test_score"):
        lines += ["#" + col, *("%.17g" % v for v in df[col])]
    return hashlib.md5(("\n".join(lines) + "\n").encode("utf-8")).hexdigest()


def main() -> None:
    df = simulate()
    df.to_csv(DATA_DIR / "students.csv", index=False, encoding="utf-8")
    entry = {
        "file": "students.csv", "source": "simulated (tools/make_students.py)",
        "source_version": f"seed {SEED}", "nrow": len(df),
        "columns": {"school": {"class": "factor", "levels": list(SCHOOLS), "ordered": False},
                    "study_time": {"class": "numeric"}, "test_score": {"class": "numeric"}},
        "md5_canonical": canonical_md5(df),
    }
    path = DATA_DIR / "simulated.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    manifest["students"] = entry
    manifest["_generated_by"] = {"script": "tools/make_students.py"}
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(df)} rows to {DATA_DIR / 'students.csv'}")


if __name__ == "__main__":
    main()
