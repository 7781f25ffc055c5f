"""Formula text as lme4 prints it in ``Formula:`` (R's ``deparse`` spacing, ``||`` expanded)."""

from __future__ import annotations

__all__ = ["deparse"]

_SPACED = {"~", "+", "-", "*", "|", "||", "%in%"}
_TIGHT = {":", "/", "^", "$"}


def _tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith("||", i):
            out.append("||")
            i += 2
        elif text.startswith("%in%", i):
            out.append("%in%")
            i += 4
        elif ch in "~+-*|:/^$(),":
            out.append(ch)
            i += 1
        elif ch == "`":
            j = text.index("`", i + 1)
            out.append(text[i:j + 1])
            i = j + 1
        elif ch in "\"'":
            j = text.index(ch, i + 1)
            out.append(text[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "~+-*|:/^$(),`%":
                j += 1
            if j == i:  # a lone operator character we do not know: keep it
                j = i + 1
            out.append(text[i:j])
            i = j
    return out


def _join(tokens: list[str]) -> str:
    out = ""
    prev = None
    for tok in tokens:
        unary = tok in {"-", "+"} and (prev is None or prev in _SPACED or prev in {"(", ","})
        if tok in _SPACED and not unary:
            out += " " + tok + " "
        elif tok in _TIGHT or unary:
            out += tok
        elif tok == ",":
            out += ", "
        else:
            out += tok
        prev = tok
    return out.replace("( ", "(").replace(" )", ")").strip()


def _expand_double_bars(tokens: list[str]) -> list[str]:
    """``( lhs || g )`` -> ``( (1 | g) + (0 + t | g) ... )`` as lme4's ``expandDoubleVerts``."""
    while "||" in tokens:
        k = tokens.index("||")
        depth, start = 0, k - 1
        while start >= 0:
            if tokens[start] == ")":
                depth += 1
            elif tokens[start] == "(":
                if depth == 0:
                    break
                depth -= 1
            start -= 1
        depth, end = 0, k + 1
        while end < len(tokens):
            if tokens[end] == "(":
                depth += 1
            elif tokens[end] == ")":
                if depth == 0:
                    break
                depth -= 1
            end += 1
        lhs, grp = tokens[start + 1:k], tokens[k + 1:end]
        terms, cur, depth = [], [], 0
        for t in lhs:
            depth += t == "("
            depth -= t == ")"
            if t == "+" and depth == 0:
                terms.append(cur)
                cur = []
            else:
                cur.append(t)
        terms.append(cur)
        intercept = True
        rest = []
        for t in terms:
            if t in (["0"], ["-", "1"]):
                intercept = False
            elif t != ["1"] and t:
                rest.append(t)
        parts = ([["(", "1", "|", *grp, ")"]] if intercept else []) + \
                [["(", "0", "+", *t, "|", *grp, ")"] for t in rest]
        new = ["("]
        for i, p in enumerate(parts):
            new += (["+"] if i else []) + p
        new.append(")")
        tokens = tokens[:start] + new + tokens[end + 1:]
    return tokens


def deparse(formula: str) -> str:
    """Normalize spacing as R's ``deparse`` of a formula and expand ``||`` terms.

    Examples
    --------
    >>> deparse("y~x*f+(1|a/b)")
    'y ~ x * f + (1 | a/b)'
    >>> deparse("Reaction ~ Days + (Days || Subject)")
    'Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))'
    """
    return _join(_expand_double_bars(_tokens(formula)))
