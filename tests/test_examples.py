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
