"""Random-effects specification of ``rma_mv``: ``~ 1 | f``, ``~ 1 | a/b``, ``~ inner | outer``.

The grammar is metafor's: each formula is ``~ 1 | factor`` (one variance
component ``sigma2`` per factor; ``a/b`` expands to ``a`` and ``a/b``) or
``~ inner | outer`` (a variance-covariance matrix ``G`` of the inner levels,
shared by the outer levels, with structure CS, HCS, UN, ID or DIAG, or the
serial and spatial structures of ``_serial``). The inner term is a column,
``factor(column)`` or, for spatial structures, coordinates ``x + y``. Levels
follow R's ``factor()``: categories in their order, numbers sorted, strings
sorted; nested factors are R's ``interaction(..., lex.order = TRUE)`` with
labels ``"a/b"``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..._data import check_columns
from ..._exceptions import FormulaError, ModelSpecificationError, MultilevelWarning
from ._serial import SERIAL, SPATIAL, serial_term
from ._terms import GTerm, SigmaTerm, _factor

__all__ = ["STRUCTS", "SigmaTerm", "GTerm", "RandomSpec", "parse_random", "random_columns", "build_terms"]

STRUCTS = ("CS", "HCS", "UN", "ID", "DIAG", "AR", "HAR", "CAR", "SPEXP", "SPGAU", "SPLIN", "SPRAT", "SPSPH")
_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"
_FACTOR = rf"factor\(\s*({_NAME})\s*\)"


@dataclass(frozen=True)
class RandomSpec:
    """Parsed random-effects formulas: sigma2 factor paths and up to two inner/outer pairs."""

    sigma_paths: tuple[tuple[str, ...], ...]
    pairs: tuple[tuple[str, str], ...]
    formulas: tuple[str, ...]
    inner_cols: tuple[tuple[str, ...], ...] = ()
    inner_factor: tuple[bool, ...] = ()

    @property
    def inner(self) -> str | None:
        return self.pairs[0][0] if self.pairs else None

    @property
    def outer(self) -> str | None:
        return self.pairs[0][1] if self.pairs else None


def _split_formula(text: str) -> tuple[str, str]:
    body = text.strip()
    if not body.startswith("~"):
        raise FormulaError("a random-effects formula must start with '~' (for example '~ 1 | study')", text, 0)
    body = body[1:]
    if "||" in body:
        raise FormulaError("'||' is not supported in rma_mv random effects; use '|'", text, text.index("||"))
    if body.count("|") != 1:
        pos = text.find("|")
        raise FormulaError("a random-effects formula needs exactly one '|' between the inner "
                           "term and the grouping factor (for example '~ 1 | district/school')",
                           text, pos if pos >= 0 else len(text))
    lhs, rhs = (part.strip() for part in body.split("|"))
    return lhs, rhs


def parse_random(random: str | list[str] | tuple[str, ...]) -> RandomSpec:
    """Parse ``random`` (a formula or a list of formulas).

    Examples
    --------
    >>> parse_random("~ 1 | district/school").sigma_paths
    (('district',), ('district', 'school'))
    >>> spec = parse_random("~ school | district")
    >>> spec.pairs
    (('school', 'district'),)
    """
    forms = [random] if isinstance(random, str) else list(random)
    if not forms:
        raise FormulaError("random needs at least one formula such as '~ 1 | study'")
    paths: list[tuple[str, ...]] = []
    pairs: list[tuple[str, str]] = []
    inner_cols: list[tuple[str, ...]] = []
    factors: list[bool] = []
    for text in forms:
        if not isinstance(text, str):
            raise FormulaError(f"each random-effects formula must be a string, not {type(text).__name__}")
        lhs, rhs = _split_formula(text)
        parts = [p.strip() for p in rhs.split("/")]
        for part in parts:
            if not re.fullmatch(_NAME, part):
                raise FormulaError(f"{part!r} is not a column name", text, text.find(part))
        if lhs == "1":
            paths.extend(tuple(parts[: j + 1]) for j in range(len(parts)))
            continue
        label, cols, as_factor = _inner_term(lhs, text)
        if len(parts) > 1:
            raise FormulaError("'~ inner | outer1/outer2' terms are not allowed", text, text.find("/"))
        if len(pairs) == 2:
            raise FormulaError("at most two '~ inner | outer' terms are allowed", text)
        pairs.append((label, parts[0]))
        inner_cols.append(cols)
        factors.append(as_factor)
    return RandomSpec(tuple(paths), tuple(pairs), tuple(forms), tuple(inner_cols), tuple(factors))


def _inner_term(lhs: str, text: str) -> tuple[str, tuple[str, ...], bool]:
    """(label as R prints it, columns, whether wrapped in factor()) of the inner term.

    The inner term is a column, ``factor(column)``, or coordinates ``x + y``
    (spatial structures).
    """
    if re.fullmatch(_NAME, lhs):
        return lhs, (lhs,), False
    m = re.fullmatch(_FACTOR, lhs)
    if m:
        return f"factor({m.group(1)})", (m.group(1),), True
    parts = [p.strip() for p in lhs.split("+")]
    if len(parts) > 1 and all(re.fullmatch(_NAME, p) for p in parts):
        return " + ".join(parts), tuple(parts), False
    raise FormulaError("the inner term of '~ inner | outer' must be a column name, factor(column) or "
                       "coordinates such as 'x + y'", text, text.find(lhs))


def random_columns(spec: RandomSpec) -> list[str]:
    """Every column a random specification uses."""
    cols = [c for path in spec.sigma_paths for c in path]
    for (_, outer), inner in zip(spec.pairs, spec.inner_cols):
        cols += [*inner, outer]
    return list(dict.fromkeys(cols))


def _nested(frame: pd.DataFrame, path: tuple[str, ...]) -> SigmaTerm:
    codes = [_factor(frame[c]) for c in path]
    keys = np.stack([c for c, _ in codes], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    labels = tuple("/".join(codes[j][1][u[j]] for j in range(len(path))) for u in uniq)
    return SigmaTerm("/".join(path), inv.reshape(-1), labels)


def _rho_map(struct: str, L: int) -> tuple[np.ndarray, int]:
    rho_map = -np.ones((L, L), dtype=int)
    if struct in ("ID", "DIAG") or L == 1:
        return rho_map, 0 if struct in ("ID", "DIAG") else 1
    if struct in ("CS", "HCS"):
        rho_map[~np.eye(L, dtype=bool)] = 0
        return rho_map, 1
    r = 0
    for j in range(L):  # column-major lower triangle, as R's G[lower.tri(G)]
        for i in range(j + 1, L):
            rho_map[i, j] = rho_map[j, i] = r
            r += 1
    return rho_map, r


def _g_term(frame: pd.DataFrame, inner: str, outer: str, struct: str, corr: str = "rho",
            label: str | None = None) -> GTerm:
    icodes, ilev = _factor(frame[inner])
    ocodes, olev = _factor(frame[outer])
    L = len(ilev)
    tau_map = np.zeros(L, dtype=int) if struct in ("CS", "ID") else np.arange(L)
    rho_map, nrho = _rho_map(struct, L)
    fixed0 = np.zeros(nrho, dtype=bool)
    levels_k = np.bincount(icodes, minlength=L)
    present = np.zeros((L, len(olev)))
    present[icodes, ocodes] = 1.0
    pair_k = (present @ present.T).astype(int)
    if struct in ("CS", "HCS") and L == 1:
        fixed0[:] = True
        _warn(f"the inner factor has a single level, so {corr} is fixed to 0")
    elif struct in ("CS", "HCS") and len(olev) == len(frame):
        fixed0[:] = True
        _warn(f"each level of the outer factor contains a single estimate, so {corr} is fixed to 0")
    elif struct == "UN":
        if L == 1:
            fixed0[:] = True
            _warn(f"the inner factor has a single level, so {corr} is fixed to 0")
        for j in range(L):
            for i in range(j + 1, L):
                if pair_k[i, j] == 0:
                    fixed0[rho_map[i, j]] = True
                    _warn(f"levels {ilev[i]!r} and {ilev[j]!r} of {inner!r} never occur in the same "
                          f"{outer!r}, so their correlation is fixed to 0")
    return GTerm(struct, label or inner, outer, icodes, ocodes, tuple(ilev), tuple(olev), tau_map, rho_map,
                 int(tau_map.max()) + 1, nrho, fixed0, levels_k, pair_k, inner_cols=(inner,))


def _warn(message: str) -> None:
    warnings.warn(message, MultilevelWarning, stacklevel=5)


def build_terms(spec: RandomSpec, frame: pd.DataFrame, struct: str | tuple[str, ...] | list[str],
                dist: Any = None, full: pd.DataFrame | None = None) -> tuple[list[SigmaTerm], list[GTerm]]:
    """Level codes of every term on the rows of ``frame`` (complete cases).

    ``struct`` is one structure for every ``~ inner | outer`` term or one per
    term (metafor's ``struct = c("UN", "CS")``); ``dist`` the distance
    measure (or matrix) of spatial structures, one or one per term. ``full``
    is the data before incomplete rows were dropped: AR and HAR lags count the
    positions among its levels (as metafor, a level left without estimates
    still separates its neighbours).
    """
    check_columns(frame, random_columns(spec), context="random argument")
    structs = [struct, struct] if isinstance(struct, str) else list(struct)
    if len(structs) == 1:
        structs = structs * 2
    for st in structs:
        if st not in STRUCTS:
            raise ModelSpecificationError(f"struct must be one of {', '.join(STRUCTS)}, not {st!r}")
    sigmas = [_nested(frame, path) for path in spec.sigma_paths]
    dists = list(dist) if isinstance(dist, (list, tuple)) else [dist, dist]
    gs = []
    for i, (label, outer) in enumerate(spec.pairs):
        cols, as_factor = spec.inner_cols[i], spec.inner_factor[i]
        if structs[i] in SERIAL + SPATIAL:
            gs.append(serial_term(frame, cols, label, outer, structs[i], ("rho", "phi")[i], as_factor,
                                  dists[i] if i < len(dists) else None, full))
            continue
        if len(cols) > 1:
            raise ModelSpecificationError(f"struct={structs[i]!r} takes a single inner variable, not {label}")
        gs.append(_g_term(frame, cols[0], outer, structs[i], ("rho", "phi")[i], label))
    return sigmas, gs
