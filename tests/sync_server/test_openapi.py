"""The committed OpenAPI document (`sync_server/openapi.json`) is the API the hub serves."""

from __future__ import annotations

import json

import httpx
from hubkit import HubServer

from sync_server.openapi import OPENAPI_PATH, openapi_document

REGENERATE = (
    "sync_server/openapi.json is stale: regenerate it with"
    " `.venv/bin/python -m sync_server.openapi` and commit the result"
)

# docs/sync.md "Endpoints" and "Operations": (path, methods).
DOCUMENTED = {
    "/v1/hub": {"get"},
    "/v1/enrol": {"post"},
    "/v1/stations/{sid}": {"get"},
    "/v1/stations/{sid}/entries": {"post"},
    "/v1/offices/{office}/feed": {"get"},
    "/v1/blobs/{sha}": {"head", "patch", "get"},
    "/v1/offices/{office}/portal": {"get"},
    "/v1/portal/files/{sha}": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
    # docs/audit.md "The hub's audit API": read-only, an auditor's bearer token
    "/v1/audit/offices/{office}": {"get"},
    "/v1/audit/stations/{sid}/checkpoints": {"get"},
    "/v1/audit/stations/{sid}/consistency": {"get"},
    "/v1/audit/stations/{sid}/forks": {"get"},
    "/v1/audit/stations/{sid}/ledger": {"get"},
}


def test_committed_openapi_document_is_current() -> None:
    committed = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert committed == openapi_document(), REGENERATE


def test_committed_openapi_document_is_as_the_generator_writes_it() -> None:
    """Byte for byte, so a hand edit (or a stale formatting) shows up in review as a diff."""
    expected = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
    assert OPENAPI_PATH.read_text(encoding="utf-8") == expected, REGENERATE


def test_openapi_document_lists_every_documented_endpoint() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    paths = {
        path: set(ops) & {"get", "post", "patch", "head"} for path, ops in doc["paths"].items()
    }
    assert paths == DOCUMENTED
    # the request bodies the hub parses by hand are still described
    entries = doc["paths"]["/v1/stations/{sid}/entries"]["post"]["requestBody"]
    assert entries["required"] is True
    batch = entries["content"]["application/json"]["schema"]
    assert {"station", "origin", "from", "to", "entries", "checkpoint"} <= set(batch["required"])
    enrol = doc["paths"]["/v1/enrol"]["post"]["requestBody"]["content"]["application/json"]
    assert set(enrol["schema"]["required"]) == {
        "token",
        "office",
        "station",
        "origin",
        "public_key",
    }


def test_the_hub_serves_the_committed_document(live_hub: HubServer) -> None:
    r = httpx.get(f"{live_hub.url}/openapi.json", timeout=10)
    assert r.status_code == 200
    assert r.json() == json.loads(OPENAPI_PATH.read_text(encoding="utf-8")), REGENERATE


def test_openapi_document_describes_signatures_and_refusals() -> None:
    """A client writer learns from the document how to sign and what each refusal looks like:
    the station signature scheme on every station route, the auditors' bearer scheme on the
    audit API, and every 4xx as the one error shape (no FastAPI 422 that the hub never sends)."""
    doc = openapi_document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["stationSignature"]["name"] == "Signature"
    assert "RFC 9421" in schemes["stationSignature"]["description"]
    assert schemes["auditorToken"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    push = doc["paths"]["/v1/stations/{sid}/entries"]["post"]
    assert push["security"] == [{"stationSignature": []}]
    assert {"400", "401", "403", "404", "409", "413", "415", "422"} <= set(push["responses"])
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, status)
            if path.startswith("/v1/audit/"):
                assert operation["security"] == [{"auditorToken": []}], path
            elif path.startswith(("/v1/stations/", "/v1/offices/", "/v1/blobs/")):
                assert operation["security"] == [{"stationSignature": []}], path
