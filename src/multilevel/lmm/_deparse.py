"""Formula text as lme4 prints it in ``Formula:``.

lme4 prints ``deparse(formula)`` after expanding ``(x || g)`` into
``((1 | g) + (0 + x | g))``. R's ``deparse`` puts spaces around ``~ + - * |``
(not around ``: / ^``) and starts a new line, indented by four spaces, after a
binary operator once the line is longer than 60 characters; ``cat(fill = TRUE)``
then wraps the pieces at 80 characters. This module parses the formula into a
small expression tree and reproduces both.
"""

from __future__ import annotations

__all__ = ["deparse", "deparse_lines", "formula_line"]

_CUTOFF = 60
# binary operators: (left binding power, right binding power, spaced)
_BINARY = {
    "~": (10, 11, True), "||": (20, 21, True), "|": (20, 21, True),
    "+": (30, 31, True), "-": (30, 31, True), "*": (40, 41, True), "/": (40, 41, False),
    "%in%": (50, 51, True), ":": (60, 61, False), "^": (81, 80, False), "$": (90, 91, False),
}
_UNARY = {"-": 70, "+": 70, "~": 12}


def _tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith("||", i) or text.startswith("%in%", i):
            n = 2 if text[i] == "|" else 4
            out.append(text[i:i + n])
            i += n
        elif ch in "~+-*|:/^$(),":
            out.append(ch)
            i += 1
        elif ch in "`\"'":
            j = text.index(ch, i + 1)
            out.append(text[i:j + 1])
            i = j + 1
        else:
            j = i + 1
            while j < len(text) and not text[j].isspace() and text[j] not in "~+-*|:/^$(),`%\"'":
                j += 1
            out.append(text[i:j])
            i = j
    return out


class _Parser:
    """Pratt parser producing tuples: ("atom", s), ("paren", e), ("call", f, args), ("un", op, e),
    ("bin", op, l, r)."""

    def __init__(self, tokens):
        self.t, self.i = tokens, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self):
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expr(self, rbp=0):
        tok = self.take()
        if tok == "(":
            left = ("paren", self.expr())
            self.take()  # ")"
        elif tok in _UNARY:
            left = ("un", tok, self.expr(_UNARY[tok]))
        else:
            left = ("atom", tok)
            if self.peek() == "(":
                self.take()
                args = []
                while self.peek() != ")":
                    args.append(self.expr())
                    if self.peek() == ",":
                        self.take()
                self.take()
                left = ("call", tok, args)
        while self.peek() in _BINARY and _BINARY[self.peek()][0] > rbp:
            op = self.take()
            left = ("bin", op, left, self.expr(_BINARY[op][1]))
        return left


class _Writer:
    def __init__(self):
        self.lines, self.cur, self.indent = [], "", 0

    def put(self, s):
        if not self.cur and self.lines:
            self.cur = "    " * min(self.indent, 4) + "  " * max(0, self.indent - 4)
        self.cur += s

    def breakline(self):
        self.lines.append(self.cur)
        self.cur = ""

    def write(self, node):
        kind = node[0]
        if kind == "atom":
            self.put(node[1])
        elif kind == "paren":
            self.put("(")
            self.write(node[1])
            self.put(")")
        elif kind == "call":
            self.put(node[1] + "(")
            for i, a in enumerate(node[2]):
                if i:
                    self.put(", ")
                self.write(a)
            self.put(")")
        elif kind == "un":
            self.put(node[1])
            self.write(node[2])
        else:
            self._binary(node)

    def _binary(self, node):
        _, op, left, right = node
        self.write(left)
        if not _BINARY[op][2]:
            self.put(op)
            self.write(right)
            return
        self.put(f" {op} ")
        broke = len(self.cur) > _CUTOFF
        if broke:
            self.indent += 1
            self.breakline()
        self.write(right)
        if broke:
            self.indent -= 1


def _expand_double_bars(tokens: list[str]) -> list[str]:
    """``( lhs || g )`` -> ``( (1 | g) + (0 + t | g) ... )`` as lme4's ``expandDoubleVerts``."""
    while "||" in tokens:
        k = tokens.index("||")
        start = _match(tokens, k - 1, -1)
        end = _match(tokens, k + 1, 1)
        lhs, grp = tokens[start + 1:k], tokens[k + 1:end]
        terms, cur, depth = [], [], 0
        for t in lhs:
            depth += (t == "(") - (t == ")")
            if t == "+" and depth == 0:
                terms.append(cur)
                cur = []
            else:
                cur.append(t)
        terms.append(cur)
        intercept = not any(t in (["0"], ["-", "1"]) for t in terms)
        rest = [t for t in terms if t and t not in (["0"], ["-", "1"], ["1"])]
        parts = ([["(", "1", "|", *grp, ")"]] if intercept else []) + \
                [["(", "0", "+", *t, "|", *grp, ")"] for t in rest]
        new = ["("]
        for i, p in enumerate(parts):
            new += (["+"] if i else []) + p
        tokens = tokens[:start] + new + [")"] + tokens[end + 1:]
    return tokens


def _match(tokens, i, step):
    """Index of the parenthesis enclosing position ``i`` (searching backwards or forwards)."""
    opening, closing = ("(", ")") if step < 0 else (")", "(")
    depth = 0
    while 0 <= i < len(tokens):
        if tokens[i] == closing:
            depth += 1
        elif tokens[i] == opening:
            if depth == 0:
                return i
            depth -= 1
        i += step
    return i


def deparse_lines(formula: str) -> list[str]:
    """R's ``deparse()`` of the (``||``-expanded) formula: one string per output line."""
    tokens = _expand_double_bars(_tokens(formula))
    try:
        tree = _Parser(tokens).expr()
    except (IndexError, KeyError):  # not a formula we can parse: print it as written
        return [formula.strip()]
    w = _Writer()
    w.write(tree)
    w.breakline()
    return w.lines


def deparse(formula: str) -> str:
    """The formula on one line with R's spacing and ``||`` expanded.

    Examples
    --------
    >>> deparse("y~x*f+(1|a/b)")
    'y ~ x * f + (1 | a/b)'
    >>> deparse("Reaction ~ Days + (Days || Subject)")
    'Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))'
    """
    return " ".join(line.strip() for line in deparse_lines(formula))


def formula_line(formula: str, width: int = 80) -> str:
    """lme4's ``Formula:`` line(s): ``cat("Formula:", deparse(f), fill = TRUE)``.

    Examples
    --------
    >>> print(formula_line("angle ~ recipe + temperature + temp + t2 + recipe:temp + "
    ...                    "(1 | recipe:replicate) + (1|replicate)"))
    Formula: angle ~ recipe + temperature + temp + t2 + recipe:temp + (1 |
        recipe:replicate) + (1 | replicate)
    """
    out, line = [], "Formula:"
    for piece in deparse_lines(formula):
        if len(line) + 1 + len(piece) > width:
            out.append(line.rstrip())
            line = piece
        else:
            line += " " + piece
    out.append(line.rstrip())
    return "\n".join(out)
