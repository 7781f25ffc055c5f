"""Column names as R prints them, taken from formulaic's term structure.

formulaic names columns ``recipe[T.B]:temperature[T.185]``; R names the same
column ``recipeB:temperature185``. Rather than rewriting formulaic's names, the
names are rebuilt from the model spec: for every term, its scoped factors (and
whether each is coded with reduced rank), the factor's expression and, for
categorical factors, the contrasts and levels kept in the encoder state.
"""

from __future__ import annotations

import ast
from functools import lru_cache

import numpy as np

from formulaic.transforms.contrasts import PolyContrasts, TreatmentContrasts

from ._quoting import q_column, r_name, with_placeholders

__all__ = ["r_columns", "r_deparse", "variable_order"]

_BINOPS = {
    ast.Add: " + ", ast.Sub: " - ", ast.Mult: " * ", ast.Div: "/", ast.Mod: " %% ",
    ast.FloorDiv: " %/% ", ast.Pow: "^", ast.BitAnd: " & ", ast.BitOr: " | ",
}
_CMPOPS = {ast.Eq: " == ", ast.NotEq: " != ", ast.Lt: " < ", ast.LtE: " <= ", ast.Gt: " > ", ast.GtE: " >= "}
_PREC = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Mod: 2, ast.FloorDiv: 2, ast.Pow: 4}


@lru_cache(maxsize=1024)
def r_deparse(code: str) -> str:
    """Python expression text written as R's ``deparse`` would print the same expression.

    ``I(Days ** 2)`` -> ``I(Days^2)``, ``log(x+1)`` -> ``log(x + 1)``, ``x/2`` -> ``x/2``;
    quoted names as R prints them (``log(`Solar.R`)`` -> ``log(Solar.R)``, ``Q("Temp F")`` ->
    ```Temp F```). Text that is not a Python expression is returned unchanged.
    """
    text, names = with_placeholders(code.strip())
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return code
    try:
        out = _dep(node)
    except _Unsupported:
        return code
    for key, name in names.items():
        out = out.replace(key, r_name(name))
    return out


class _Unsupported(Exception):
    pass


def _num(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = format(value, ".15g")
        if "e" in text:
            mant, exp = text.split("e")
            text = f"{mant}e{exp[0]}{exp[1:].lstrip('0').zfill(2)}"
        return text
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    raise _Unsupported


def _dep(node, parent_prec: int = 0) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant):
        return _num(node.value)
    if isinstance(node, ast.Attribute):
        return f"{_dep(node.value, 9)}.{node.attr}"
    if q_column(node) is not None:
        return r_name(q_column(node))
    if isinstance(node, ast.Call):
        args = [_dep(a) for a in node.args]
        args += [f"{k.arg} = {_dep(k.value)}" for k in node.keywords if k.arg]
        return f"{_dep(node.func, 9)}({', '.join(args)})"
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        prec = _PREC.get(type(node.op), 0)
        right_prec = prec + (0 if type(node.op) is ast.Pow else 1)
        left_prec = prec + (1 if type(node.op) is ast.Pow else 0)
        text = f"{_dep(node.left, left_prec)}{_BINOPS[type(node.op)]}{_dep(node.right, right_prec)}"
        return f"({text})" if prec < parent_prec else text
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"{sign}{_dep(node.operand, 3)}"
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS:
        text = f"{_dep(node.left, 1)}{_CMPOPS[type(node.ops[0])]}{_dep(node.comparators[0], 1)}"
        return f"({text})" if parent_prec > 0 else text
    if isinstance(node, ast.Subscript):
        return f"{_dep(node.value, 9)}[{_dep(node.slice)}]"
    raise _Unsupported


def _level_label(level) -> str:
    """A factor level as R prints it (integral floats without '.0')."""
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    if isinstance(level, bool):
        return "TRUE" if level else "FALSE"
    return str(level)


def _poly_labels(k: int) -> list[str]:
    named = [".L", ".Q", ".C"]
    return [named[i] if i < 3 else f"^{i + 1}" for i in range(k)]


def _factor_labels(spec, scoped_factor) -> list[str] | None:
    """R's column labels of one scoped factor; None when the factor gives an unknown number of columns."""
    factor = scoped_factor.factor.factor
    kind, state = spec.encoder_state.get(factor, (None, {}))
    name = r_name(factor.expr) if factor.eval_method.value == "lookup" else r_deparse(factor.expr)
    if getattr(kind, "value", None) != "categorical":
        return [name] if getattr(kind, "value", None) in ("numerical", "constant") else None
    contrasts_state = state.get("contrasts")
    levels = list(contrasts_state.levels if contrasts_state is not None else state["categories"])
    if not scoped_factor.reduced:
        return [name + _level_label(lev) for lev in levels]
    contrasts = contrasts_state.contrasts
    if isinstance(contrasts, TreatmentContrasts):
        labels = contrasts.get_coding_column_names(levels, reduced_rank=True)
        return [name + _level_label(lab) for lab in labels]
    if isinstance(contrasts, PolyContrasts):
        return [name + lab for lab in _poly_labels(len(levels) - 1)]
    return [name + str(i + 1) for i in range(len(levels) - 1)]


def variable_order(formula) -> dict:
    """R's variable order: first appearance, left to right, in the formula as written.

    ``formula`` is a formulaic Formula parsed with ``_ordering="none"``.
    """
    order: dict = {}
    for term in formula:
        for factor in term.factors:
            order.setdefault(factor.expr, len(order))
    return order


def _scoped_columns(spec, scoped_term, order: dict) -> tuple[list[str], np.ndarray] | None:
    """R names and R order (as indices into formulaic's columns) of one scoped term."""
    factors = list(scoped_term.factors)
    labels = [_factor_labels(spec, sf) for sf in factors]
    if any(lab is None for lab in labels):
        return None
    m = len(factors)
    perm = sorted(range(m), key=lambda i: order.get(factors[i].factor.expr, m + i))
    sizes = [len(lab) for lab in labels]
    index = np.arange(int(np.prod(sizes))).reshape(sizes[::-1])  # first factor fastest
    index = index.transpose([m - 1 - perm[r] for r in reversed(range(m))]).ravel()
    names = [""]
    for i in perm:
        names = [f"{c}:{lab}" if c else lab for lab in labels[i] for c in names]
    return names, index


def r_columns(spec, order: dict | None = None) -> tuple[list[str], np.ndarray]:
    """Column names as R's ``model.matrix`` prints them, and R's column order.

    Returns the names and the indices of formulaic's columns in R's order.
    Factors of an interaction are ordered as R orders them (by first
    appearance in the formula, ``order``); the first varies fastest. A term
    whose factors give an unexpected number of columns keeps formulaic's names.
    """
    order = order or {}
    names: list[str] = []
    columns: list[np.ndarray] = []
    start = 0
    for structure in spec.structure:
        width = len(structure.columns)
        term_names: list[str] | None = []
        term_cols: list[np.ndarray] = []
        offset = start
        for scoped_term in structure.scoped_terms:
            if not scoped_term.factors:
                term_names.append("(Intercept)")
                term_cols.append(np.array([offset]))
                offset += 1
                continue
            found = _scoped_columns(spec, scoped_term, order)
            if found is None:
                term_names = None
                break
            term_names.extend(found[0])
            term_cols.append(found[1] + offset)
            offset += len(found[0])
        if term_names is None or len(term_names) != width:
            term_names, term_cols = _matrix_names(structure), [np.arange(start, start + width)]
        names.extend(term_names)
        columns.extend(term_cols)
        start += width
    return names, (np.concatenate(columns) if columns else np.arange(0))


def _matrix_names(structure) -> list[str]:
    """Names for a term that is one matrix-valued factor (``poly(x, 2)`` -> ``poly(x, 2)1``, ...)
    as R pastes column numbers to the expression; formulaic's names otherwise."""
    scoped = structure.scoped_terms
    if len(scoped) == 1 and len(scoped[0].factors) == 1:
        name = r_deparse(scoped[0].factors[0].factor.expr)
        return [f"{name}{i + 1}" for i in range(len(structure.columns))]
    return list(structure.columns)
