"""One way to show a printed report in a terminal, a notebook and Markdown.

A report type defines ``__str__`` (the R-style text) and nothing else for display:
:func:`render_html` and :func:`render_markdown` are the one renderer of that text.
:class:`TextReport` derives ``repr()``, the notebook HTML and the Markdown views from
it, so all three show the same table; :class:`TextViews` derives only the notebook
and Markdown views, for fitted models whose ``repr()`` is a one-line description.
No type writes its own ``_repr_html_``. Frozen dataclasses that use these mixins are
declared with ``repr=False`` so that the dataclass does not replace ``__repr__``.

Table objects (those with ``to_frame()``) also use :class:`FrameMapping`, so that
``pd.DataFrame(table)`` works.
"""

from __future__ import annotations

import html

__all__ = ["TextReport", "TextViews", "FrameMapping", "render_html", "render_markdown"]


def render_html(text: str) -> str:
    """The notebook view of a printed report: its text, escaped, in a ``<pre>`` block."""
    return f"<pre>{html.escape(text)}</pre>"


def render_markdown(text: str) -> str:
    """The Markdown view of a printed report: its text in a fenced code block."""
    return f"```\n{text}\n```"


class TextViews:
    """Mixin: ``_repr_html_`` and ``_repr_markdown_`` from ``__str__`` (``repr`` left to the type)."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        return render_html(str(self))

    def _repr_markdown_(self) -> str:
        return render_markdown(str(self))


class TextReport(TextViews):
    """Mixin: ``repr``, ``_repr_html_`` and ``_repr_markdown_`` from ``__str__``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def _restore(cls, state: dict):
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


class FrameMapping(dict):
    """Mixin for table objects: the columns of ``to_frame()`` as a read-only mapping.

    pandas builds a DataFrame from a ``dict`` (and from nothing else that is not already a
    pandas or NumPy object), so a table object is a ``dict`` of its columns, each a Series
    indexed like the table: ``pd.DataFrame(table)`` equals ``table.to_frame()`` (without
    its ``attrs``), and ``table["column"]`` is a column. The columns are read from
    ``to_frame()`` when first used. Equality and hashing stay those of the object (or of
    the dataclass that uses the mixin), not those of a dict, and the mapping cannot be
    changed.
    """

    __slots__ = ()
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def _columns(self) -> dict:
        if not dict.__len__(self):
            frame = self.to_frame()
            dict.update(self, {column: frame[column] for column in frame.columns})
        return self

    def keys(self):
        return dict.keys(self._columns())

    def values(self):
        return dict.values(self._columns())

    def items(self):
        return dict.items(self._columns())

    def __getitem__(self, column):
        return dict.__getitem__(self._columns(), column)

    def get(self, column, default=None):
        return dict.get(self._columns(), column, default)

    def __iter__(self):
        return dict.__iter__(self._columns())

    def __len__(self) -> int:
        return dict.__len__(self._columns())

    def __contains__(self, column) -> bool:
        return dict.__contains__(self._columns(), column)

    def __bool__(self) -> bool:
        return True

    def copy(self) -> dict:
        """A plain ``dict`` of the columns."""
        return dict(self.items())

    def _read_only(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is read-only")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _read_only

    def __reduce_ex__(self, protocol):
        return (_restore, (type(self), dict(self.__dict__)))
