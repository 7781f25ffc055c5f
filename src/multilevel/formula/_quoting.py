"""R's variable names inside formula code: dotted names and backtick quoting.

R data often has column names with dots (``Solar.R``) or that are not names
at all (```Temp F```, written with backticks as in R). In Python code a dot is
attribute access, so before formula text reaches formulaic the dotted names
are backtick-quoted (formulaic reads ```Solar.R``` as the column). Inside a
Python expression a quoted name is replaced by a placeholder identifier to
parse it with :mod:`ast`; :func:`expression_names` and :func:`r_name` map the
placeholders back.
"""

from __future__ import annotations

import ast
import functools
import re

__all__ = ["NAMESPACES", "quote_dotted", "with_placeholders", "expression_names", "r_name", "q_column",
           "formula_columns", "name_positions"]

#: Names whose attributes are not columns (``np.log``, ``contr.sum``).
NAMESPACES = frozenset({"np", "numpy", "contr"})

_SYNTACTIC = re.compile(r"^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$")
_NAME_START = re.compile(r"[A-Za-z._]")
_NAME_CHAR = re.compile(r"[A-Za-z0-9._]")
_PLACEHOLDER = "_mlq{}_"
_RESERVED = frozenset({"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
                       "NULL", "Inf", "NaN", "NA", "in"})


def r_name(name: str) -> str:
    """A variable name as R's ``deparse`` prints it: backticks unless it is syntactic (``Solar.R``,
    ```Temp F```)."""
    return name if _SYNTACTIC.match(name) and name not in _RESERVED else f"`{name}`"


def _quoted_end(code: str, i: int) -> int:
    """Index just after the quoted string or name starting at ``i``."""
    end = code.find(code[i], i + 1)
    return len(code) if end < 0 else end + 1


def quote_dotted(code: str) -> str:
    """Backtick-quote names with a dot that are not called (``Solar.R`` -> ```Solar.R```).

    ``np.log(x)`` (a call) and ``contr.sum`` (an attribute of a namespace in
    :data:`NAMESPACES`) stay as they are, as do numbers and quoted text.
    formulaic's ``Q("name")`` becomes the quoted name ```name``` (the same
    variable, as in R).

    >>> quote_dotted("log(Solar.R) + np.log(x) + C(f, contr.sum) + Q('Temp F') + 1.5")
    'log(`Solar.R`) + np.log(x) + C(f, contr.sum) + `Temp F` + 1.5'
    """
    out, i = [], 0
    while i < len(code):
        text, i = _token(code, i)
        out.append(text)
    return "".join(out)


def _token(code: str, i: int) -> tuple[str, int]:
    """The token starting at ``i`` as :func:`quote_dotted` writes it, and the index after it."""
    ch = code[i]
    if ch in "'\"`":
        j = _quoted_end(code, i)
        return code[i:j], j
    if ch.isdigit() or (ch == "." and code[i + 1:i + 2].isdigit()):  # a number (1.5, .5, 1e-3)
        j = i
        while j < len(code) and (_NAME_CHAR.match(code[j]) or (code[j] in "+-" and code[j - 1] in "eE")):
            j += 1
        return code[i:j], j
    if _NAME_START.match(ch):
        return _name_token(code, i)
    return ch, i + 1


def _name_token(code: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(code) and _NAME_CHAR.match(code[j]):
        j += 1
    name, k = code[i:j], j
    while k < len(code) and code[k] in " \t":
        k += 1
    called = k < len(code) and code[k] == "("
    quoted = _q_call(code, k) if called and name == "Q" else None
    if quoted is not None:  # Q("Temp F") is the column `Temp F`
        return f"`{quoted[0]}`", quoted[1]
    if "." in name and not called and name.split(".", 1)[0] not in NAMESPACES:
        return f"`{name}`", j
    return name, j


def name_positions(code: str) -> dict[str, int]:
    """Where each name first occurs in ``code``, as whole tokens: a name inside another
    (``g`` in ``log`` or ``lg``), in quoted text or in a number is not an occurrence.

    Backtick-quoted names and ``Q("...")`` count as the name they quote.

    >>> name_positions("y ~ log(x) + lg + (1 | g) + Q('Temp F')")
    {'y': 0, 'log': 4, 'x': 8, 'lg': 13, 'g': 23, 'Temp F': 28}
    """
    found: dict[str, int] = {}
    i = 0
    while i < len(code):
        start = i
        text, i = _token(code, i)
        if text.startswith("`") and len(text) > 1:
            text = text[1:-1] if text.endswith("`") else text[1:]
        elif not _NAME_START.match(text):
            continue
        found.setdefault(text, start)
    return found


_Q_CALL = re.compile(r"""\(\s*(?:"([^"`]*)"|'([^'`]*)')\s*\)""")


def _q_call(code: str, k: int) -> tuple[str, int] | None:
    """For ``Q("name")`` with ``(`` at ``k``: the name and the index after ``)``."""
    match = _Q_CALL.match(code, k)
    if match is None:
        return None
    return (match.group(1) if match.group(1) is not None else match.group(2)), match.end()


def with_placeholders(code: str) -> tuple[str, dict[str, str]]:
    """``code`` with each backtick-quoted name replaced by an identifier; the identifiers' names."""
    names: dict[str, str] = {}
    out, i = [], 0
    while i < len(code):
        ch = code[i]
        if ch in "'\"`":
            j = _quoted_end(code, i)
            if ch == "`":
                name = code[i + 1:j - 1]
                key = next((k for k, v in names.items() if v == name), None)
                if key is None:
                    key = _PLACEHOLDER.format(len(names))
                    names[key] = name
                out.append(key)
            else:
                out.append(code[i:j])
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out), names


def q_column(node: ast.AST) -> str | None:
    """The column of ``Q("name")`` (formulaic's quoting function), else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Q"
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return node.args[0].value
    return None


def expression_names(code: str) -> tuple[set[str], set[str]]:
    """Variables and called functions of a Python expression with backtick-quoted names.

    Variables are the names that are neither called nor the base of an
    attribute (``np`` in ``np.log``), the quoted names and the columns of
    ``Q("...")``. Text that is not an expression is taken as one column name.

    >>> sorted(expression_names("log(`Solar.R`) + Q('Temp F') * x")[0])
    ['Solar.R', 'Temp F', 'x']
    """
    variables, called = _expression_names(code)
    return set(variables), set(called)


@functools.lru_cache(maxsize=1024)
def _expression_names(code: str) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`expression_names`, worked out once per expression (repeated fits parse the same text)."""
    text, names = with_placeholders(code)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return frozenset({code.strip().strip("`")}), frozenset()
    skip: set[int] = set()
    called: set[str] = set()
    variables: set[str] = set()
    for node in ast.walk(tree):
        column = q_column(node)
        if column is not None:
            variables.add(column)
            skip.update(id(n) for n in ast.walk(node))
        elif isinstance(node, ast.Call):
            skip.add(id(node.func))
            if isinstance(node.func, ast.Name):
                called.add(node.func.id)
        elif isinstance(node, ast.Attribute):
            skip.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in skip:
            variables.add(names.get(node.id, node.id))
    return frozenset(variables), frozenset(called)


def formula_columns(text: str) -> list[str]:
    """Column names a right-hand side formula text uses (dotted and quoted names whole).

    Used by the moderators formulas of the meta-analysis functions; functions
    called (``log``, ``factor``, ``I``) and namespaces are left out.

    >>> formula_columns("~ Solar.R + log(`Temp F`) + factor(Month) + C(g, contr.sum)")
    ['Month', 'Solar.R', 'Temp F', 'g']
    """
    import formulaic

    found: set[str] = set()
    for variables, called in _factor_name_sets(formulaic.Formula(quote_dotted(text.strip().lstrip("~")))):
        found |= variables - called
    return sorted(v for v in found if v not in NAMESPACES)


def _factor_name_sets(parsed):
    """(variables, called functions) of each factor of a formulaic formula: a looked-up column,
    or the names inside an evaluated expression."""
    for term in parsed:
        for factor in term.factors:
            if factor.eval_method.value == "lookup":
                yield {factor.expr}, set()
            elif factor.eval_method.value == "python":
                yield expression_names(factor.expr)


def factor_names(parsed) -> tuple[set[str], set[str]]:
    """Variables and called functions of all factors of a formulaic formula."""
    variables: set[str] = set()
    called: set[str] = set()
    for names, functions in _factor_name_sets(parsed):
        variables |= names
        called |= functions
    return variables, called
