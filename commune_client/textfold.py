"""Diacritic-insensitive search text (DOMAIN "Text"): NFD, drop combining marks, đ/Đ -> d/D,
lower case. SQLite FTS5's `remove_diacritics` does not fold đ, so we fold before indexing and
before querying; "Nguyễn Văn Đức" is found by "nguyen van duc", "Nguyễn" and "duc"."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "fts_query"]

_D = str.maketrans({"đ": "d", "Đ": "D"})
_TOKEN = re.compile(r"[0-9a-z]+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_D))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression: every word must match, the last one as a prefix.

    Tokens are quoted, so user input can never be FTS syntax. None when nothing searchable.
    """
    tokens = _TOKEN.findall(fold(text))
    if not tokens:
        return None
    parts = [f'"{t}"' for t in tokens[:-1]] + [f'"{tokens[-1]}"*']
    return " AND ".join(parts)
