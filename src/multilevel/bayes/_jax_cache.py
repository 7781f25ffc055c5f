"""JAX's persistent compilation cache for the NUTS engine, on by default in the user cache.

Compiling the NUTS sampler of a model shape takes 10-20 s; with the cache a new process
loads the compiled program instead. The directory is the platform's user cache directory
(``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
``%LOCALAPPDATA%`` on Windows) plus ``multilevel/jax``. The environment variable
``MULTILEVEL_JAX_CACHE`` overrides it: ``0`` (or ``off``, ``false``, ``no``) turns the cache
off, any other value is taken as the directory. A cache directory already set in JAX's
configuration (by the user, e.g. ``JAX_COMPILATION_CACHE_DIR``) is kept as it is.

The setting is JAX's, for the whole process: other JAX programs compiled in the same process
are cached there too. Programs are cached whatever their compile time
(``jax_persistent_cache_min_compile_time_secs = 0``): under load even small ones are slow
to compile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["ENV", "cache_dir", "configure"]

ENV = "MULTILEVEL_JAX_CACHE"
_OFF = ("0", "off", "false", "no")
_ON = ("", "1", "on", "true", "yes")


def _user_cache_root() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def cache_dir() -> Path | None:
    """The directory of the persistent cache, or None when turned off by ``MULTILEVEL_JAX_CACHE``."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value.lower() in _ON:
        return _user_cache_root() / "multilevel" / "jax"
    return Path(value).expanduser()


def configure() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (unless JAX already has a
    cache directory); returns the directory in use, or None."""
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home, no permission: run without the cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path
