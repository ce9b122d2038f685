"""Every `t("...")` string of the TUI has an English translation, and the catalogues are sound:
valid JSON objects of strings, nothing left untranslated, the same placeholders, and one
translation per source string across files (the merge would otherwise pick one silently)."""

from __future__ import annotations

import ast
import json
import string
import unicodedata
from pathlib import Path

import pytest

import commune_client.tui
from commune_client.tui.i18n import catalogue, get_language, set_language, t

TUI = Path(commune_client.tui.__file__).parent
LOCALE_FILES = sorted((TUI / "locale" / "en").glob("*.json"))


def source_strings() -> dict[str, list[str]]:
    """Each string literal passed as the first argument of `t(...)`, with where it is used."""
    found: dict[str, list[str]] = {}
    for path in sorted(TUI.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "t"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                where = f"{path.relative_to(TUI)}:{node.lineno}"
                found.setdefault(node.args[0].value, []).append(where)
    return found


def is_vietnamese(text: str) -> bool:
    """True when the text has a Vietnamese letter (a diacritic, or đ)."""
    if "đ" in text.lower():
        return True
    decomposed = unicodedata.normalize("NFD", text)
    return any(unicodedata.combining(ch) for ch in decomposed)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def load(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data


def test_the_scan_finds_the_screens_strings() -> None:
    found = source_strings()
    assert len(found) > 50
    for expected in ("Đăng nhập cán bộ", "Nhận hôm nay", "Lập báo cáo", "Đồng bộ ngay"):
        assert expected in found


def test_every_tui_string_has_an_english_translation() -> None:
    catalogue.cache_clear()
    english = catalogue("en")
    missing = [
        f"{text!r} ({', '.join(where)})"
        for text, where in sorted(source_strings().items())
        if not english.get(text, "").strip()
    ]
    assert not missing, "no English for:\n" + "\n".join(missing)


def test_there_are_locale_files() -> None:
    names = {p.name for p in LOCALE_FILES}
    assert {"app.json", "today.json", "reports.json", "sync.json"} <= names


@pytest.mark.parametrize("path", LOCALE_FILES, ids=lambda p: p.name)
def test_locale_file_is_a_map_of_translated_strings(path: Path) -> None:
    data = load(path)
    for key, value in data.items():
        assert isinstance(key, str) and key.strip(), f"{path.name}: empty key"
        assert isinstance(value, str), f"{path.name}: {key!r} maps to {type(value).__name__}"
        assert value.strip(), f"{path.name}: {key!r} has an empty translation"
        assert not (value == key and is_vietnamese(key)), f"{path.name}: {key!r} untranslated"
        assert fields(value) == fields(key), (
            f"{path.name}: {key!r} and {value!r} have different placeholders"
        )


def test_one_translation_per_source_string() -> None:
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in LOCALE_FILES:
        for key, value in load(path).items():
            first = seen.setdefault(key, (path.name, value))
            if first[1] != value:
                clashes.append(f"{key!r}: {first[0]} {first[1]!r} vs {path.name} {value!r}")
    assert not clashes, "conflicting translations:\n" + "\n".join(clashes)


def test_t_translates_and_formats() -> None:
    before = get_language()
    try:
        set_language("vi")
        assert t("Chờ gửi: {count} bản ghi", count=3) == "Chờ gửi: 3 bản ghi"
        set_language("en")
        assert t("Chờ gửi: {count} bản ghi", count=3) == "Waiting: 3 entries"
        assert t("a string nobody translated") == "a string nobody translated"
        with pytest.raises(ValueError):
            set_language("fr")
    finally:
        set_language(before)
