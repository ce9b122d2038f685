"""The hub's HTTP API (FastAPI): a thin layer over `sync_server.hub.Hub` (docs/sync.md).

Request bodies are read with a hard cap before anything else, the RFC 9421 signature is checked
over the bytes on the wire, and only then is the body decompressed (again with a cap, so a
small zstd bomb cannot exhaust memory). Every refusal is JSON `{"error", "detail"}`; an
unexpected failure is logged with its traceback and answered 500 without one.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from schemas.batch import Batch
from sync_server.dashboard import install as install_dashboard
from sync_server.errors import HubError
from sync_server.hub import Hub
from sync_server.openapi import describe
from sync_server.storage import StationRow

if TYPE_CHECKING:  # the portal's modules load only in a hub that forwards
    from sync_server.portal.service import PortalService

__all__ = ["MAX_BODY", "MAX_INFLATED", "create_app"]

MAX_BODY = 8 * 1024 * 1024
MAX_INFLATED = 64 * 1024 * 1024
log = logging.getLogger("sync_server")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: what log collectors ingest without parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _error(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


async def _read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise HubError(413, "too-large", f"the body is over {limit} bytes")
        except ValueError as exc:
            raise HubError(400, "bad-request", "Content-Length is not a number") from exc
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise HubError(413, "too-large", f"the body is over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:  # the link dropped mid-body: nothing was read, nothing stored
        raise HubError(400, "client-disconnected", "the connection closed mid-body") from exc
    return b"".join(chunks)


def _inflate(body: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    try:
        if encoding == "identity":
            return body
        if encoding == "zstd":
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(body)
            out = reader.read(MAX_INFLATED + 1)
            while len(out) <= MAX_INFLATED:
                more = reader.read(MAX_INFLATED + 1 - len(out))
                if not more:
                    break
                out += more
        elif encoding == "gzip":
            inflater = zlib.decompressobj(wbits=31)
            out = inflater.decompress(body, MAX_INFLATED + 1)
        else:
            raise HubError(415, "unsupported-encoding", f"Content-Encoding {encoding!r}")
    except (zlib.error, ValueError) as exc:
        raise HubError(400, "bad-request", f"the {encoding} body does not decompress") from exc
    except Exception as exc:
        if type(exc).__name__ == "ZstdError":
            raise HubError(400, "bad-request", "the zstd body does not decompress") from exc
        raise
    if len(out) > MAX_INFLATED:
        raise HubError(413, "too-large", f"the body inflates past {MAX_INFLATED} bytes")
    return out


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HubError(400, "bad-request", f"the body is not JSON: {exc}") from exc


def create_app(hub: Hub, portal: PortalService | None = None) -> FastAPI:
    app = FastAPI(
        title="commune-ledger hub",
        version="1",
        description="Sync hub for commune one-stop desks (docs/sync.md).",
    )
    registry = CollectorRegistry()
    requests = Counter(
        "hub_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram("hub_http_request_seconds", "request time", ["route"], registry=registry)
    app.state.hub = hub

    async def station_request(request: Request, body: bytes) -> tuple[StationRow | None, str]:
        path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        return await anyio.to_thread.run_sync(
            hub.authenticate, request.method, path.split("?", 1)[0], dict(request.headers), body
        )

    async def signed_station(request: Request, body: bytes = b"") -> StationRow:
        st, _ = await station_request(request, body)
        if st is None:
            raise HubError(401, "unknown-key", "the signing key is not an enrolled station")
        return st

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> JSONResponse:
        headers = None
        if exc.status == 401 and request.url.path.startswith("/v1/audit/"):
            headers = {"WWW-Authenticate": 'Bearer realm="commune-audit"'}  # RFC 6750
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[:3]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in first)
        return _error(400, "bad-request", detail or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc, extra={"fields": {"path": request.url.path}})
        return _error(500, "internal", "the hub failed; the error is logged")

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        requests.labels(request.method, name, str(response.status_code)).inc()
        latency.labels(name).observe(elapsed)
        if response.status_code >= 400 or log.isEnabledFor(logging.DEBUG):
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": request.method,
                        "path": request.url.path,
                        "status": response.status_code,
                        "ms": round(elapsed * 1000, 1),
                    }
                },
            )
        return response

    # -- operations ----------------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        if hub.storage.ping():
            return JSONResponse({"status": "ready"})
        return _error(503, "not-ready", "the database does not answer")

    @app.get("/metrics", tags=["operations"])
    def metrics() -> Response:
        text = generate_latest(registry).decode()
        text += "".join(
            f"# TYPE hub_{k}_total counter\nhub_{k}_total {v}\n"
            for k, v in sorted(hub.metrics.items())
        )
        if portal is not None:
            text += portal.metrics_text()
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    # -- hub and enrolment ---------------------------------------------------------------------
    @app.get("/v1/hub", tags=["hub"])
    def hub_info() -> dict[str, Any]:
        return hub.info()

    @app.post(
        "/v1/enrol",
        tags=["hub"],
        status_code=201,
        openapi_extra={"requestBody": _json_body(_ENROL_SCHEMA)},
    )
    async def enrol(request: Request) -> JSONResponse:
        body = await _read_body(request, 64 * 1024)
        _, keyid = await station_request(request, body)
        payload = _json(body)
        if not isinstance(payload, dict):
            raise HubError(400, "bad-request", "the body must be a JSON object")
        status, answer = await anyio.to_thread.run_sync(hub.enrol, payload, keyid)
        return JSONResponse(answer, status_code=status)

    # -- stations ------------------------------------------------------------------------------
    @app.get("/v1/stations/{sid}", tags=["stations"])
    async def station_status(sid: str, request: Request) -> dict[str, Any]:
        st = await signed_station(request)
        return await anyio.to_thread.run_sync(hub.status, st, sid)

    @app.post(
        "/v1/stations/{sid}/entries",
        tags=["stations"],
        openapi_extra={"requestBody": _json_body(Batch.model_json_schema(by_alias=True))},
    )
    async def push(sid: str, request: Request) -> dict[str, Any]:
        body = await _read_body(request)
        st = await signed_station(request, body)
        raw = _inflate(body, request.headers.get("content-encoding"))
        answer = await anyio.to_thread.run_sync(hub.push, st, sid, raw)
        return answer

    @app.get("/v1/offices/{office}/feed", tags=["stations"])
    async def feed(office: str, request: Request, after: int = 0, limit: int = 200) -> Response:
        st = await signed_station(request)
        if not 0 <= after < 2**63:  # a cursor is a 64-bit integer in the database
            raise HubError(400, "bad-request", "after must be a cursor >= 0")
        body = await anyio.to_thread.run_sync(hub.feed, st, office, after, limit)
        return Response(body, media_type="application/json")

    @app.get("/v1/offices/{office}/portal", tags=["stations"])
    async def portal_accepted(
        office: str, request: Request, after: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        """Dossiers of the office that the provincial portal accepted (their version), at or
        after `after` (unix seconds): the station's "accepted by portal" sync state."""
        st = await signed_station(request)
        if not 0 <= after < 2**63:
            raise HubError(400, "bad-request", "after must be unix seconds >= 0")
        return await anyio.to_thread.run_sync(hub.portal_accepted, st, office, after, limit)

    @app.get("/v1/portal/files/{sha}", tags=["portal"])
    async def portal_file(sha: str, exp: int = 0, sig: str = "") -> Response:
        """A scan for the provincial portal (`DuongDanTaiTepTin`): an expiring signed link."""
        data = await anyio.to_thread.run_sync(hub.portal_file, sha, exp, sig)
        return Response(data, media_type="application/octet-stream")

    # -- blobs ---------------------------------------------------------------------------------
    @app.head("/v1/blobs/{sha}", tags=["blobs"])
    async def blob_head(sha: str, request: Request) -> Response:
        await signed_station(request)
        length, received, complete = await anyio.to_thread.run_sync(hub.blob_offset, sha)
        return Response(
            headers={
                "Upload-Offset": str(received),
                "Upload-Length": str(length),
                "Upload-Complete": "1" if complete else "0",
            }
        )

    @app.patch("/v1/blobs/{sha}", tags=["blobs"])
    async def blob_patch(sha: str, request: Request) -> dict[str, Any]:
        body = await _read_body(request, 1024 * 1024)
        await signed_station(request, body)
        try:
            offset = int(request.headers["upload-offset"])
            length = int(request.headers["upload-length"])
        except (KeyError, ValueError) as exc:
            raise HubError(
                400, "bad-request", "Upload-Offset and Upload-Length are needed"
            ) from exc
        return await anyio.to_thread.run_sync(hub.blob_append, sha, offset, length, body)

    @app.get("/v1/blobs/{sha}", tags=["blobs"])
    async def blob_get(sha: str, request: Request) -> Response:
        await signed_station(request)
        data = await anyio.to_thread.run_sync(hub.blob_get, sha)
        return Response(data, media_type="application/octet-stream")

    # -- auditors (read-only, bearer token; docs/audit.md "The hub's audit API") -----------------
    async def auditor(request: Request) -> str:
        header = request.headers.get("authorization")
        return await anyio.to_thread.run_sync(hub.auditor, header)

    @app.get("/v1/audit/offices/{office}", tags=["audit"])
    async def audit_office(office: str, request: Request) -> dict[str, Any]:
        """The office's stations: origin, size, latest cosigned checkpoint, certificates,
        revocation point, fork flag."""
        await auditor(request)
        return await anyio.to_thread.run_sync(hub.audit_office, office)

    @app.get("/v1/audit/stations/{sid}/checkpoints", tags=["audit"])
    async def audit_checkpoints(
        sid: str, request: Request, after: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        """Every station checkpoint the hub accepted (sizes > `after`), as the station signed
        it (`note`) and with the hub's cosignature (`cosigned`), and the hub's time."""
        await auditor(request)
        return await anyio.to_thread.run_sync(hub.audit_checkpoints, sid, after, limit)

    @app.get("/v1/audit/stations/{sid}/consistency", tags=["audit"])
    async def audit_consistency(
        sid: str, request: Request, first: int, second: int
    ) -> dict[str, Any]:
        """RFC 6962 consistency proof from size `first` to size `second` of the hub's copy."""
        await auditor(request)
        return await anyio.to_thread.run_sync(hub.audit_consistency, sid, first, second)

    @app.get("/v1/audit/stations/{sid}/forks", tags=["audit"])
    async def audit_forks(sid: str, request: Request) -> dict[str, Any]:
        """The fork evidence the hub kept for the station."""
        await auditor(request)
        return await anyio.to_thread.run_sync(hub.audit_forks, sid)

    @app.get("/v1/audit/stations/{sid}/ledger", tags=["audit"])
    async def audit_ledger(sid: str, request: Request) -> StreamingResponse:
        """The hub's copy of the log in the `commune export-ledger` format (JSON lines)."""
        await auditor(request)
        lines = await anyio.to_thread.run_sync(hub.audit_ledger, sid)
        return StreamingResponse(lines, media_type="application/jsonl")

    install_dashboard(app, hub, portal)
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated document plus what FastAPI cannot know (`sync_server.openapi`)."""
        if app.openapi_schema is None:
            app.openapi_schema = describe(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_ENROL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["token", "office", "station", "origin", "public_key"],
    "properties": {
        "token": {"type": "string"},
        "office": {"type": "string"},
        "station": {"type": "integer", "minimum": 1, "maximum": 9},
        "origin": {"type": "string"},
        "public_key": {"type": "string"},
        "name": {"type": "string"},
    },
}
