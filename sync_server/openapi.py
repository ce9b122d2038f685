"""The committed OpenAPI document (`sync_server/openapi.json`): a test fails when it is stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["OPENAPI_PATH", "openapi_document"]

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, built from the app without a database."""
    from sync_server.app import create_app

    app = create_app(None)  # type: ignore[arg-type]  # routes only; no request is served
    doc: dict[str, Any] = app.openapi()
    return doc


if __name__ == "__main__":
    import json

    OPENAPI_PATH.write_text(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")
