"""Lazy exports for package ``__init__`` files (PEP 562 module ``__getattr__``).

A package lists its public names by the submodule that defines them; a name is imported
the first time it is used and then kept in the package's namespace, so importing the package
itself costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["attach"]


def attach(package: str, exports: dict[str, tuple[str, ...]]
           ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` from ``{".submodule": (names, ...)}``.

    Examples
    --------
    >>> getattr_, dir_, all_ = attach("multilevel.formula", {"._bars": ("parse_formula",)})
    >>> all_
    ['parse_formula']
    >>> getattr_("parse_formula").__name__
    'parse_formula'
    """
    where = {name: module for module, names in exports.items() for name in names}
    names = list(where)

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(package)
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(names))

    return __getattr__, __dir__, names
