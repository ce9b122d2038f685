"""JSON Schema export of the top-level records: `python -m schemas.export [--check] [--dir D]`.

Writes `schemas/json/<name>.schema.json`, one per record, deterministically (sorted keys, 2-space
indent, UTF-8, trailing newline) and removes `*.schema.json` files that no longer correspond to a
record. `--check` writes nothing and exits 1 listing the files that are missing, stale or extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

from schemas.batch import Batch
from schemas.catalog import Catalog, Procedure
from schemas.certificate import Certificate
from schemas.checkpoint import Checkpoint, Cosignature
from schemas.dossier import Dossier
from schemas.event import Event, EventDraft
from schemas.finding import Finding
from schemas.office import Office, Officer, Station
from schemas.receipt import Receipt

__all__ = ["JSON_DIR", "RECORDS", "main", "render", "render_all", "stale_files", "write_all"]

JSON_DIR: Final = Path(__file__).resolve().parent / "json"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SUFFIX: Final = ".schema.json"

RECORDS: Final[Mapping[str, tuple[str, Any]]] = {
    # file stem: (title, type)
    "batch": ("Batch", Batch),
    "catalog": ("Catalog", Catalog),
    "catalog-import": ("CatalogImport", list[Procedure]),
    "certificate": ("Certificate", Certificate),
    "checkpoint": ("Checkpoint", Checkpoint),
    "cosignature": ("Cosignature", Cosignature),
    "dossier": ("Dossier", Dossier),
    "event": ("Event", Event),
    "event-draft": ("EventDraft", EventDraft),
    "finding": ("Finding", Finding),
    "office": ("Office", Office),
    "officer": ("Officer", Officer),
    "procedure": ("Procedure", Procedure),
    "receipt": ("Receipt", Receipt),
    "station": ("Station", Station),
}


def render(name: str) -> str:
    """The schema file text of one record."""
    title, tp = RECORDS[name]
    schema: dict[str, Any] = TypeAdapter(tp).json_schema(mode="validation")
    schema["$schema"] = DIALECT
    schema["title"] = title
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name -> text of every schema file."""
    return {f"{name}{SUFFIX}": render(name) for name in RECORDS}


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Files in `directory` that are missing, out of date or no longer generated."""
    want = render_all()
    stale = [
        name
        for name, text in want.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    extra = [p.name for p in directory.glob(f"*{SUFFIX}") if p.name not in want]
    return sorted(stale + extra)


def write_all(directory: Path = JSON_DIR) -> list[str]:
    """Write every schema file whose text changed and remove extra ones; returns changed names."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale_files(directory)
    want = render_all()
    for name in changed:
        path = directory / name
        if name in want:
            path.write_text(want[name], encoding="utf-8", newline="\n")
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.export", description="Export the JSON Schemas of the records."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if any file is stale")
    parser.add_argument("--dir", type=Path, default=JSON_DIR, help="output directory")
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.check:
        stale = stale_files(directory) if directory.is_dir() else sorted(render_all())
        if stale:
            print("stale JSON schemas (run `python -m schemas.export`):", file=sys.stderr)
            for name in stale:
                print(f"  {directory / name}", file=sys.stderr)
            return 1
        return 0
    for name in write_all(directory):
        print(f"updated {directory / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
