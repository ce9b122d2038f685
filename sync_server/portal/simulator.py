"""The provincial portal simulator: docs/portal.md "The simulator".

A stand-in for the province's one-stop system, written from the page alone (it never imports
the adapter or the mapping): the five services with the page's validation and error codes, its
own SQLite file, a settable clock, fault injection and the `/_sim/` control endpoints.

It is built on the standard library's `ThreadingHTTPServer`, not on ASGI: the `lost` fault
must close the TCP connection without any answer after committing, and `reset` must close it
before reading the call. An ASGI server answers 500 when an application does not respond, so
those faults cannot be expressed there; a socket we own can.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import socket
import struct
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import click
import orjson

from sync_server.portal._sim_catalog import load_catalog
from sync_server.portal._sim_core import (
    DEFAULT_DSTCODE,
    DEFAULT_PASSWORD,
    DEFAULT_PORT,
    DEFAULT_PROVINCE,
    DEFAULT_USERNAME,
    FAULT_KINDS,
    OK,
    ControlError,
    Endpoint,
    Simulator,
)

__all__ = [
    "DEFAULT_DSTCODE",
    "DEFAULT_PASSWORD",
    "DEFAULT_PORT",
    "DEFAULT_PROVINCE",
    "DEFAULT_USERNAME",
    "FAULT_KINDS",
    "SimHTTPServer",
    "Simulator",
    "make_server",
    "simulate_command",
]

log = logging.getLogger(__name__)

MAX_BODY: Final = 8 * 1024 * 1024
DRAIN_LIMIT: Final = 64 * 1024 * 1024  # larger bodies are not read: the connection is closed


def encode(document: object) -> bytes:
    try:
        return orjson.dumps(document)
    except TypeError:  # orjson.JSONEncodeError: e.g. a lone surrogate echoed in a message
        return json.dumps(document, ensure_ascii=False, default=str).encode("utf-8", "replace")


class _Drop(Exception):
    """End the connection without (further) answer."""


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive clients must not hold up a shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Default prints a traceback to stderr; a misbehaving client is not our error.
        log.debug("simulator: connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: SimHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the adapter's client expects
    server_version = "ProvincialPortalSimulator/1.0"
    sys_version = ""
    timeout = 60  # a stalled client releases its thread

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without NODELAY, Nagle holds the body back
        # until the client's delayed ACK (40 ms per call on Linux).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._guarded("GET")

    def do_POST(self) -> None:
        self._guarded("POST")

    def do_PUT(self) -> None:
        self._guarded("PUT")

    def do_DELETE(self) -> None:
        self._guarded("DELETE")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (bad request line, oversized headers...): JSON as well.
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._json(code, {"error": message or phrase})

    def _guarded(self, method: str) -> None:
        try:
            self._route(method)
        except (_Drop, OSError):
            self.close_connection = True
        except Exception:
            log.exception("simulator: unexpected error on %s %s", method, self.path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(500, {"error": "internal simulator error"})

    def _route(self, method: str) -> None:
        sim = self.server.sim
        try:
            url = urlsplit(self.path)
        except ValueError:
            self.close_connection = True
            self._json(400, {"error": "bad request target"})
            return
        if url.path.startswith("/_sim/"):
            self._control(method, url.path[len("/_sim/") :], url.query)
        elif url.path in (sim.auth_path, sim.service_path):
            if method != "POST":
                self._read_body_or_close()
                self._json(405, {"error": "every call is POST"}, {"Allow": "POST"})
            else:
                self._protocol("auth" if url.path == sim.auth_path else "service")
        else:
            self._read_body_or_close()
            self._json(404, {"error": f"no such path: {url.path}"})

    # -- bodies ----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The request body (Content-Length or chunked), at most MAX_BODY bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length", "0").strip()
        if not raw.isascii() or not raw.isdigit():
            self.close_connection = True
            raise _BodyError(400, "bad Content-Length")
        length = int(raw) if len(raw) < 16 else DRAIN_LIMIT + 1
        if length > MAX_BODY:
            if length <= DRAIN_LIMIT:  # read it away so the client gets to see our answer
                while length > 0:
                    chunk = self.rfile.read(min(length, 1 << 16))
                    if not chunk:
                        raise _Drop
                    length -= len(chunk)
            else:
                self.close_connection = True
            raise _BodyError(413, "body larger than 8 MiB")
        data = self.rfile.read(length)
        if len(data) < length:
            raise _Drop
        return data

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise _BodyError(400, "bad chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                raise _BodyError(413, "body larger than 8 MiB")
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _Drop
            parts.append(chunk)
            self.rfile.readline(1024)

    def _read_body_or_close(self) -> None:
        with contextlib.suppress(_BodyError):
            self._read_body()

    # -- answers ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(
        self, status: int, document: object, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, encode(document), "application/json; charset=utf-8", headers or {})

    def _html_error(self, status: int) -> None:
        phrase = HTTPStatus(status).phrase
        title = f"{status} {phrase}"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        extra = {"Retry-After": "1"} if status == 429 else {}
        self._send(status, page.encode(), "text/html; charset=utf-8", extra)

    def _reset(self) -> None:
        """Abort the connection with an RST, leaving the call unread."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the reader's reference so close() really closes the socket
        self.connection.close()

    # -- the protocol and control ----------------------------------------------------------

    def _protocol(self, endpoint: Endpoint) -> None:
        sim = self.server.sim
        fault = sim.draw_fault()
        if fault == "reset":
            self._reset()
            raise _Drop
        try:
            raw = self._read_body()
        except _BodyError as exc:
            code = "9" if exc.status == 413 else "7"
            self._json(200, {"error_code": code, "message": f"Dữ liệu không hợp lệ: {exc.message}"})
            return
        if fault in ("http500", "http502", "http503", "http429"):
            self._html_error(int(fault[4:]))
            return
        if fault == "garbage":
            self._send(200, sim.garbage(), "application/json", {})
            return
        if fault == "wrongjson":
            self._json(200, {"status": "OK", "message": OK, "data": None})
            return
        if fault == "slow":
            time.sleep(sim.slow_seconds)
        dstcode = self.headers.get("dstcode")
        answer = sim.handle(endpoint, dstcode, raw)
        if fault == "duplicate":
            answer = sim.handle(endpoint, dstcode, raw, replay=True)
        if fault == "lost":
            raise _Drop  # committed; the connection closes without an answer
        self._json(200, answer)

    def _control(self, method: str, name: str, query: str) -> None:
        sim = self.server.sim
        try:
            raw = self._read_body()
        except _BodyError as exc:
            self._json(exc.status, {"error": exc.message})
            return
        routes = {
            "stats": "GET",
            "dump": "GET",
            "config": "POST",
            "clock": "POST",
            "tamper": "POST",
        }
        if name not in routes:
            self._json(404, {"error": f"no such control endpoint: /_sim/{name}"})
            return
        if method != routes[name] and not (name in ("config", "clock") and method == "GET"):
            self._json(405, {"error": f"/_sim/{name} takes {routes[name]}"})
            return
        try:
            change: object = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            self._json(400, {"error": "the body is not JSON"})
            return
        if not isinstance(change, dict):
            self._json(400, {"error": "the body must be a JSON object"})
            return
        try:
            if name == "stats":
                result: object = sim.stats()
            elif name == "dump":
                madonvi = parse_qs(query).get("madonvi", [""])[0] or None
                result = {"data": sim.dump(madonvi)}
            elif name == "config":
                result = sim.configure(change)
            elif name == "clock":
                result = sim.set_clock(change)
            else:
                result = sim.tamper(change)
        except ControlError as exc:
            self._json(exc.status, {"error": exc.message})
            return
        self._json(200, result)


def make_server(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> SimHTTPServer:
    """Bind (port 0: any free port); call `serve_forever()` on the result."""
    return SimHTTPServer((host, port), sim)


# -- command line --------------------------------------------------------------------------


def _rate(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter("must be a number between 0.0 and 1.0")
    return value


@click.command("simulate")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file (default: ./portal-sim.db).",
)
@click.option(
    "--faults",
    "fault_rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    callback=_rate,
    help="Probability that a call suffers a fault (0.0-1.0).",
)
@click.option("--seed", type=int, default=None, help="Seed of the fault RNG.")
@click.option("--province", default=DEFAULT_PROVINCE, show_default=True)
@click.option("--dstcode", default=DEFAULT_DSTCODE, show_default=True)
@click.option("--username", default=DEFAULT_USERNAME, show_default=True)
@click.option("--password", default=DEFAULT_PASSWORD, show_default=True)
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON list in LayDanhSachTTHC's shape (default: a built-in demo catalogue).",
)
def simulate_command(
    port: int,
    host: str,
    db: Path | None,
    fault_rate: float,
    seed: int | None,
    province: str,
    dstcode: str,
    username: str,
    password: str,
    catalog: Path | None,
) -> None:
    """Serve a simulated provincial portal (docs/portal.md) until Ctrl-C."""
    procedures = None
    if catalog is not None:
        try:
            procedures = load_catalog(catalog)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--catalog") from exc
    path = db or Path.cwd() / "portal-sim.db"
    try:
        sim = Simulator(
            path,
            province=province,
            dstcode=dstcode,
            username=username,
            password=password,
            catalog=procedures,
            fault_rate=fault_rate,
            seed=seed,
        )
    except Exception as exc:  # sqlite3.Error, OSError: an unusable --db
        raise click.ClickException(f"cannot open {path}: {exc}") from exc
    try:
        server = make_server(sim, host, port)
    except OSError as exc:
        sim.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    click.echo(
        f"Provincial portal simulator ({province}) listening on {server.url}"
        f" (db {path}, faults {fault_rate})"
    )
    # Ctrl-C and SIGTERM stop it cleanly, even when started with SIGINT ignored (a background
    # job of a shell without job control inherits that, and Python then keeps it ignored).
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sim.close()
