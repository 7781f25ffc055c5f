"""``import multilevel`` stays light: heavy modules load on first use."""

import ast
import importlib
import subprocess
import sys

import pytest

import multilevel as ml


def _loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` are in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"import sys\n{code}\nprint(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])  # a printed list of str


def test_import_does_not_load_heavy_modules():
    heavy = ("jax", "numpyro", "arviz", "matplotlib", "matplotlib.pyplot", "formulaic", "scipy", "scipy.stats",
             "pandas", "multilevel.bayes._engine", "dask", "distributed")
    assert _loaded("import multilevel", heavy) == []


def test_default_brma_path_loads_neither_jax_nor_formulaic():
    """The default brma model (no moderators) is fitted by the NumPy quadrature engine: the first
    fit in a fresh process imports neither JAX, NumPyro, ArviZ, matplotlib, formulaic nor SciPy."""
    code = ("import multilevel as ml\n"
            "d = ml.datasets.load('konstantopoulos2011')\n"
            "fit = ml.brma(d.yi, d.vi, measure='SMD', cluster=d.district, seed=1, progress=False)\n"
            "assert fit.engine == 'quadrature'")
    assert _loaded(code, ("jax", "numpyro", "arviz", "matplotlib", "formulaic", "scipy", "scipy.stats")) == []


@pytest.mark.parametrize("package", [m.lstrip(".") for m in ml._EXPORTS if m != "._anova"])
def test_export_table_matches_subpackages(package):
    """The lazy export table of ``multilevel`` lists each subpackage's ``__all__``, in order."""
    sub = importlib.import_module(f"multilevel.{package}")
    assert list(ml._EXPORTS[f".{package}"]) == list(sub.__all__), (
        f"update multilevel._EXPORTS['.{package}'] to multilevel.{package}.__all__")


def test_every_public_name_resolves_and_is_listed():
    names = dir(ml)
    for name in ml.__all__:
        assert getattr(ml, name) is not None
        assert name in names
    assert len(set(ml.__all__)) == len(ml.__all__)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        ml.not_a_name  # noqa: B018


def test_star_import_gives_the_public_names():
    namespace: dict = {}
    exec("from multilevel import *", namespace)
    assert {"lmer", "brma", "rma", "anova", "DataError", "datasets"} <= set(namespace)


def test_type_checking_imports_match_the_export_table():
    """Documentation tools read the ``if TYPE_CHECKING:`` imports of ``multilevel/__init__.py``."""
    tree = ast.parse(open(ml.__file__, encoding="utf-8").read())
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
    seen = {f".{n.module}" if n.module else ".": sorted(a.name for a in n.names) for n in block.body}
    for module, names in ml._EXPORTS.items():
        assert seen.get(module) == sorted(names), module
