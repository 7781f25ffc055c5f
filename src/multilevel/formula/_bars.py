"""Grammar of lme4 formulas: the response, the fixed part and the random-effect bars.

The fixed part is handed to formulaic; this module only finds the parenthesised
random-effect terms ``(lhs | group)`` / ``(lhs || group)``, checks the overall
syntax (balanced parentheses, a single ``~``, known operators) and expands the
bars the way lme4 does:

* ``(x || g)`` becomes ``(1 | g) + (0 + x | g)``, one term per lhs term;
* ``(1 | a/b)`` becomes ``(1 | b:a) + (1 | a)`` (lme4 names the nested factor
  ``b:a``, inner factor first);
* ``(1 | a:b)`` keeps the interaction ``a:b``.

Errors are :class:`~multilevel.FormulaError` with the 0-based position of the
problem in the formula as the user wrote it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache

import formulaic

from .._exceptions import FormulaError
from ._names import r_deparse
from ._quoting import quote_dotted, r_name, with_placeholders

__all__ = ["GroupExpr", "RandomTerm", "ParsedFormula", "parse_formula"]

_NAME_START = re.compile(r"[A-Za-z.]")
_FACTOR_FUNCS = ("factor", "as.factor")
_NAME_CHAR = re.compile(r"[A-Za-z0-9._]")


# --------------------------------------------------------------------------- grouping expressions
@dataclass(frozen=True)
class GroupExpr:
    """A grouping expression: a column name (``op=None``) or ``left op right`` (``op`` ``":"`` or ``"/"``)."""

    name: str | None = None
    op: str | None = None
    left: GroupExpr | None = None
    right: GroupExpr | None = None
    func: str | None = None  # "factor" or "as.factor" around a name: the same grouping

    def deparse(self) -> str:
        """The expression as R's ``deparse`` prints it (``c:(b:a)``)."""
        if self.op is None:
            name = r_name(self.name)
            return f"{self.func}({name})" if self.func else name
        right = self.right.deparse()
        if self.right.op is not None:
            right = f"({right})"
        left = self.left.deparse()
        if self.left.op == "/" and self.op == ":":
            left = f"({left})"
        return f"{left}{self.op}{right}"

    def variables(self) -> tuple[str, ...]:
        """Column names used, left to right."""
        if self.op is None:
            return (self.name,)
        return self.left.variables() + self.right.variables()

    def has_slash(self) -> bool:
        return self.op == "/" or (self.op is not None and (self.left.has_slash() or self.right.has_slash()))


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term after expansion: ``(lhs | group)``.

    ``lhs`` is formulaic formula text for the term's model matrix (intercept
    implied unless removed, as in R); ``group`` is the grouping expression
    (names joined by ``:`` only).
    """

    lhs: str
    group: GroupExpr

    @property
    def group_name(self) -> str:
        return self.group.deparse()

    def __str__(self) -> str:
        """The term as R's ``deparse`` prints it (lme4's term names)."""
        return f"{r_deparse(self.lhs)} | {self.group_name}"


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into its parts.

    Attributes
    ----------
    formula : str
        The formula as written.
    response : str
        The left-hand side as written (stripped).
    response_code : str
        The left-hand side as Python code (``^`` -> ``**``, dotted names
        backtick-quoted), evaluated as arithmetic by
        :func:`~multilevel.formula._response.evaluate_response`.
    fixed : str
        formulaic formula text for the fixed part (``"1"`` when only bars remain).
    terms : tuple of RandomTerm
        Random-effects terms after expansion of ``||`` and ``/``, in formula order
        (lme4 reorders them later by number of levels).
    """

    formula: str
    response: str
    response_code: str
    fixed: str
    terms: tuple[RandomTerm, ...]


# --------------------------------------------------------------------------- scanning helpers
def _err(message: str, formula: str, position: int | None) -> FormulaError:
    return FormulaError(message, formula, position)


def _match_parens(formula: str) -> dict[int, int]:
    """Map each ``(`` to its ``)``; raise on unbalanced parentheses. Quotes and backticks are skipped."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    quote = None
    for i, ch in enumerate(formula):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":
            quote, qpos = ch, i
        elif ch in "([{":
            stack.append(i)
        elif ch in ")]}":
            if not stack:
                raise _err(f"unmatched closing {ch!r}", formula, i)
            pairs[stack.pop()] = i
    if quote:
        raise _err(f"unterminated {quote} quote", formula, qpos)
    if stack:
        raise _err(f"unclosed {formula[stack[-1]]!r}", formula, stack[-1])
    return pairs


def _skip(formula: str, i: int, pairs: dict[int, int]) -> int:
    """Index just after the token starting at ``i`` (a bracket group, a quoted name or one character)."""
    ch = formula[i]
    if ch in "([{":
        return pairs[i] + 1
    if ch in "'\"`":
        return formula.index(ch, i + 1) + 1
    return i + 1


def _is_call(formula: str, i: int) -> bool:
    """Whether the ``(`` at ``i`` opens a function call (preceded by a name)."""
    j = i - 1
    while j >= 0 and formula[j] in " \t":
        j -= 1
    return j >= 0 and bool(_NAME_CHAR.match(formula[j]))


def _top_level(formula: str, start: int, stop: int, pairs: dict[int, int], chars: str) -> list[int]:
    """Positions in ``[start, stop)`` of characters in ``chars`` outside any brackets or quotes."""
    found = []
    i = start
    while i < stop:
        if formula[i] in chars:
            found.append(i)
        i = _skip(formula, i, pairs)
    return found


def _python_code(formula: str, start: int, stop: int, pairs: dict[int, int]) -> str:
    """``formula[start:stop]`` with R's ``^`` written as ``**`` inside function calls and dotted
    names backtick-quoted (see :func:`~._quoting.quote_dotted`)."""
    out = []
    i = start
    while i < stop:
        ch = formula[i]
        if ch == "(" and _is_call(formula, i):
            inner = formula[i + 1:pairs[i]]
            out.append("(" + _caret_to_pow(inner) + ")")
            i = pairs[i] + 1
            continue
        if ch in "'\"`":
            j = _skip(formula, i, pairs)
            out.append(formula[i:j])
            i = j
            continue
        out.append(ch)
        i += 1
    return quote_dotted("".join(out))


def _caret_to_pow(code: str) -> str:
    out, quote = [], None
    for ch in code:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "^":
            out.append("**")
            continue
        out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------- the formula
def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part and expanded random-effects terms.

    Parameters
    ----------
    formula : str
        A formula such as ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    FormulaError
        With the position of the problem (no ``~``, unbalanced parentheses,
        empty side of a bar, ``|`` outside parentheses, unknown operator).

    Examples
    --------
    >>> from multilevel.formula import parse_formula
    >>> p = parse_formula("strength ~ 1 + (1 | batch/cask)")
    >>> [t.group_name for t in p.terms]
    ['cask:batch', 'batch']
    >>> [str(t) for t in parse_formula("Reaction ~ Days + (Days || Subject)").terms]
    ['1 | Subject', '0 + Days | Subject']
    """
    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string, not {type(formula).__name__}")
    return _parse(formula)


@lru_cache(maxsize=256)
def _parse(formula: str) -> ParsedFormula:
    pairs = _match_parens(formula)
    tildes = _top_level(formula, 0, len(formula), pairs, "~")
    if not tildes:
        raise _err("the formula has no '~' (write it as 'response ~ terms')", formula, len(formula))
    if len(tildes) > 1:
        raise _err("the formula has more than one '~'", formula, tildes[1])
    tilde = tildes[0]
    response = formula[:tilde].strip()
    if not response:
        raise _err("the formula has no response before '~'", formula, tilde)
    if "|" in formula[:tilde]:
        raise _err("'|' is not allowed in the response", formula, formula.index("|"))
    if not formula[tilde + 1:].strip():
        raise _err("the formula has no terms after '~'", formula, len(formula))
    fixed, terms = _split_rhs(formula, tilde + 1, pairs)
    return ParsedFormula(
        formula=formula,
        response=response,
        response_code=_response_code(formula, tilde),
        fixed=fixed,
        terms=tuple(terms),
    )


def _response_code(formula: str, tilde: int) -> str:
    """The left-hand side as Python code: R's ``^`` as ``**`` and dotted names quoted.

    The left-hand side is arithmetic, as in R (``incidence/size``, ``y - 1``, ``log(y)``).
    """
    text = formula[:tilde]
    code = quote_dotted(_caret_to_pow(text.strip()))
    try:
        ast.parse(with_placeholders(code)[0], mode="eval")
    except SyntaxError:
        start = len(text) - len(text.lstrip())
        raise _err(f"the response {text.strip()!r} is not an expression", formula, start) from None
    return code


def _summands(formula: str, start: int, pairs: dict[int, int]) -> list[tuple[str, int, int]]:
    """Top-level summands of the right-hand side as (sign, begin, end); sign is '+', '-' or ''."""
    cuts = []
    for i in _top_level(formula, start, len(formula), pairs, "+-"):
        before = formula[start:i].rstrip()
        if re.search(r"(?<![A-Za-z_.])\d+\.?\d*[eE]$", before):
            continue  # exponent of a number such as 1e-3
        cuts.append(i)
    pieces, sign, begin = [], "", start
    for cut in cuts:
        pieces.append((sign, begin, cut))
        sign, begin = formula[cut], cut + 1
    pieces.append((sign, begin, len(formula)))
    return pieces


def _bar_group(formula: str, begin: int, end: int, pairs: dict[int, int]) -> int | None:
    """If ``formula[begin:end]`` is one parenthesised group holding a top-level bar, its '(' position."""
    text = formula[begin:end]
    lead = len(text) - len(text.lstrip())
    i = begin + lead
    if i >= end or formula[i] != "(" or formula[begin:end].rstrip()[-1:] != ")":
        return None
    if pairs[i] != begin + len(text.rstrip()) - 1:
        return None
    inner_start, inner_stop = i + 1, pairs[i]
    while True:  # unwrap ((...))
        inner = formula[inner_start:inner_stop]
        k = inner_start + len(inner) - len(inner.lstrip())
        if k < inner_stop and formula[k] == "(" and pairs[k] == inner_start + len(inner.rstrip()) - 1:
            inner_start, inner_stop = k + 1, pairs[k]
            continue
        break
    if _top_level(formula, inner_start, inner_stop, pairs, "|"):
        return i
    return None


def _split_rhs(formula: str, start: int, pairs: dict[int, int]) -> tuple[str, list[RandomTerm]]:
    fixed_parts: list[str] = []
    terms: list[RandomTerm] = []
    for sign, begin, end in _summands(formula, start, pairs):
        if not formula[begin:end].strip():
            if sign or end == len(formula):  # a leading empty summand is a unary sign
                where = end if end < len(formula) else begin - 1
                raise _err("missing term next to an operator", formula, where)
            continue
        open_pos = _bar_group(formula, begin, end, pairs)
        if open_pos is not None:
            if sign == "-":
                raise _err("a random-effects term cannot be subtracted", formula, open_pos)
            terms.extend(_parse_bar(formula, open_pos, pairs))
            continue
        _check_fixed(formula, begin, end, pairs)
        code = _python_code(formula, begin, end, pairs).strip()
        fixed_parts.append(f"{sign} {code}" if sign else code)
    if not fixed_parts:
        fixed = "1"
    else:
        if fixed_parts[0].startswith("+ "):
            fixed_parts[0] = fixed_parts[0][2:]
        fixed = " ".join(fixed_parts)
        if fixed.startswith("-"):
            fixed = "1 " + fixed
    return fixed, terms


def _check_fixed(formula: str, begin: int, end: int, pairs: dict[int, int], nested: bool = False) -> None:
    """Check the terms of a fixed-effects summand: operands and operators alternate, no bars,
    no unknown operators, function calls are valid Python."""
    expect, last_op, seen = True, None, False
    i = begin
    while i < end:
        ch = formula[i]
        if ch in " \t\n":
            i += 1
            continue
        op = _operator_at(formula, i)
        if op:
            if expect and op not in ("+", "-"):
                raise _err(f"operator {op!r} has no term on its left", formula, i)
            expect, last_op, i = True, i, i + len(op)
            continue
        if ch == "|":
            raise _err("'|' outside parentheses: write random-effects terms as (terms | group)", formula, i)
        if not (ch in "(`'\"" or _NAME_CHAR.match(ch)):
            raise _err(f"unknown operator {ch!r} in the formula", formula, i)
        if not expect:
            raise _err("missing operator between terms", formula, i)
        i = _check_operand(formula, i, end, pairs)
        expect, seen = False, True
    if expect and last_op is not None:
        raise _err(f"operator {formula[last_op]!r} has no term on its right", formula, last_op)
    if nested and not seen:
        raise _err("empty parentheses", formula, begin - 1)


def _operator_at(formula: str, i: int) -> str | None:
    if formula.startswith("**", i):
        return "**"
    if formula.startswith("%in%", i):
        return "%in%"
    return formula[i] if formula[i] in "+-*/:^" else None


def _check_operand(formula: str, i: int, end: int, pairs: dict[int, int]) -> int:
    """Check one operand (a name, a number, a call, a quoted name or a parenthesised group); return its end."""
    ch = formula[i]
    if ch == "(":
        if _top_level(formula, i + 1, pairs[i], pairs, "|"):
            raise _err("a random-effects term (... | ...) must be added to the formula with '+'", formula, i)
        _check_fixed(formula, i + 1, pairs[i], pairs, nested=True)
        return pairs[i] + 1
    if ch in "`'\"":
        return _skip(formula, i, pairs)
    if not _NAME_CHAR.match(ch):
        raise _err(f"unknown operator {ch!r} in the formula", formula, i)
    j = i
    while j < end and _NAME_CHAR.match(formula[j]):
        j += 1
    if formula[i:j] == ".":
        raise _err("'.' (all other columns) is not supported: name the columns", formula, i)
    if formula[i].isdigit() and formula[i:j] not in ("0", "1"):
        raise _err("a number other than 0 or 1 is not a term (use I(...) for arithmetic)", formula, i)
    k = j
    while k < end and formula[k] in " \t":
        k += 1
    if k < end and formula[k] == "(":  # a function call: Python code
        code = formula[i:j] + "(" + _caret_to_pow(formula[k + 1:pairs[k]]) + ")"
        try:
            ast.parse(with_placeholders(quote_dotted(code))[0], mode="eval")
        except SyntaxError:
            raise _err(f"invalid expression {formula[i:pairs[k] + 1]!r}", formula, i) from None
        return pairs[k] + 1
    return j


def _parse_bar(formula: str, open_pos: int, pairs: dict[int, int]) -> list[RandomTerm]:
    inner_start, inner_stop = open_pos + 1, pairs[open_pos]
    while not _top_level(formula, inner_start, inner_stop, pairs, "|"):  # ((lhs | g))
        k = formula.index("(", inner_start)
        inner_start, inner_stop = k + 1, pairs[k]
    bars = _top_level(formula, inner_start, inner_stop, pairs, "|")
    bar = bars[0]
    double = len(bars) > 1 and bars[1] == bar + 1
    extra = bars[2:] if double else bars[1:]
    if extra:
        raise _err("more than one '|' in a random-effects term", formula, extra[0])
    rhs_start = bar + (2 if double else 1)
    lhs_text = formula[inner_start:bar]
    if not lhs_text.strip():
        raise _err("nothing before '|' in a random-effects term (write 1 for an intercept)", formula, bar)
    if not formula[rhs_start:inner_stop].strip():
        raise _err("no grouping factor after '|'", formula, rhs_start)
    _check_fixed(formula, inner_start, bar, pairs)
    lhs = _python_code(formula, inner_start, bar, pairs).strip()
    group_start = rhs_start + len(formula[rhs_start:inner_stop]) - len(formula[rhs_start:inner_stop].lstrip())
    group = _GroupParser(formula, group_start, inner_stop).parse()
    lhs_list = _expand_double(lhs, formula, inner_start) if double else [lhs]
    return [RandomTerm(part, g) for part in lhs_list for g in _expand_slash(group, formula, group_start)]


def _expand_double(lhs: str, formula: str, position: int) -> list[str]:
    """``(x || g)``: one term per lhs term, the intercept (if any) first, as lme4's expandDoubleVerts."""
    try:
        terms = list(formulaic.Formula(lhs))
    except Exception as err:  # formulaic's syntax errors
        raise _err(f"cannot parse the random-effects terms {lhs!r}: {err}", formula, position) from None
    out = ["1"] if any(str(t) == "1" for t in terms) else []
    out.extend(f"0 + {_term_code(t)}" for t in terms if str(t) != "1")
    return out


def _term_code(term) -> str:
    """formulaic term as formula text again, column names quoted (``Temp F`` -> ```Temp F```)."""
    return ":".join(f"`{f.expr}`" if f.eval_method.value == "lookup" and not f.expr.isidentifier() else f.expr
                    for f in term.factors)


def _expand_slash(group: GroupExpr, formula: str, position: int) -> list[GroupExpr]:
    """``a/b`` -> ``b:a``, ``a`` (lme4's expandSlash / makeInteraction)."""
    if not group.has_slash():
        return [group]

    def slash_terms(x: GroupExpr):
        if not x.has_slash():
            return x
        if x.op != "/":
            raise _err("cannot expand the nested grouping factor (use a/b with names only)", formula, position)
        return [slash_terms(x.left), slash_terms(x.right)]

    def make_interaction(x):
        if not isinstance(x, list):
            return x
        first = make_interaction(x[0])
        head = first[0] if isinstance(first, list) else first
        if isinstance(x[1], list):
            raise _err("cannot expand the nested grouping factor (use a/b with names only)", formula, position)
        return [GroupExpr(op=":", left=x[1], right=head), first]

    def flatten(x):
        return [y for item in x for y in flatten(item)] if isinstance(x, list) else [x]

    return flatten(make_interaction(slash_terms(group)))


class _GroupParser:
    """Recursive-descent parser for ``name (':' | '/') name ...`` with parentheses; ``:`` binds tighter."""

    def __init__(self, formula: str, start: int, stop: int):
        self.formula, self.pos, self.stop = formula, start, stop

    def parse(self) -> GroupExpr:
        expr = self._slash()
        self._space()
        if self.pos < self.stop:
            raise self._unexpected()
        return expr

    def _space(self) -> None:
        while self.pos < self.stop and self.formula[self.pos] in " \t\n":
            self.pos += 1

    def _unexpected(self) -> FormulaError:
        ch = self.formula[self.pos] if self.pos < self.stop else ""
        what = f"unexpected {ch!r}" if ch else "missing name"
        return _err(f"{what} in the grouping factor (use column names joined by ':' or '/')",
                    self.formula, self.pos)

    def _slash(self) -> GroupExpr:
        left = self._colon()
        while True:
            self._space()
            if self.pos < self.stop and self.formula[self.pos] == "/":
                self.pos += 1
                left = GroupExpr(op="/", left=left, right=self._colon())
            else:
                return left

    def _colon(self) -> GroupExpr:
        left = self._atom()
        while True:
            self._space()
            if self.pos < self.stop and self.formula[self.pos] == ":":
                self.pos += 1
                left = GroupExpr(op=":", left=left, right=self._atom())
            else:
                return left

    def _atom(self) -> GroupExpr:
        self._space()
        f = self.formula
        if self.pos >= self.stop:
            raise self._unexpected()
        ch = f[self.pos]
        if ch == "(":
            self.pos += 1
            inner = self._slash()
            self._space()
            if self.pos >= self.stop or f[self.pos] != ")":
                raise self._unexpected()
            self.pos += 1
            return inner
        if ch == "`":
            end = f.index("`", self.pos + 1)
            name, self.pos = f[self.pos + 1:end], end + 1
            return GroupExpr(name=name)
        if _NAME_START.match(ch):
            end = self.pos
            while end < self.stop and _NAME_CHAR.match(f[end]):
                end += 1
            name, self.pos = f[self.pos:end], end
            self._space()
            if name in _FACTOR_FUNCS and self.pos < self.stop and f[self.pos] == "(":
                return self._factor_call(name)
            return GroupExpr(name=name)
        raise self._unexpected()

    def _factor_call(self, func: str) -> GroupExpr:
        """``factor(g)`` / ``as.factor(g)``: the grouping by column ``g``."""
        self.pos += 1
        inner = self._atom()
        self._space()
        if inner.op is not None or inner.func or self.pos >= self.stop or self.formula[self.pos] != ")":
            raise self._unexpected()
        self.pos += 1
        return GroupExpr(name=inner.name, func=func)
