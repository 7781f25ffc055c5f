"""Simulated ratings-like data: two large crossed factors (users x items) with Zipf-like activity.

Product analytics and recommender data have a few very active users and a few very
popular items, and long tails of both. :func:`ratings` draws ``n`` rows whose user
has probability proportional to ``(rank + shift) ** -user_exponent`` and whose item
(independently) ``(rank + shift) ** -item_exponent``; every user and every item
occurs at least once (the first ``num_users`` rows have each user once, the first
``num_items`` rows each item once). The response is

.. math::

    y = 3 + 0.4 x + u_{user} + v_{item} + \\varepsilon,\\quad
    u \\sim N(0, 0.5^2),\\ v \\sim N(0, 0.8^2),\\ \\varepsilon \\sim N(0, 1),

with ``x`` standard normal. The generator is deterministic for a given ``seed`` (NumPy's
PCG64) and uses only NumPy, so tests can regenerate the same data.

Run as a script to write a Parquet or CSV file::

    python benchmarks/_ratings.py 1000000 50000 12000 out.parquet
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["ratings", "zipf_probabilities", "write_fixture", "SHAPES"]

# the sizes of the benchmark (rows, users, items)
SHAPES = {
    "1M": (1_000_000, 50_000, 12_000),
    "1M-9k": (1_000_000, 50_000, 9_000),
    "4M": (4_000_000, 150_000, 40_000),
    "ml25m": (25_000_000, 162_000, 59_000),
}


def zipf_probabilities(num: int, exponent: float, shift: float = 1.0) -> np.ndarray:
    """``p_k`` proportional to ``(k + shift) ** -exponent`` for ranks ``k = 0 .. num - 1``."""
    w = (np.arange(num) + shift) ** -float(exponent)
    return w / w.sum()


def _codes(rng, n: int, num: int, exponent: float, shift: float) -> np.ndarray:
    """Level codes of ``n`` rows: each level once, the rest drawn from the Zipf probabilities
    (levels relabelled at random so that popularity is not the code order)."""
    p = zipf_probabilities(num, exponent, shift)
    drawn = np.searchsorted(np.cumsum(p), rng.random(n - num), side="right").clip(0, num - 1)
    ranks = np.concatenate([np.arange(num), drawn])
    return rng.permutation(num)[ranks].astype(np.int64)


def ratings(n: int, num_users: int, num_items: int, *, seed: int = 1, user_exponent: float = 0.8,
            item_exponent: float = 1.0, shift: float = 10.0, frame: bool = True):
    """Ratings-like data with crossed ``user`` and ``item`` factors.

    Parameters
    ----------
    n, num_users, num_items : int
        Rows and levels (``n >= max(num_users, num_items)``).
    seed : int
        Seed of NumPy's default generator.
    user_exponent, item_exponent, shift : float
        Zipf-like activity ``(rank + shift) ** -exponent`` of users and popularity of items.
    frame : bool
        A pandas DataFrame (columns ``y``, ``x``, ``user``, ``item``; the factors as integer
        codes) or, with False, a dict of NumPy arrays.

    Returns
    -------
    DataFrame or dict
    """
    if n < max(num_users, num_items):
        raise ValueError("n must be at least the number of users and of items")
    rng = np.random.default_rng(seed)
    user = _codes(rng, n, num_users, user_exponent, shift)
    item = _codes(rng, n, num_items, item_exponent, shift)
    x = rng.standard_normal(n)
    u = 0.5 * rng.standard_normal(num_users)
    v = 0.8 * rng.standard_normal(num_items)
    y = 3.0 + 0.4 * x + u[user] + v[item] + rng.standard_normal(n)
    out = {"y": y, "x": x, "user": user, "item": item}
    if not frame:
        return out
    import pandas as pd

    return pd.DataFrame(out)


def write_fixture(path: str = "tests/fixtures/lmm/ratings_crossed.csv") -> None:
    """The committed test data (``tools/fixtures/lmer_crossed_scale.R`` fits it with lme4):
    12,000 rows, 1,200 users, 400 items, seed 11, numbers with 10 significant digits."""
    ratings(12_000, 1_200, 400, seed=11).to_csv(path, index=False, float_format="%.10g")


def _main(argv):
    n, nu, ni, path = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    df = ratings(n, nu, ni)
    if path.endswith(".csv"):
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


if __name__ == "__main__":
    _main(sys.argv[1:])

