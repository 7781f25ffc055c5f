"""One way to show a printed report in a terminal, a notebook and Markdown.

A report type defines ``__str__`` (the R-style text); :class:`TextReport`
derives ``repr()``, the notebook HTML and the Markdown views from it, so all
three show the same table. Types with a richer notebook view override
``_repr_html_``. Frozen dataclasses that use it are declared with
``repr=False`` so that the dataclass does not replace ``__repr__``.
"""

from __future__ import annotations

import html

__all__ = ["TextReport"]


class TextReport:
    """Mixin: ``repr``, ``_repr_html_`` and ``_repr_markdown_`` from ``__str__``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"

    def _repr_markdown_(self) -> str:
        return f"```\n{self}\n```"
