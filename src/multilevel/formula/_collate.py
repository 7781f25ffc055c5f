"""Sort labels as R's ``sort()`` / ``factor()`` do for character vectors.

R (built with ICU, as the usual binaries are) sorts strings by the Unicode
collation algorithm's root order, not by code point: punctuation before
digits before letters, letters compared ignoring case first, then lowercase
before uppercase (``"a1" < "a10" < "a2" < "ab" < "aB" < "Ab" < "b" < "B"``).
This module approximates that order for ASCII text; other characters sort by
code point after the letters.
"""

from __future__ import annotations

__all__ = ["r_sort_key", "r_sorted"]

# ICU root order of ASCII whitespace and punctuation.
_PUNCT = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_PUNCT_RANK = {ch: i for i, ch in enumerate(_PUNCT)}


def _primary(ch: str) -> tuple[int, int]:
    if ch in _PUNCT_RANK:
        return (0, _PUNCT_RANK[ch])
    if ch.isdigit() and ch.isascii():
        return (1, ord(ch))
    if ch.isascii() and ch.isalpha():
        return (2, ord(ch.lower()))
    return (3, ord(ch))


def r_sort_key(label: str) -> tuple:
    """A sort key giving R's (ICU) order of character strings.

    >>> sorted(["b", "B", "a10", "a2", "Ab", "ab", "a_b"], key=r_sort_key)
    ['a_b', 'a10', 'a2', 'ab', 'Ab', 'b', 'B']
    """
    return (tuple(_primary(ch) for ch in label), tuple(ch.isupper() for ch in label))


def r_sorted(labels) -> list:
    """``labels`` sorted as R sorts character vectors."""
    return sorted(labels, key=r_sort_key)
