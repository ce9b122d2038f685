"""The committed OpenAPI document (`sync_server/openapi.json`): a test fails when it is stale.

FastAPI generates the routes and bodies; `describe` adds what it cannot know: how a station
signs its requests (RFC 9421, a scheme OpenAPI has no type for, so it is described as the
`Signature` header with its profile in words), the auditors' bearer tokens, and the refusals
each operation can answer, all in the one error shape `{"error", "detail"}`. FastAPI's own
"422 HTTPValidationError" is removed: the hub answers a malformed request 400 in the error
shape (`app.validation_error`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["OPENAPI_PATH", "describe", "openapi_document"]

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "a stable code, e.g. `gap`, `replayed`"},
        "detail": {"type": "string", "description": "a sentence for people"},
    },
    "additionalProperties": True,
    "description": "Every refusal. Some codes carry more keys: `gap` and `fork` the hub's "
    "`size`, `invalid-entries` its `findings`.",
}

STATION_SIGNATURE: dict[str, Any] = {
    "type": "apiKey",
    "in": "header",
    "name": "Signature",
    "description": "RFC 9421 HTTP Message Signature by the station key (Ed25519), label "
    '`sig1`, covering `("@method" "@path" "content-digest")` with the parameters `created`, '
    '`keyid` (the station key id), `alg="ed25519"` and a random `nonce`; sent with '
    "`Signature-Input` and an RFC 9530 `Content-Digest: sha-256=:...:` of the body as sent "
    "(compressed). `created` may be at most 300 s old and 60 s ahead; a nonce is accepted "
    "once in that window (a replay answers 401 `replayed`). docs/sync.md has an example.",
}

AUDITOR_TOKEN: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "An auditor's read-only token (`sync-server auditor token NAME`).",
}

_WHY: dict[int, str] = {
    400: "malformed request: bad parameters, JSON, encoding or office code",
    401: "missing or bad signature or token, stale `created`, replayed nonce",
    403: "authenticated but not allowed: another office's log or feed, a revoked key, a bad link",
    404: "unknown station, office, blob or auditor",
    409: "conflict: `gap` (resend from `size`), `fork`/`forked`, `offset-mismatch` (with "
    "`offset`), `length-mismatch`, `station-exists`, `already-replaced`",
    410: "the signed link has expired",
    413: "body too large (compressed or inflated)",
    415: "unsupported Content-Encoding",
    422: "well-formed but refused: `invalid-entries` (with `findings`), `bad-checkpoint`, "
    "`bad-key`, `digest-mismatch`",
    503: "not ready: the database does not answer",
}

_STATION = (400, 401, 403, 404)
_AUDIT = (400, 401, 403, 404)
# What each operation can refuse with (the HubErrors its handler and hub method raise).
_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("get", "/readyz"): (503,),
    ("post", "/v1/enrol"): (400, 401, 403, 404, 409, 413, 422),
    ("get", "/v1/stations/{sid}"): _STATION,
    ("post", "/v1/stations/{sid}/entries"): (*_STATION, 409, 413, 415, 422),
    ("get", "/v1/offices/{office}/feed"): _STATION,
    ("get", "/v1/offices/{office}/portal"): _STATION,
    ("get", "/v1/portal/files/{sha}"): (400, 403, 404, 410),
    ("head", "/v1/blobs/{sha}"): _STATION,
    ("patch", "/v1/blobs/{sha}"): (*_STATION, 409, 413, 422),
    ("get", "/v1/blobs/{sha}"): _STATION,
    ("get", "/v1/audit/offices/{office}"): _AUDIT,
    ("get", "/v1/audit/stations/{sid}/checkpoints"): _AUDIT,
    ("get", "/v1/audit/stations/{sid}/consistency"): _AUDIT,
    ("get", "/v1/audit/stations/{sid}/forks"): _AUDIT,
    ("get", "/v1/audit/stations/{sid}/ledger"): _AUDIT,
}


def describe(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the security schemes and the error answers to FastAPI's document (in place)."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        "stationSignature": STATION_SIGNATURE,
        "auditorToken": AUDITOR_TOKEN,
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's validation answer; ours is 400 (see above)
            for status in _ERRORS.get((method, path), ()):
                responses[str(status)] = {"description": _WHY[status], "content": error}
            if path.startswith("/v1/audit/"):
                operation["security"] = [{"auditorToken": []}]
            elif path.startswith(("/v1/stations/", "/v1/offices/", "/v1/blobs/")) or path == (
                "/v1/enrol"
            ):
                operation["security"] = [{"stationSignature": []}]
    return doc


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, built from the app without a database."""
    from sync_server.app import create_app

    app = create_app(None)  # type: ignore[arg-type]  # routes only; no request is served
    doc: dict[str, Any] = app.openapi()
    return doc


if __name__ == "__main__":
    import json

    OPENAPI_PATH.write_text(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")
