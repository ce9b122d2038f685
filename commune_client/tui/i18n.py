"""Translations. Source strings are Vietnamese (the officers' language, the default); English
comes from JSON catalogues in `locale/en/*.json` (one file per screen, merged), committed with
the code. `t("Tiếp nhận hồ sơ")` returns the string in the current language; placeholders use
str.format: `t("Đã tiếp nhận hồ sơ {code}", code=c)`. A test checks every `t()` string in the
TUI has an English entry (`tests/tui/test_i18n.py`).

Why not gettext .po/.mo: the same effect with no compile step and no binary files in the repo,
and the catalogue is checked by a test instead of by msgfmt."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["LANGUAGES", "catalogue", "get_language", "set_language", "t"]

LANGUAGES = ("vi", "en")
_LOCALE = Path(__file__).parent / "locale"
_state = {"lang": "vi"}


@cache
def catalogue(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    folder = _LOCALE / lang
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def set_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    _state["lang"] = lang


def get_language() -> str:
    return _state["lang"]


def t(text: str, **values: Any) -> str:
    lang = _state["lang"]
    out = text if lang == "vi" else catalogue(lang).get(text, text)
    return out.format(**values) if values else out
