"""Test helpers for the hub: a real uvicorn server on loopback, and a minimal signed client.

`HubServer` runs `sync_server.app` in a background thread on an ephemeral port over real HTTP.
`RawStation` speaks the wire protocol by hand (docs/sync.md) so the hub's tests do not depend
on the station's sync agent; the agent's own tests use the agent.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
import zstandard

from ledger.encoding import b64url
from ledger.httpsig import sign_request
from sync_server.app import create_app
from sync_server.hub import Hub
from sync_server.storage import Storage, open_storage

HUB_NAME = "hub.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubServer:
    """uvicorn in a thread; `url` is `http://127.0.0.1:PORT`."""

    def __init__(self, hub: Hub, port: int | None = None, portal: Any = None) -> None:
        self.hub = hub
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(hub, portal),
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> HubServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the hub did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def running_hub(db: str | Path, *, name: str = HUB_NAME) -> Iterator[HubServer]:
    """A hub over `db` (a `sqlite:///` or `postgresql://` URL, or a directory for SQLite)."""
    storage = open_hub_storage(db)
    server = HubServer(Hub(storage, name=name)).start()
    try:
        yield server
    finally:
        server.stop()
        storage.close()


def open_hub_storage(db: str | Path) -> Storage:
    if isinstance(db, Path):
        return open_storage(f"sqlite:///{db / 'hub.db'}")
    return open_storage(db)


def add_office(hub: Hub, code: str, name: str = "UBND xã thử nghiệm") -> str:
    return str(hub.add_office(code, name)["token"])


class RawStation:
    """The wire protocol by hand: signed requests with a station key (tests only)."""

    def __init__(self, base_url: str, key: Any, *, client: httpx.Client | None = None) -> None:
        self.base_url = base_url
        self.key = key
        self.client = client or httpx.Client(base_url=base_url, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        nonce: str | None = None,
        created: int | None = None,
        key: Any = None,
    ) -> httpx.Response:
        signer = key or self.key
        signed = sign_request(
            signer,
            method=method,
            path=path.split("?", 1)[0],
            body=body,
            keyid=signer.key_id,
            nonce=nonce or b64url(os.urandom(12)),
            created=created,
        )
        return self.client.request(
            method, path, content=body, headers={**signed, **(headers or {})}
        )

    def enrol(self, token: str, office: str, number: int, origin: str) -> httpx.Response:
        body = orjson.dumps(
            {
                "token": token,
                "office": office,
                "station": number,
                "origin": origin,
                "public_key": b64url(self.key.public),
                "name": f"Trạm {number}",
            }
        )
        return self.request("POST", "/v1/enrol", body, headers={"Content-Type": "application/json"})

    def push(
        self,
        sid: str,
        batch: dict[str, Any],
        *,
        encoding: str = "zstd",
        raw: bytes | None = None,
    ) -> httpx.Response:
        body = raw if raw is not None else orjson.dumps(batch)
        if encoding == "zstd":
            body = zstandard.ZstdCompressor(level=6).compress(body)
        headers = {"Content-Type": "application/json"}
        if encoding != "identity":
            headers["Content-Encoding"] = encoding
        return self.request("POST", f"/v1/stations/{sid}/entries", body, headers=headers)


def batch_from_store(
    store: Any, station_ref: str, origin: str, start: int, end: int
) -> dict[str, Any]:
    """A push body for entries [start, end) of a commune_client station store."""
    found = store.checkpoint_at_least(end)
    assert found is not None and found[0] == end, f"no checkpoint of size {end}"
    return {
        "type": "commune.batch/v1",
        "station": station_ref,
        "origin": origin,
        "from": start,
        "to": end,
        "entries": [orjson.loads(leaf) for leaf in store.leaves(start, end)],
        "checkpoint": found[1],
    }
