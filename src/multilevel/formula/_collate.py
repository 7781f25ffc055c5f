"""Sort labels as R's ``sort()`` / ``factor()`` do for character vectors.

R (built with ICU, as the usual binaries are) sorts strings by the Unicode
collation algorithm's root order, not by code point: punctuation before
digits before letters, letters compared ignoring case first, then lowercase
before uppercase (``"a1" < "a10" < "a2" < "ab" < "aB" < "Ab" < "b" < "B"``).
This module approximates that order for ASCII text; other characters sort by
code point after the letters.
"""

from __future__ import annotations

import unicodedata

__all__ = ["r_sort_key", "r_sorted"]

# ICU root order of whitespace and punctuation (ASCII and typographic quotes).
_PUNCT = " _-,;:!?.'\u2018\u2019\"\u201c\u201d()[]{}@*/\\&#%`^+<=>|~$"
_PUNCT_RANK = {ch: i for i, ch in enumerate(_PUNCT)}


def _weights(ch: str) -> tuple[tuple[int, int], int, bool]:
    """(primary, secondary, tertiary) weights of one character: class and base letter, accent, case."""
    if ch in _PUNCT_RANK:
        return (0, _PUNCT_RANK[ch]), 0, False
    decomposed = unicodedata.normalize("NFD", ch)
    base, accents = decomposed[0], decomposed[1:]
    secondary = sum(ord(a) for a in accents)
    if base.isdigit() and base.isascii():
        return (1, ord(base)), secondary, False
    if base.isascii() and base.isalpha():
        return (2, ord(base.lower())), secondary, base.isupper()
    return (3, ord(ch)), 0, False


def r_sort_key(label: str) -> tuple:
    """A sort key giving R's (ICU) order of character strings.

    Strings are compared by letters ignoring accents and case first, then by
    accents, then by case (lowercase first).

    >>> sorted(["b", "B", "a10", "a2", "Ab", "ab", "a_b", "\u00e9", "E", "e"], key=r_sort_key)
    ['a_b', 'a10', 'a2', 'ab', 'Ab', 'b', 'B', 'e', 'E', '\xe9']
    """
    weights = [_weights(ch) for ch in label]
    return tuple(w[0] for w in weights), tuple(w[1] for w in weights), tuple(w[2] for w in weights)


def r_sorted(labels) -> list:
    """``labels`` sorted as R sorts character vectors."""
    return sorted(labels, key=r_sort_key)
