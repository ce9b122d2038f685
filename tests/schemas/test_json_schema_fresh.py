"""The committed JSON Schemas in schemas/json/ match the models, and the exporter behaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.export import JSON_DIR, RECORDS, main, render_all

FIX = "run `python -m schemas.export` and commit schemas/json/"


def test_committed_schemas_are_fresh() -> None:
    want = render_all()
    have = {p.name: p.read_text("utf-8") for p in JSON_DIR.glob("*.schema.json")}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    stale = sorted(name for name in set(want) & set(have) if want[name] != have[name])
    assert not (missing or extra or stale), (
        f"JSON schemas out of date (missing {missing}, extra {extra}, stale {stale}): {FIX}"
    )


def test_schema_files_are_deterministic_json() -> None:
    for name, text in render_all().items():
        assert text.endswith("}\n") and not text.endswith("\n\n"), name
        schema = json.loads(text)
        assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert render_all() == render_all()
    assert set(render_all()) == {f"{stem}.schema.json" for stem in RECORDS}


def test_event_schema_is_a_union_on_action() -> None:
    schema = json.loads(render_all()["event.schema.json"])
    assert schema["discriminator"]["propertyName"] == "action"
    assert len(schema["oneOf"]) == 19
    refuse = schema["$defs"]["RefuseEvent"]
    assert refuse["additionalProperties"] is False
    assert {"action", "beacon", "dossier", "sig"} <= set(refuse["required"])


def test_export_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert "python -m schemas.export" in capsys.readouterr().err
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "event.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "gone.schema.json").write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "event.schema.json" in err and "gone.schema.json" in err and "office" not in err
    assert main(["--dir", str(tmp_path)]) == 0
    assert not (tmp_path / "gone.schema.json").exists()
    assert main(["--check", "--dir", str(tmp_path)]) == 0
