"""JAX's persistent compilation cache for the NUTS engine: on by default, MULTILEVEL_JAX_CACHE."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from multilevel.bayes._jax_cache import ENV, cache_dir


@pytest.mark.parametrize("value", ["0", "off", "False", "no"])
def test_turned_off(monkeypatch, value):
    monkeypatch.setenv(ENV, value)
    assert cache_dir() is None


@pytest.mark.parametrize("value", [None, "", "1", "on"])
def test_default_is_the_user_cache(monkeypatch, tmp_path, value):
    if value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    got = cache_dir()
    assert got.parts[-2:] == ("multilevel", "jax")
    if sys.platform.startswith("linux"):
        assert got == tmp_path / "multilevel" / "jax"


def test_a_directory(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, str(tmp_path / "cc"))
    assert cache_dir() == tmp_path / "cc"


SCRIPT = """
import os, sys
import jax
from multilevel.bayes import _engine, _jax_cache
print(jax.config.jax_compilation_cache_dir)
jax.config.update("jax_compilation_cache_dir", None)
os.environ["MULTILEVEL_JAX_CACHE"] = "0"
print(_jax_cache.configure())
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
os.environ["MULTILEVEL_JAX_CACHE"] = sys.argv[2]
print(_jax_cache.configure())
"""


def test_nuts_engine_turns_the_cache_on(tmp_path):
    """Importing the NUTS engine points JAX at the cache; ``0`` leaves it off; a directory the
    user gave JAX is kept."""
    env = dict(os.environ, MULTILEVEL_JAX_CACHE=str(tmp_path / "ours"))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "theirs"), str(tmp_path / "x")],
                         capture_output=True, text=True, check=True, env=env)
    lines = out.stdout.strip().splitlines()
    assert lines == [str(tmp_path / "ours"), "None", str(tmp_path / "theirs")]
    assert (tmp_path / "ours").is_dir() and not (tmp_path / "x").exists()


def test_second_process_loads_compiled_programs(tmp_path):
    """A NUTS fit writes the cache; a new process fitting the same model shape reads it."""
    code = ("import multilevel as ml\n"
            "d = ml.datasets.load('konstantopoulos2011')\n"
            "ml.brma(d.yi, d.vi, measure='SMD', seed=1, progress=False, engine='nuts', draws=200,"
            " warmup=200)\n")
    env = dict(os.environ, MULTILEVEL_JAX_CACHE=str(tmp_path))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    entries = sorted(p.name for p in Path(tmp_path).iterdir())
    assert entries, "no compiled program was written"
    env["JAX_LOG_COMPILES"] = "1"
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=env)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == entries  # nothing new compiled
    assert "Persistent compilation cache hit" in again.stderr
