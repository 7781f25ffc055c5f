"""The lme4 bar grammar: splitting, expansion of || and /, and syntax errors with positions."""

from __future__ import annotations

import pytest

from multilevel import FormulaError
from multilevel.formula import parse_formula

# formula -> (response, fixed part for formulaic, expanded random terms as lme4 names them)
PARSES = {
    "Reaction ~ Days + (Days | Subject)": ("Reaction", "Days", ["Days | Subject"]),
    "y ~ x1 + x2 * f + (1 + x | g) + (1 | h)": ("y", "x1 + x2 * f", ["1 + x | g", "1 | h"]),
    "y ~ (0 + x | g)": ("y", "1", ["0 + x | g"]),
    "y ~ (-1 + x | g)": ("y", "1", ["-1 + x | g"]),
    "y ~ (x | g)": ("y", "1", ["x | g"]),
    "y ~ (x || g)": ("y", "1", ["1 | g", "0 + x | g"]),
    "y ~ (0 + x || g)": ("y", "1", ["0 + x | g"]),
    "y ~ (x + z:w || g)": ("y", "1", ["1 | g", "0 + x | g", "0 + z:w | g"]),
    "y ~ (1 | a/b)": ("y", "1", ["1 | b:a", "1 | a"]),
    "y ~ (1 | a/b/c)": ("y", "1", ["1 | c:(b:a)", "1 | b:a", "1 | a"]),
    "y ~ (x || a/b)": ("y", "1", ["1 | b:a", "1 | a", "0 + x | b:a", "0 + x | a"]),
    "y ~ (1 | a:b)": ("y", "1", ["1 | a:b"]),
    "y ~ (1 | plate) + (1 | sample)": ("y", "1", ["1 | plate", "1 | sample"]),
    "y ~ (1 | g) + x": ("y", "x", ["1 | g"]),
    "y ~ x + (1 | g) + z": ("y", "x + z", ["1 | g"]),
    "y ~ 0 + x + (1 | g)": ("y", "0 + x", ["1 | g"]),
    "y ~ -1 + x + (1 | g)": ("y", "1 - 1 + x", ["1 | g"]),
    "y ~ x - 1 + (1 | g)": ("y", "x - 1", ["1 | g"]),
    "y ~ ((1 | g))": ("y", "1", ["1 | g"]),
    "y~(1|g)": ("y", "1", ["1 | g"]),
    "y ~ I(Days^2) + log(x) + (I(x^2) | g)": ("y", "I(Days**2) + log(x)", ["I(x^2) | g"]),
    "log(y) ~ x": ("log(y)", "x", []),
    "y ~ x * f": ("y", "x * f", []),
    "y ~ (1 | `my group`)": ("y", "1", ["1 | `my group`"]),
    "y ~ x + (1 | g:h/k)": ("y", "x", ["1 | k:(g:h)", "1 | g:h"]),
    "y ~ (1 | factor(id)) + (1 | as.factor(id):g)": ("y", "1", ["1 | factor(id)", "1 | as.factor(id):g"]),
}


@pytest.mark.parametrize("formula", list(PARSES))
def test_parse(formula):
    response, fixed, terms = PARSES[formula]
    parsed = parse_formula(formula)
    assert parsed.response == response
    assert parsed.fixed == fixed
    assert [str(t) for t in parsed.terms] == terms


def test_group_variables():
    parsed = parse_formula("y ~ (1 | a/b)")
    assert [t.group.variables() for t in parsed.terms] == [("b", "a"), ("a",)]
    assert parse_formula("y ~ (1 | factor(id))").terms[0].group.variables() == ("id",)


def test_response_code_uses_python_power():
    assert parse_formula("I(y^2) ~ x").response_code == "I(y**2)"


# formula -> (message fragment, 0-based position of the caret)
ERRORS = {
    "y x": ("no '~'", 3),
    "~ x": ("no response", 0),
    "y ~ ": ("no terms after '~'", 4),
    "y ~ x ~ z": ("more than one '~'", 6),
    "y ~ (x | g": ("unclosed '('", 4),
    "y ~ x)": ("unmatched closing ')'", 5),
    "y ~ (| g)": ("nothing before '|'", 5),
    "y ~ ( | g)": ("nothing before '|'", 6),
    "y ~ (x |)": ("no grouping factor after '|'", 8),
    "y ~ (x ||  )": ("no grouping factor after '|'", 9),
    "y ~ x | g": ("'|' outside parentheses", 6),
    "y ~ x * (1 | g)": ("must be added to the formula with '+'", 8),
    "y ~ x - (1 | g)": ("cannot be subtracted", 8),
    "y ~ x $ z": ("unknown operator '$'", 6),
    "y ~ x & z": ("unknown operator '&'", 6),
    "y ~ (1 | g + h)": ("unexpected '+' in the grouping factor", 11),
    "y ~ (1 | g$h)": ("unexpected '$' in the grouping factor", 10),
    "y ~ (1 | g | h)": ("more than one '|'", 11),
    "y ~ x + + z": ("missing term", 8),
    "y ~ x +": ("missing term", 6),
    "y | z ~ x": ("not allowed in the response", 2),
    "y ~ (1 | f(g))": ("unexpected '(' in the grouping factor", 10),
    "y ~ (1 | factor(a:b))": ("unexpected ':' in the grouping factor", 17),
    "y ~ (1 | a:(b/c))": ("cannot expand the nested grouping factor", 9),
    "y ~ 'x": ("unterminated ' quote", 4),
    "y ~ x +* z": ("operator '*' has no term on its left", 7),
    "y ~ x : ": ("operator ':' has no term on its right", 6),
    "y ~ x z": ("missing operator between terms", 6),
    "y ~ ()": ("empty parentheses", 4),
    "y ~ (1 + | g)": ("operator '+' has no term on its right", 7),
    "y ~ .": ("'.' (all other columns) is not supported", 4),
    "y ~ 2 * x": ("a number other than 0 or 1 is not a term", 4),
    "y ~ x + I(x ^^ 2)": ("invalid expression 'I(x ^^ 2)'", 8),
    "y ~ x, z": ("unknown operator ','", 5),
}


@pytest.mark.parametrize("formula", list(ERRORS))
def test_syntax_errors(formula):
    fragment, position = ERRORS[formula]
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    assert fragment in str(info.value)
    assert info.value.position == position
    assert info.value.formula == formula
    assert str(info.value).splitlines()[-1] == "  " + " " * position + "^"


def test_non_string_formula():
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(42)


def test_unknown_function_is_a_formula_error():
    import multilevel as ml

    with pytest.raises(FormulaError, match="unknown function 'offset'") as info:
        ml.model_frame("Reaction ~ Days + offset(Days)", ml.datasets.load("sleepstudy"))
    assert info.value.position == 18


def test_cached_formula_pieces_are_not_shared_with_callers():
    """Names of expressions and the columns of a formula are cached per text; callers get copies."""
    from multilevel.formula._bars import parse_formula
    from multilevel.formula._build import _used_columns
    from multilevel.formula._quoting import expression_names

    variables, called = expression_names("log(x) + z")
    variables.add("mutated")
    called.clear()
    assert expression_names("log(x) + z") == ({"x", "z"}, {"log"})
    parsed = parse_formula("y ~ log(x) + (x | g)")
    columns = _used_columns(parsed)
    before = list(columns)
    columns.append("mutated")
    assert _used_columns(parsed) == before and sorted(before) == ["g", "x", "y"]


def test_used_columns_match_whole_names_only():
    """A short column name inside a function or another column's name (``g`` in ``log`` and in
    ``lg``) does not move it forward: columns come in the order they are written, and the fit is
    that of the same data under names that are no substrings of anything."""
    import numpy as np
    import pandas as pd

    import multilevel as ml
    from multilevel.formula._build import _used_columns

    assert _used_columns(parse_formula("y ~ log(x) + lg + (1 | g)")) == ["y", "x", "lg", "g"]
    assert _used_columns(parse_formula("y ~ lg + log(x) + (1 | g)")) == ["y", "lg", "x", "g"]
    assert _used_columns(parse_formula("y ~ Q('g') + log(x) + (1 | lg)")) == ["y", "g", "x", "lg"]
    sleep = ml.datasets.load("sleepstudy")
    data = pd.DataFrame({"g": sleep["Subject"], "y": sleep["Reaction"], "x": sleep["Days"] + 1.0,
                         "lg": np.cos(np.arange(len(sleep)))})
    fit = ml.lmer("y ~ log(x) + lg + (1 | g)", data)
    renamed = data.rename(columns={"g": "subject", "lg": "wave"})
    plain = ml.lmer("y ~ log(x) + wave + (1 | subject)", renamed)
    np.testing.assert_array_equal(fit.fixef.to_numpy(), plain.fixef.to_numpy())
    assert fit.loglik == plain.loglik and fit.fixef.index[-1] == "lg"
    frame = ml.model_frame("y ~ log(x) + lg + (1 | g)", data)
    np.testing.assert_array_equal(frame.X, ml.model_frame("y ~ log(x) + wave + (1 | subject)", renamed).X)
