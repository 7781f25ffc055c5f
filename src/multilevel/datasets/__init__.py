"""Reference datasets, identical to R's copies (lme4, metadat) and checksummed.

One dataset is simulated rather than copied from R: ``students`` (183 students in
three schools, study time and test score), made by ``tools/make_students.py`` with
a fixed seed for the hierarchical-modeling walkthrough; it describes no real schools.

Each loader returns a fresh :class:`pandas.DataFrame`. R factors become
:class:`pandas.Categorical` columns with R's level order (so the first level
is the reference level of treatment contrasts, as in R); R integers become
``int64``; R numerics ``float64``.

Examples
--------
>>> import multilevel as ml
>>> df = ml.datasets.load("sleepstudy")
>>> df.shape
(180, 3)
>>> list(df["Subject"].cat.categories[:3])
['308', '309', '310']
>>> ml.datasets.list_datasets()[:3]
['Dyestuff', 'Dyestuff2', 'InstEval']
>>> "sleepstudy" in dir(ml.datasets)
True
>>> ml.datasets.sleepstudy().shape
(180, 3)
"""

from __future__ import annotations

from ._loader import (
    checksum,
    dataset_info,
    list_datasets,
    load,
)

__all__ = ["load", "list_datasets", "dataset_info", "checksum"]


def __getattr__(name: str):
    """Allow ``ml.datasets.sleepstudy()`` as a shortcut for ``load("sleepstudy")``."""
    if name in list_datasets():
        return lambda: load(name)
    raise AttributeError(f"module 'multilevel.datasets' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The loaders and every bundled dataset's name, so that tab completion lists the datasets."""
    return sorted([*__all__, *list_datasets()])
