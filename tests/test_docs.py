"""The API reference (docs/api/, built by mkdocs in CI) documents every public name."""

import re
from pathlib import Path

import multilevel as ml

API = Path(__file__).resolve().parents[1] / "docs" / "api"


def _documented() -> set[str]:
    names = set()
    for page in API.glob("*.md"):
        names.update(re.findall(r"^::: multilevel\.([\w.]+)\s*$", page.read_text(), flags=re.M))
    return names


def test_every_public_name_has_an_api_entry():
    documented = _documented()
    public = {n for n in ml.__all__ if n not in {"__version__", "datasets"}}
    public |= {f"datasets.{n}" for n in ml.datasets.__all__}
    assert sorted(public - documented) == []


def test_api_entries_name_existing_objects():
    for name in _documented():
        obj = ml
        for part in name.split("."):
            obj = getattr(obj, part)
