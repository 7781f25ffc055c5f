"""Read the bundled CSV files with R's column types and verify them."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import DataError

__all__ = ["load", "list_datasets", "dataset_info", "checksum"]

_ALIASES = {"dat.konstantopoulos2011": "konstantopoulos2011", "dat.assink2016": "assink2016",
            "dat.bcg": "bcg", "dat.berkey1998": "berkey1998",
            "dat.hackshaw1998": "hackshaw1998", "dat.molloy2014": "molloy2014",
            "dat.ishak2007": "ishak2007", "dat.fine1993": "fine1993",
            "dat.lehmann2018": "lehmann2018"}


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("data/manifest.json").read_text(encoding="utf-8")
    entries = json.loads(text)
    # simulated datasets (written by tools/make_*.py, not by the R script) have their own manifest
    simulated = resources.files(__package__).joinpath("data/simulated.json")
    if simulated.is_file():
        entries.update(json.loads(simulated.read_text(encoding="utf-8")))
    return {k: v for k, v in entries.items() if not k.startswith("_")}


def list_datasets() -> list[str]:
    """Names of the bundled datasets, sorted."""
    return sorted(_manifest())


def dataset_info(name: str) -> dict[str, Any]:
    """Manifest entry of a dataset: source package and version, R column classes, checksum."""
    key = _ALIASES.get(name, name)
    try:
        return _manifest()[key]
    except KeyError:
        raise DataError(f"no bundled dataset named {name!r}; available: {', '.join(list_datasets())}") from None


@lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    info = dataset_info(name)
    cols = info["columns"]
    with resources.files(__package__).joinpath("data", info["file"]).open("rb") as fh:
        raw = pd.read_csv(fh, dtype=str, keep_default_na=False, na_values=[""],
                          compression="gzip" if info["file"].endswith(".gz") else None)
    out = {}
    for col, meta in cols.items():
        values = raw[col]
        cls = meta["class"]
        if cls in ("factor", "ordered"):
            out[col] = pd.Categorical(values, categories=meta["levels"], ordered=bool(meta.get("ordered")))
        elif cls == "integer":
            out[col] = pd.array(values.astype("float").round().astype("Int64") if values.isna().any()
                                else values.astype("int64"))
        elif cls == "numeric":
            out[col] = values.astype("float64")
        else:
            out[col] = values.astype(object)
    return pd.DataFrame(out)


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a new DataFrame.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (metadat names with the ``dat.`` prefix are accepted too).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import multilevel as ml
    >>> ml.datasets.load("konstantopoulos2011").shape
    (56, 6)
    """
    return _read(_ALIASES.get(name, name)).copy()


def _canonical(col: pd.Series, r_class: str) -> list[str]:
    if r_class in ("factor", "ordered") or r_class == "character":
        return ["NA" if pd.isna(v) else str(v) for v in col]
    if r_class in ("integer", "logical"):
        return ["NA" if pd.isna(v) else "%d" % int(v) for v in col]
    return ["NA" if np.isnan(v) else "%.17g" % v for v in col.to_numpy(dtype=float)]


def checksum(df: pd.DataFrame, name: str) -> str:
    """md5 of the canonical serialization that ``tools/fixtures/datasets.R`` hashes in R."""
    cols = dataset_info(name)["columns"]
    lines: list[str] = []
    for col, meta in cols.items():
        lines.append("#" + col)
        lines.extend(_canonical(df[col], meta["class"]))
    return hashlib.md5(("\n".join(lines) + "\n").encode("utf-8")).hexdigest()
