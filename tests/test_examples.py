"""Every public name documents a runnable example, and the test run executes the examples.

The examples themselves are doctests: ``pytest`` collects them from the package's modules
(``--doctest-modules`` with ``src/multilevel`` among the test paths, see ``pyproject.toml``).
"""

import inspect
import re
import tomllib
from pathlib import Path

import pytest

import multilevel as ml

ROOT = Path(__file__).resolve().parents[1]
SECTION = re.compile(r"^Examples\n--------\n(.*?)(?:\n\S[^\n]*\n-{3,}\n|\Z)", re.S | re.M)


def _examples(obj) -> str | None:
    """The text of the numpydoc Examples section of ``obj``'s docstring, or None."""
    match = SECTION.search(inspect.getdoc(obj) or "")
    return match.group(1) if match else None


PUBLIC = sorted(n for n in ml.__all__ if n != "__version__")


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_a_runnable_example(name):
    text = _examples(getattr(ml, name))
    assert text is not None, f"multilevel.{name} has no numpydoc 'Examples' section"
    assert ">>> " in text, f"the Examples section of multilevel.{name} has no doctest line"


#: Public methods still without an Examples section. New methods must have one; when one of these
#: gets its example, remove it here (the test below fails until then, so the list only shrinks).
METHODS_WITHOUT_EXAMPLES = frozenset({
    "RmaMvFit.from_state",  # the constructor of a fit from the optimizer's state (internal)
})


def _public_methods():
    """``Class.method`` for the functions defined in the body of each public class."""
    for name in PUBLIC:
        cls = getattr(ml, name)
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        for attr, value in vars(cls).items():
            func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            if not attr.startswith("_") and inspect.isfunction(func):
                yield f"{name}.{attr}", func


def test_public_methods_have_examples():
    missing = {name for name, func in _public_methods() if _examples(func) is None}
    assert sorted(missing - METHODS_WITHOUT_EXAMPLES) == [], "public methods without an Examples section"
    assert sorted(METHODS_WITHOUT_EXAMPLES - missing) == [], "these now have examples (or are gone): " \
        "remove them from METHODS_WITHOUT_EXAMPLES"


def test_examples_are_run_by_the_test_suite():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"].split()
    assert "src/multilevel" in options["testpaths"]


def test_section_finder():
    def documented():
        """Summary.

        Examples
        --------
        >>> 1 + 1
        2

        Notes
        -----
        Text.
        """

    def undocumented():
        """Summary without examples."""

    assert _examples(documented).strip() == ">>> 1 + 1\n2"
    assert _examples(undocumented) is None
