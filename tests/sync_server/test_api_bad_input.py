"""Bad input at the hub's HTTP API (docs/sync.md): every refusal is the documented 4xx with a
JSON `{"error", "detail"}` body, and NOTHING is stored.

Each test runs against a real uvicorn server over real HTTP, on both storage backends (the
`live_hub` fixture is parametrized sqlite/postgresql). "Nothing is stored" is checked on the
hub's database: every table except the nonce table (a refused request may still burn its
nonce; that is what makes a replay of it fail too) must be exactly as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import zstandard
from hubkit import HubServer, RawStation, add_office, batch_from_store
from stationkit import APPLICANT, OFFICE, T0

from commune_client import desk
from commune_client.station import Session, Station
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import b64url, key_id
from ledger.httpsig import sign_request
from ledger.keys import SigningKey
from ledger.log import ENVELOPE, StationLog
from ledger.merkle import MemoryNodeStore, leaf_hash
from schemas.canonical import canonical
from sync_server.app import MAX_BODY, MAX_INFLATED
from sync_server.hub import Hub

OTHER_OFFICE = "000.00.17.H57"
SID = f"{OFFICE}-1"
PUSH = f"/v1/stations/{SID}/entries"

# Every table but `nonces` and `hub_meta` (keys made at start-up).
TABLES = (
    "offices",
    "tokens",
    "stations",
    "entries",
    "nodes",
    "checkpoints",
    "certs",
    "forks",
    "dossiers",
    "dossier_events",
    "feed_counters",
    "feed",
    "blobs",
    "blob_chunks",
)


def stored(hub: Hub) -> dict[str, Any]:
    """Everything a request could have changed at the hub, nonces aside."""
    with hub.storage.transaction() as tx:
        return {
            "counts": {t: int(tx.one(f"SELECT COUNT(*) FROM {t}")[0]) for t in TABLES},
            "entries": tx.entry_count(),
            "stations": [
                (
                    s.sid,
                    s.key_id,
                    s.size,
                    s.root,
                    s.checkpoint,
                    s.cosigned,
                    s.forked,
                    s.revoked_through,
                    s.verify_state,
                )
                for s in tx.stations()
            ],
            "tokens_used": [
                tuple(r) for r in tx.all("SELECT hash, used_by FROM tokens ORDER BY hash")
            ],
            "feeds": {o["code"]: tx.feed_end(o["code"]) for o in tx.offices()},
            "forks": tx.forks(),
            "blobs": [
                (r[0], int(r[1]), int(r[2]), bool(r[3]))
                for r in tx.all(
                    "SELECT sha256, length, received, complete FROM blobs ORDER BY sha256"
                )
            ],
        }


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The documented refusal: `status`, JSON `{"error": code, "detail": text, ...}`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert "Traceback" not in response.text
    return body


@dataclass
class Env:
    """A hub with office OFFICE, and station 1 of it enrolled (nothing pushed yet)."""

    server: HubServer
    station: Station
    session: Session
    raw: RawStation
    token: str
    enrolment: dict[str, Any]

    @property
    def hub(self) -> Hub:
        return self.server.hub

    @property
    def size(self) -> int:
        return self.station.store.size()

    def batch(self, start: int, end: int) -> dict[str, Any]:
        info = self.station.info
        return batch_from_store(self.station.store, info.ref, info.origin, start, end)

    def push_all(self) -> dict[str, Any]:
        r = self.raw.push(SID, self.batch(0, self.size))
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        assert answer["accepted"] == self.size
        return answer

    def other(self, key: SigningKey | None = None) -> RawStation:
        """Another signer on the same connection pool."""
        return RawStation(self.server.url, key or SigningKey.generate(), client=self.raw.client)

    def enrol_other(self, office: str, number: int) -> RawStation:
        """A second enrolled station (a fresh key), e.g. station 2 or another office's."""
        token = add_office(self.hub, office)
        other = self.other()
        r = other.enrol(token, office, number, f"local/office/{office}/{number}/e0")
        assert r.status_code == 201, r.text
        return other


@pytest.fixture
def env(live_hub: HubServer, station: Station, session: Session) -> Iterator[Env]:
    for i in range(2):  # two dossiers: the log is station-open, officer-enrol, receive x2
        desk.receive(
            session,
            procedure="1.001193",
            applicant=APPLICANT,
            now=T0 + timedelta(minutes=10 * i),
        )
    token = add_office(live_hub.hub, OFFICE)
    raw = RawStation(live_hub.url, session.station_key)
    r = raw.enrol(token, OFFICE, 1, station.info.origin)
    assert r.status_code == 201, r.text
    try:
        yield Env(live_hub, station, session, raw, token, r.json())
    finally:
        raw.client.close()


def post_signed(
    env: Env,
    body: bytes,
    *,
    path: str = PUSH,
    sign_body: bytes | None = None,
    headers: dict[str, str] | None = None,
    created: int | None = None,
    key: SigningKey | None = None,
) -> httpx.Response:
    """A POST signed over `sign_body` (default: the body sent), with extra `headers`."""
    signer = key or env.session.station_key
    signed = sign_request(
        signer,
        method="POST",
        path=path,
        body=body if sign_body is None else sign_body,
        keyid=signer.key_id,
        nonce=b64url(os.urandom(12)),
        created=created,
    )
    return env.raw.client.post(path, content=body, headers={**signed, **(headers or {})})


# -- malformed bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["identity", "zstd"])
def test_push_body_that_is_not_json(env: Env, encoding: str) -> None:
    before = stored(env.hub)
    r = env.raw.push(SID, {}, encoding=encoding, raw=b'{"type": "commune.batch/v1", "entr')
    refused(r, 400, "bad-request")
    assert stored(env.hub) == before


@pytest.mark.parametrize(
    "body",
    [
        [],
        "commune.batch/v1",
        None,
        42,
        {},
        {"type": "commune.batch/v1"},
        {"hello": "world"},
    ],
    ids=["list", "string", "null", "number", "empty", "type-only", "other-object"],
)
def test_push_json_that_is_not_a_batch(env: Env, body: Any) -> None:
    before = stored(env.hub)
    r = env.raw.push(SID, {}, raw=orjson.dumps(body))
    refused(r, 400, "bad-request")
    assert stored(env.hub) == before


def test_push_batch_with_unknown_fields_or_wrong_types(env: Env) -> None:
    good = env.batch(0, env.size)
    before = stored(env.hub)
    for bad in (
        {**good, "extra": 1},
        {**good, "type": "commune.batch/v2"},
        {**good, "from": "0"},
        {**good, "from": -1},
        {**good, "entries": "none"},
        {**good, "entries": [1, 2, 3, 4]},
        {**good, "checkpoint": 7},
        {**good, "station": "not a station"},
    ):
        refused(env.raw.push(SID, bad), 400, "bad-request")
    assert stored(env.hub) == before


@pytest.mark.parametrize(
    ("start", "end", "entries"),
    [
        (0, 4, slice(0, 3)),  # fewer entries than the range
        (0, 3, slice(0, 4)),  # more entries than the range
        (2, 1, slice(0, 0)),  # to < from
        (1, 4, slice(0, 4)),  # as many entries as the log, one fewer in the range
    ],
)
def test_push_batch_whose_range_does_not_match_its_entries(
    env: Env, start: int, end: int, entries: slice
) -> None:
    full = env.batch(0, env.size)
    bad = {**full, "from": start, "to": end, "entries": full["entries"][entries]}
    bad["checkpoint"] = env.station.store.checkpoint_at(max(end, 1))
    before = stored(env.hub)
    refused(env.raw.push(SID, bad), 400, "bad-request")
    assert stored(env.hub) == before


def test_push_entries_at_the_wrong_positions(env: Env) -> None:
    """`from`/`to` and the count agree, but the entries are those of another range."""
    assert env.raw.push(SID, env.batch(0, 2)).status_code == 200
    shifted = env.batch(2, 4)
    shifted["entries"] = env.batch(1, 3)["entries"]
    before = stored(env.hub)
    body = refused(env.raw.push(SID, shifted), 422, "invalid-entries")
    assert any(f["index"] == 2 for f in body["findings"]), body
    assert stored(env.hub) == before


@pytest.mark.parametrize("field", ["claimed_time", "data", "officer", "sig"])
def test_push_entry_with_a_tampered_field(env: Env, field: str) -> None:
    batch = env.batch(0, env.size)
    entry = dict(batch["entries"][2])
    if field == "claimed_time":
        entry["claimed_time"] = entry["claimed_time"].replace("07:30", "07:31")
    elif field == "data":
        entry["data"] = {**entry["data"], "summary": "thêm một dòng"}
    elif field == "officer":
        entry["officer"] = env.session.station_key.key_id
    else:
        sig = entry["sig"]
        entry["sig"] = sig[:-3] + ("A" if sig[-3] != "A" else "B") + sig[-2:]
    assert entry != batch["entries"][2]
    batch["entries"][2] = entry
    before = stored(env.hub)
    body = refused(env.raw.push(SID, batch), 422, "invalid-entries")
    assert any(f["index"] == 2 for f in body["findings"]), body
    assert all({"index", "code", "message"} <= set(f) for f in body["findings"])
    assert stored(env.hub) == before
    # The untampered run still goes in afterwards: the refusal left no trace.
    env.push_all()


def test_push_entry_with_a_field_of_the_wrong_type(env: Env) -> None:
    batch = env.batch(0, env.size)
    batch["entries"][3] = {**batch["entries"][3], "claimed_time": 1.5}
    before = stored(env.hub)
    body = refused(env.raw.push(SID, batch), 422, "invalid-entries")
    assert {f["index"] for f in body["findings"]} == {3}, body
    assert stored(env.hub) == before


def _checkpoint(*, origin: str, size: int, key: SigningKey, root: bytes) -> str:
    return sign_checkpoint(Checkpoint(origin, size, root), key)


@pytest.mark.parametrize("case", ["smaller", "larger", "signer", "origin", "garbage", "unsigned"])
def test_push_with_a_bad_checkpoint(env: Env, case: str) -> None:
    n, origin = env.size, env.station.info.origin
    batch = env.batch(0, n)
    root = _root(env, n)
    if case == "smaller":
        batch["checkpoint"] = env.station.store.checkpoint_at(n - 1)
    elif case == "larger":
        batch["checkpoint"] = _checkpoint(
            origin=origin, size=n + 1, key=env.session.station_key, root=root
        )
    elif case == "signer":  # the officer's key, not the station's
        batch["checkpoint"] = _checkpoint(origin=origin, size=n, key=env.session.officer, root=root)
    elif case == "origin":  # the station's key, over another origin
        other = origin.replace(f"/{OFFICE}/1/", f"/{OFFICE}/2/")
        batch["checkpoint"] = _checkpoint(
            origin=other, size=n, key=env.session.station_key, root=root
        )
    elif case == "garbage":
        batch["checkpoint"] = "not a note"
    else:
        batch["checkpoint"] = Checkpoint(origin, n, root).text()
    before = stored(env.hub)
    refused(env.raw.push(SID, batch), 422, "bad-checkpoint")
    assert stored(env.hub) == before


def test_push_with_a_checkpoint_whose_root_is_wrong(env: Env) -> None:
    n = env.size
    batch = env.batch(0, n)
    batch["checkpoint"] = _checkpoint(
        origin=env.station.info.origin,
        size=n,
        key=env.session.station_key,
        root=hashlib.sha256(b"another tree").digest(),
    )
    before = stored(env.hub)
    body = refused(env.raw.push(SID, batch), 422, "invalid-entries")
    assert body["findings"], body
    assert stored(env.hub) == before


def _root(env: Env, size: int) -> bytes:
    log = StationLog(
        env.station.info.origin, env.station.info.ref, env.session.station_key, MemoryNodeStore()
    )
    for leaf in env.station.store.leaves(0, size):
        log.tree.append_hash(leaf_hash(leaf))
    return log.root()


def test_push_with_a_gap(env: Env) -> None:
    before = stored(env.hub)
    body = refused(env.raw.push(SID, env.batch(2, env.size)), 409, "gap")
    assert body["size"] == 0
    assert stored(env.hub) == before
    r = env.raw.push(SID, env.batch(0, 2))
    assert r.status_code == 200, r.text
    before = stored(env.hub)
    body = refused(env.raw.push(SID, env.batch(3, env.size)), 409, "gap")
    assert body["size"] == 2
    assert stored(env.hub) == before


# -- oversized and compressed bodies -----------------------------------------------------------


def test_body_over_8_mib_is_refused(env: Env) -> None:
    before = stored(env.hub)
    big = b" " * (MAX_BODY + 1)
    refused(post_signed(env, big), 413, "too-large")
    assert stored(env.hub) == before


def test_chunked_body_over_8_mib_is_refused(env: Env) -> None:
    """No Content-Length to refuse early: the hub counts the bytes as they come."""
    size = MAX_BODY + 1024 * 1024
    body = b" " * size
    signed = sign_request(
        env.session.station_key,
        method="POST",
        path=PUSH,
        body=body,
        keyid=env.session.station_key.key_id,
        nonce=b64url(os.urandom(12)),
    )

    def chunks() -> Iterator[bytes]:
        for i in range(0, size, 1024 * 1024):
            yield body[i : i + 1024 * 1024]

    before = stored(env.hub)
    r = env.raw.client.post(PUSH, content=chunks(), headers=signed)
    assert "content-length" not in r.request.headers
    refused(r, 413, "too-large")
    assert stored(env.hub) == before


def _zstd_bomb(inflated: int) -> bytes:
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    zeros = bytes(1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(inflated // len(zeros))]
    return b"".join(parts) + compressor.flush()


def test_zstd_bomb_is_refused_without_inflating_it(env: Env) -> None:
    inflated = 1024 * 1024 * 1024  # 1 GiB of zeros in a few tens of KiB
    bomb = _zstd_bomb(inflated)
    assert len(bomb) < 64 * 1024
    before = stored(env.hub)
    tracemalloc.start()
    try:
        r = post_signed(env, bomb, headers={"Content-Encoding": "zstd"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    refused(r, 413, "too-large")
    # The hub (in this process) stops at the 64 MiB cap: far from the bomb's 1 GiB.
    assert peak < 2 * MAX_INFLATED, f"peak {peak / 2**20:.0f} MiB while refusing a zstd bomb"
    assert stored(env.hub) == before


def test_gzip_bomb_is_refused(env: Env) -> None:
    bomb = gzip.compress(bytes(MAX_INFLATED + 1024 * 1024), compresslevel=9)
    assert len(bomb) < MAX_BODY
    before = stored(env.hub)
    refused(post_signed(env, bomb, headers={"Content-Encoding": "gzip"}), 413, "too-large")
    assert stored(env.hub) == before


def test_batch_compressed_with_gzip_is_accepted(env: Env) -> None:
    """The control for the refusals around it: the same path with a good body works."""
    body = gzip.compress(orjson.dumps(env.batch(0, env.size)))
    r = post_signed(env, body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == env.size


@pytest.mark.parametrize("encoding", ["br", "compress", "deflate", "gzip, zstd", "x-zstd"])
def test_unknown_content_encoding(env: Env, encoding: str) -> None:
    before = stored(env.hub)
    body = orjson.dumps(env.batch(0, env.size))
    refused(
        post_signed(env, body, headers={"Content-Encoding": encoding}),
        415,
        "unsupported-encoding",
    )
    assert stored(env.hub) == before


@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("zstd", lambda b: b"\x28\xb5\x2f\xfd" + os.urandom(64)),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)[:-12]),
        ("zstd", lambda b: b),
        ("gzip", lambda b: b"\x1f\x8b\x08\x00" + os.urandom(64)),
        ("gzip", lambda b: b),
        ("gzip", lambda b: gzip.compress(b)[:-30]),
    ],
    ids=["zstd-noise", "zstd-truncated", "zstd-plain", "gzip-noise", "gzip-plain", "gzip-cut"],
)
def test_corrupt_compressed_body(env: Env, encoding: str, make: Any) -> None:
    before = stored(env.hub)
    body = make(orjson.dumps(env.batch(0, env.size)))
    refused(post_signed(env, body, headers={"Content-Encoding": encoding}), 400, "bad-request")
    assert stored(env.hub) == before


# -- signatures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "drop",
    [
        ("Signature",),
        ("Signature-Input",),
        ("Content-Digest",),
        ("Signature", "Signature-Input", "Content-Digest"),
    ],
    ids=["signature", "signature-input", "content-digest", "all"],
)
def test_missing_signature_headers(env: Env, drop: tuple[str, ...]) -> None:
    body = orjson.dumps(env.batch(0, env.size))
    signed = sign_request(
        env.session.station_key,
        method="POST",
        path=PUSH,
        body=body,
        keyid=env.session.station_key.key_id,
        nonce=b64url(os.urandom(12)),
    )
    headers = {k: v for k, v in signed.items() if k not in drop}
    before = stored(env.hub)
    refused(env.raw.client.post(PUSH, content=body, headers=headers), 401, "missing-signature")
    assert stored(env.hub) == before


def _signed(env: Env, body: bytes, **kwargs: Any) -> dict[str, str]:
    return sign_request(
        env.session.station_key,
        method="POST",
        path=PUSH,
        body=body,
        keyid=env.session.station_key.key_id,
        nonce=b64url(os.urandom(12)),
        **kwargs,
    )


def _flip(b64: str) -> str:
    """Change one base64 character in the middle of a `sig1=:...:` value."""
    i = len(b64) // 2
    return b64[:i] + ("A" if b64[i] != "A" else "B") + b64[i + 1 :]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda h: {**h, "Signature": _flip(h["Signature"])}, "bad-signature"),
        (lambda h: {**h, "Signature": "sig1=:AAAA:"}, "bad-signature"),
        (lambda h: {**h, "Signature": "sig2=" + h["Signature"][5:]}, "bad-signature"),
        (
            lambda h: {**h, "Signature-Input": h["Signature-Input"].replace('"ed25519"', '"rsa"')},
            "bad-signature-input",
        ),
        (
            lambda h: {
                **h,
                "Signature-Input": h["Signature-Input"].replace(' "content-digest"', ""),
            },
            "bad-signature-input",
        ),
        (
            # a different nonce than the one signed: the signature base changes
            lambda h: {**h, "Signature-Input": h["Signature-Input"].replace('nonce="', 'nonce="x')},
            "bad-signature",
        ),
        (lambda h: {**h, "Signature-Input": "sig1=garbage"}, "bad-signature-input"),
    ],
    ids=["flipped", "short", "label", "alg", "components", "nonce", "garbage"],
)
def test_tampered_signature(env: Env, mutate: Any, code: str) -> None:
    body = orjson.dumps(env.batch(0, env.size))
    before = stored(env.hub)
    r = env.raw.client.post(PUSH, content=body, headers=mutate(_signed(env, body)))
    refused(r, 401, code)
    assert stored(env.hub) == before


def test_signature_over_another_path_or_method(env: Env) -> None:
    body = orjson.dumps(env.batch(0, env.size))
    before = stored(env.hub)
    for signed in (
        sign_request(
            env.session.station_key,
            method="POST",
            path=f"/v1/stations/{OFFICE}-2/entries",
            body=body,
            keyid=env.session.station_key.key_id,
            nonce=b64url(os.urandom(12)),
        ),
        sign_request(
            env.session.station_key,
            method="PUT",
            path=PUSH,
            body=body,
            keyid=env.session.station_key.key_id,
            nonce=b64url(os.urandom(12)),
        ),
    ):
        refused(env.raw.client.post(PUSH, content=body, headers=signed), 401, "bad-signature")
    assert stored(env.hub) == before


def test_body_that_does_not_match_its_content_digest(env: Env) -> None:
    good = orjson.dumps(env.batch(0, env.size))
    sent = orjson.dumps(env.batch(0, env.size - 1))
    before = stored(env.hub)
    refused(post_signed(env, sent, sign_body=good), 401, "bad-digest")
    assert stored(env.hub) == before


@pytest.mark.parametrize(
    ("offset", "code"),
    [(-600, "expired"), (-301, "expired"), (300, "from-the-future"), (61 + 5, "from-the-future")],
)
def test_signature_too_old_or_from_the_future(env: Env, offset: int, code: str) -> None:
    body = orjson.dumps(env.batch(0, env.size))
    before = stored(env.hub)
    refused(post_signed(env, body, created=int(time.time()) + offset), 401, code)
    assert stored(env.hub) == before


def test_signature_a_little_old_is_accepted(env: Env) -> None:
    """The control: 4 minutes old is within the 5-minute window."""
    body = orjson.dumps(env.batch(0, env.size))
    r = post_signed(env, body, created=int(time.time()) - 240)
    assert r.status_code == 200, r.text


def test_replayed_request(env: Env) -> None:
    body = orjson.dumps(env.batch(0, 2))
    headers = _signed(env, body)
    first = env.raw.client.post(PUSH, content=body, headers=headers)
    assert first.status_code == 200, first.text
    after_first = stored(env.hub)
    refused(env.raw.client.post(PUSH, content=body, headers=headers), 401, "replayed")
    assert stored(env.hub) == after_first
    # A refused request burns its nonce too: its replay is refused as a replay.
    bad = orjson.dumps(env.batch(3, env.size))
    headers = _signed(env, bad)
    refused(env.raw.client.post(PUSH, content=bad, headers=headers), 409, "gap")
    refused(env.raw.client.post(PUSH, content=bad, headers=headers), 401, "replayed")
    assert stored(env.hub) == after_first


def test_replayed_get_is_refused(env: Env) -> None:
    path = f"/v1/stations/{SID}"
    signed = sign_request(
        env.session.station_key,
        method="GET",
        path=path,
        body=b"",
        keyid=env.session.station_key.key_id,
        nonce=b64url(os.urandom(12)),
    )
    assert env.raw.client.get(path, headers=signed).status_code == 200
    refused(env.raw.client.get(path, headers=signed), 401, "replayed")


def test_unknown_station_key(env: Env) -> None:
    stranger = env.other()
    before = stored(env.hub)
    refused(stranger.push(SID, env.batch(0, env.size)), 401, "unknown-key")
    refused(stranger.request("GET", f"/v1/stations/{SID}"), 401, "unknown-key")
    refused(stranger.request("GET", f"/v1/offices/{OFFICE}/feed?after=0"), 401, "unknown-key")
    sha = hashlib.sha256(b"scan").hexdigest()
    refused(
        stranger.request(
            "PATCH",
            f"/v1/blobs/{sha}",
            b"scan",
            headers={"Upload-Offset": "0", "Upload-Length": "4"},
        ),
        401,
        "unknown-key",
    )
    refused(stranger.request("GET", f"/v1/blobs/{sha}"), 401, "unknown-key")
    assert stored(env.hub) == before


def test_revoked_station(env: Env) -> None:
    r = env.raw.push(SID, env.batch(0, 2))
    assert r.status_code == 200, r.text
    env.hub.revoke(SID, "máy bị mất")
    before = stored(env.hub)
    refused(env.raw.push(SID, env.batch(2, env.size)), 403, "revoked")
    refused(env.raw.push(SID, env.batch(0, 2)), 403, "revoked")
    refused(env.raw.request("GET", f"/v1/stations/{SID}"), 403, "revoked")
    refused(env.raw.request("GET", f"/v1/offices/{OFFICE}/feed?after=0"), 403, "revoked")
    sha = hashlib.sha256(b"scan").hexdigest()
    refused(
        env.raw.request(
            "PATCH",
            f"/v1/blobs/{sha}",
            b"scan",
            headers={"Upload-Offset": "0", "Upload-Length": "4"},
        ),
        403,
        "revoked",
    )
    assert stored(env.hub) == before
    with env.hub.storage.transaction() as tx:
        st = tx.station(SID)
        assert st is not None and st.size == 2 and st.revoked_through == 2


# -- writing what is not yours -----------------------------------------------------------------


def test_station_writing_another_stations_log(env: Env) -> None:
    second = env.enrol_other(OFFICE, 2)
    batch = env.batch(0, env.size)
    before = stored(env.hub)
    # its key, station 1's URL
    refused(second.push(SID, batch), 403, "forbidden")
    # its own URL, station 1's log in the body
    refused(second.push(f"{OFFICE}-2", batch), 403, "forbidden")
    # its own URL and reference, station 1's origin
    refused(
        second.push(f"{OFFICE}-2", {**batch, "station": f"{OFFICE}/2"}),
        403,
        "forbidden",
    )
    refused(second.request("GET", f"/v1/stations/{SID}"), 403, "forbidden")
    assert stored(env.hub) == before
    with env.hub.storage.transaction() as tx:
        assert tx.station(SID).size == 0  # type: ignore[union-attr]
        assert tx.station(f"{OFFICE}-2").size == 0  # type: ignore[union-attr]


def test_station_writing_another_offices_log(env: Env) -> None:
    foreign = env.enrol_other(OTHER_OFFICE, 1)
    batch = env.batch(0, env.size)
    before = stored(env.hub)
    refused(foreign.push(SID, batch), 403, "forbidden")
    refused(foreign.push(f"{OTHER_OFFICE}-1", batch), 403, "forbidden")
    refused(foreign.request("GET", f"/v1/stations/{SID}"), 403, "forbidden")
    assert stored(env.hub) == before
    env.push_all()  # the refusals left station 1's log as it was


def test_feed_of_another_office(env: Env) -> None:
    env.push_all()
    foreign = env.enrol_other(OTHER_OFFICE, 1)
    refused(foreign.request("GET", f"/v1/offices/{OFFICE}/feed?after=0"), 403, "forbidden")
    refused(env.raw.request("GET", f"/v1/offices/{OTHER_OFFICE}/feed?after=0"), 403, "forbidden")
    refused(env.raw.request("GET", "/v1/offices/nowhere/feed?after=0"), 403, "forbidden")
    own = env.raw.request("GET", f"/v1/offices/{OFFICE}/feed?after=0")
    assert own.status_code == 200, own.text


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=y", "after=99999999999999999999"])
def test_feed_with_a_bad_cursor(env: Env, query: str) -> None:
    refused(env.raw.request("GET", f"/v1/offices/{OFFICE}/feed?{query}"), 400, "bad-request")


# -- forks ---------------------------------------------------------------------------------------


def _forged(env: Env, index: int, end: int) -> tuple[list[dict[str, Any]], str]:
    """Entries [0, end) of station 1's log, re-signed from `index` on with a different entry at
    `index` (the same keys: what a station restored from an old backup would produce)."""
    info = env.station.info
    leaves = list(env.station.store.leaves(0, end))
    log = StationLog(info.origin, info.ref, env.session.station_key, MemoryNodeStore())
    entries: list[dict[str, Any]] = []
    for i, leaf in enumerate(leaves):
        if i < index:
            log.tree.append_hash(leaf_hash(leaf))
            entries.append(orjson.loads(leaf))
            continue
        event = orjson.loads(leaf)
        body = {k: v for k, v in event.items() if k not in ENVELOPE}
        if i == index:
            body["data"] = {**body["data"], "summary": "một bản ghi khác ở cùng vị trí"}
        officer = env.session.officer
        signer = officer if event["officer"] == officer.key_id else env.session.station_key
        entries.append(log.append(body, signer).event)
    return entries, log.checkpoint()


def test_fork_evidence_is_stored_and_the_station_is_refused(env: Env) -> None:
    accepted = env.push_all()
    n = env.size
    entries, checkpoint = _forged(env, 2, n)
    held = next(iter(env.station.store.leaves(2, 3)))
    assert canonical(entries[2]) != held
    info = env.station.info
    forged = {
        "type": "commune.batch/v1",
        "station": info.ref,
        "origin": info.origin,
        "from": 0,
        "to": n,
        "entries": entries,
        "checkpoint": checkpoint,
    }
    with env.hub.storage.transaction() as tx:
        entries_before = tx.entry_count()
    body = refused(env.raw.push(SID, forged), 409, "fork")
    assert body["index"] == 2
    with env.hub.storage.transaction() as tx:
        forks = tx.forks(SID)
        st = tx.station(SID)
        assert tx.entry_count() == entries_before
    assert st is not None and st.forked and st.size == n
    assert len(forks) == 1
    evidence = forks[0]["evidence"]
    assert evidence["type"] == "commune.fork/v1"
    assert evidence["origin"] == info.origin
    assert evidence["index"] == 2
    assert evidence["accepted"] == accepted["checkpoint"]  # cosigned earlier by the hub
    assert evidence["conflicting"] == checkpoint  # station-signed, just received
    assert evidence["held_leaf"].encode() == held
    assert evidence["sent_leaf"].encode() == canonical(entries[2])
    # Every further push is refused, even the original, accepted run.
    before = stored(env.hub)
    refused(env.raw.push(SID, env.batch(0, n)), 409, "forked")
    refused(env.raw.push(SID, forged), 409, "forked")
    assert stored(env.hub) == before
    status = env.raw.request("GET", f"/v1/stations/{SID}")
    assert status.status_code == 200 and status.json()["forked"] is True


def test_fork_by_a_checkpoint_alone(env: Env) -> None:
    """No entries at all, only a station-signed checkpoint that disagrees with the accepted
    tree at its size."""
    env.push_all()
    n = env.size
    _, checkpoint = _forged(env, 3, n)
    info = env.station.info
    empty = {
        "type": "commune.batch/v1",
        "station": info.ref,
        "origin": info.origin,
        "from": n,
        "to": n,
        "entries": [],
        "checkpoint": checkpoint,
    }
    body = refused(env.raw.push(SID, empty), 409, "fork")
    assert body["index"] is None
    with env.hub.storage.transaction() as tx:
        forks = tx.forks(SID)
    assert len(forks) == 1 and forks[0]["evidence"]["conflicting"] == checkpoint
    refused(env.raw.push(SID, env.batch(0, n)), 409, "forked")


def test_resending_an_accepted_run_is_not_a_fork(env: Env) -> None:
    """The control for the fork tests: the same bytes again are answered the same way."""
    first = env.push_all()
    after = stored(env.hub)
    again = env.raw.push(SID, env.batch(0, env.size))
    assert again.status_code == 200, again.text
    assert again.json()["checkpoint"] == first["checkpoint"]
    part = env.raw.push(SID, env.batch(1, 3))
    assert part.status_code == 200, part.text
    assert part.json()["accepted"] == env.size  # where the hub is now: resume from there
    assert stored(env.hub) == after


# -- enrolment -----------------------------------------------------------------------------------


def _enrol_body(key_public: bytes, token: str, office: str, number: Any, **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "token": token,
            "office": office,
            "station": number,
            "origin": f"local/office/{office}/{number}/e0",
            "public_key": b64url(key_public),
            "name": "Trạm thử",
            **extra,
        }
    )


def test_enrol_with_an_unknown_used_expired_or_foreign_token(env: Env) -> None:
    expired = str(env.hub.add_office(OFFICE, "UBND", ttl_days=-1)["token"])
    foreign = add_office(env.hub, OTHER_OFFICE)
    before = stored(env.hub)
    for token in ("no-such-token", env.token, expired, foreign):
        newcomer = env.other()
        refused(newcomer.enrol(token, OFFICE, 2, f"local/office/{OFFICE}/2/e0"), 403, "bad-token")
    assert stored(env.hub) == before


def test_enrol_a_low_order_key(env: Env) -> None:
    token = add_office(env.hub, OFFICE)
    before = stored(env.hub)
    r = RawStation(env.server.url, LowOrderKey(), client=env.raw.client).enrol(
        token, OFFICE, 2, f"local/office/{OFFICE}/2/e0"
    )
    refused(r, 422, "bad-key")
    assert stored(env.hub) == before


def test_enrol_the_same_station_number_with_another_key(env: Env) -> None:
    token = add_office(env.hub, OFFICE)
    before = stored(env.hub)
    refused(
        env.other().enrol(token, OFFICE, 1, env.station.info.origin),
        409,
        "station-exists",
    )
    assert stored(env.hub) == before
    # the token was not spent by the refusal: station 2 can still use it
    assert env.other().enrol(token, OFFICE, 2, f"local/office/{OFFICE}/2/e0").status_code == 201


def test_enrol_an_enrolled_key_as_another_station(env: Env) -> None:
    token = add_office(env.hub, OFFICE)
    before = stored(env.hub)
    refused(env.raw.enrol(token, OFFICE, 2, f"local/office/{OFFICE}/2/e0"), 409, "station-exists")
    assert stored(env.hub) == before


def test_resending_the_enrolment_gets_the_same_answer(env: Env) -> None:
    before = stored(env.hub)
    again = env.raw.enrol(env.token, OFFICE, 1, env.station.info.origin)
    assert again.status_code == 200, again.text
    assert again.json() == env.enrolment
    assert stored(env.hub) == before


def test_replayed_enrolment_request(live_hub: HubServer) -> None:
    token = add_office(live_hub.hub, OFFICE)
    key = SigningKey.generate()
    body = _enrol_body(key.public, token, OFFICE, 1)
    signed = sign_request(
        key,
        method="POST",
        path="/v1/enrol",
        body=body,
        keyid=key.key_id,
        nonce=b64url(os.urandom(12)),
    )
    with httpx.Client(base_url=live_hub.url) as client:
        assert client.post("/v1/enrol", content=body, headers=signed).status_code == 201
        before = stored(live_hub.hub)
        refused(client.post("/v1/enrol", content=body, headers=signed), 401, "replayed")
    assert stored(live_hub.hub) == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (lambda k, t: b"not json", 401, "unknown-key"),
        (lambda k, t: b"[]", 401, "unknown-key"),
        (lambda k, t: orjson.dumps({"token": t}), 401, "unknown-key"),
        (lambda k, t: _enrol_body(SigningKey.generate().public, t, OFFICE, 2), 401, "unknown-key"),
        (lambda k, t: orjson.dumps({"public_key": b64url(k.public)}), 400, "bad-request"),
        (lambda k, t: _enrol_body(k.public, t, OFFICE, 0), 400, "bad-request"),
        (lambda k, t: _enrol_body(k.public, t, OFFICE, 10), 400, "bad-request"),
        (lambda k, t: _enrol_body(k.public, t, OFFICE, True), 400, "bad-request"),
        (lambda k, t: _enrol_body(k.public, t, OFFICE, "2"), 400, "bad-request"),
        (
            lambda k, t: _enrol_body(k.public, t, OFFICE, 2, origin="x/office/A/2/e0"),
            400,
            "bad-request",
        ),
        (
            lambda k, t: _enrol_body(k.public, t, OFFICE, 2, origin=f"local/office/{OFFICE}/2/e01"),
            400,
            "bad-request",
        ),
        (  # a later epoch only replaces a revoked one (`sync-server station replace`)
            lambda k, t: _enrol_body(k.public, t, OFFICE, 2, origin=f"local/office/{OFFICE}/2/e1"),
            409,
            "not-replaced",
        ),
        (lambda k, t: _enrol_body(k.public, t, OTHER_OFFICE, 2), 403, "bad-token"),
        (lambda k, t: _enrol_body(k.public, t, OFFICE, 2, pad="x" * 70_000), 413, "too-large"),
    ],
    ids=[
        "not-json",
        "list",
        "no-public-key",
        "another-key-in-body",
        "no-token",
        "station-0",
        "station-10",
        "station-true",
        "station-string",
        "origin-office",
        "origin-epoch-form",
        "origin-epoch-not-replaced",
        "office-not-the-tokens",
        "over-64-kib",
    ],
)
def test_enrol_with_a_bad_body(env: Env, body: Any, status: int, code: str) -> None:
    token = add_office(env.hub, OFFICE)
    key = SigningKey.generate()
    before = stored(env.hub)
    payload = body(key, token)
    r = post_signed(env, payload, path="/v1/enrol", key=key)
    refused(r, status, code)
    assert stored(env.hub) == before
    # The refusal did not spend the token.
    ok = RawStation(env.server.url, key, client=env.raw.client).enrol(
        token, OFFICE, 2, f"local/office/{OFFICE}/2/e0"
    )
    assert ok.status_code == 201, ok.text


class LowOrderKey:
    """A "key" whose public point is the identity (small order): any (R = [s]B, s) verifies
    under it with a cofactorless verifier, so the request signature passes and only the
    hub's key check stands between it and a certificate."""

    public = bytes([1]) + bytes(31)
    key_id = key_id(public)
    _L = 2**252 + 27742317777372353535851937790883648493

    def __init__(self) -> None:
        seed = os.urandom(32)
        digest = bytearray(hashlib.sha512(seed).digest()[:32])
        digest[0] &= 248
        digest[31] &= 127
        digest[31] |= 64
        self._s = int.from_bytes(digest, "little") % self._L
        self._r = SigningKey.from_seed(seed).public  # [s]B

    def sign(self, message: bytes) -> bytes:
        return self._r + self._s.to_bytes(32, "little")


# -- blobs ---------------------------------------------------------------------------------------


def _patch(raw: RawStation, sha: str, offset: int, length: int, data: bytes) -> httpx.Response:
    return raw.request(
        "PATCH",
        f"/v1/blobs/{sha}",
        data,
        headers={"Upload-Offset": str(offset), "Upload-Length": str(length)},
    )


def test_blob_upload_resumes_across_requests(env: Env) -> None:
    data = os.urandom(300_000)
    sha = hashlib.sha256(data).hexdigest()
    head = env.raw.request("HEAD", f"/v1/blobs/{sha}")
    assert head.status_code == 404
    first = _patch(env.raw, sha, 0, len(data), data[:100_000])
    assert first.status_code == 200, first.text
    assert first.json() == {"offset": 100_000, "complete": False}
    # a new request (another connection: the link dropped) asks where to resume
    with httpx.Client(base_url=env.server.url) as client:
        other = RawStation(env.server.url, env.session.station_key, client=client)
        head = other.request("HEAD", f"/v1/blobs/{sha}")
        assert head.status_code == 200
        assert head.headers["Upload-Offset"] == "100000"
        assert head.headers["Upload-Length"] == str(len(data))
        offset = int(head.headers["Upload-Offset"])
        second = _patch(other, sha, offset, len(data), data[offset:200_000])
        assert second.json() == {"offset": 200_000, "complete": False}
        third = _patch(other, sha, 200_000, len(data), data[200_000:])
        assert third.status_code == 200, third.text
        assert third.json() == {"offset": len(data), "complete": True}
    got = env.raw.request("GET", f"/v1/blobs/{sha}")
    assert got.status_code == 200 and got.content == data
    # a complete blob answers "complete" to a late duplicate chunk, and stays as it is
    again = _patch(env.raw, sha, 0, len(data), data[:100_000])
    assert again.status_code == 200 and again.json()["complete"] is True
    assert env.raw.request("GET", f"/v1/blobs/{sha}").content == data


def test_blob_patch_at_the_wrong_offset(env: Env) -> None:
    data = os.urandom(50_000)
    sha = hashlib.sha256(data).hexdigest()
    assert _patch(env.raw, sha, 0, len(data), data[:20_000]).status_code == 200
    before = stored(env.hub)
    for offset in (0, 10_000, 30_000, -1):
        body = refused(
            _patch(env.raw, sha, offset, len(data), data[offset : offset + 1000]),
            409,
            "offset-mismatch",
        )
        assert body["offset"] == 20_000
    assert stored(env.hub) == before
    head = env.raw.request("HEAD", f"/v1/blobs/{sha}")
    assert head.headers["Upload-Offset"] == "20000"


def test_blob_whose_bytes_do_not_match_its_sha(env: Env) -> None:
    data = os.urandom(40_000)
    sha = hashlib.sha256(b"something else").hexdigest()
    assert _patch(env.raw, sha, 0, len(data), data[:30_000]).status_code == 200
    refused(_patch(env.raw, sha, 30_000, len(data), data[30_000:]), 422, "digest-mismatch")
    # the upload restarts: nothing is kept, nothing can be fetched
    head = env.raw.request("HEAD", f"/v1/blobs/{sha}")
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"
    assert head.headers.get("Upload-Complete") == "0"
    refused(env.raw.request("GET", f"/v1/blobs/{sha}"), 404, "not-found")
    with env.hub.storage.transaction() as tx:
        assert tx.blob_data(sha) == b""


@pytest.mark.parametrize(
    ("sha", "headers", "data", "status", "code"),
    [
        ("A" * 64, {"Upload-Offset": "0", "Upload-Length": "4"}, b"scan", 400, "bad-request"),
        ("a" * 63, {"Upload-Offset": "0", "Upload-Length": "4"}, b"scan", 400, "bad-request"),
        (None, {"Upload-Length": "4"}, b"scan", 400, "bad-request"),
        (None, {"Upload-Offset": "0"}, b"scan", 400, "bad-request"),
        (None, {"Upload-Offset": "zero", "Upload-Length": "4"}, b"scan", 400, "bad-request"),
        (
            None,
            {"Upload-Offset": "0", "Upload-Length": str(32 * 1024 * 1024 + 1)},
            b"scan",
            413,
            "too-large",
        ),
        (None, {"Upload-Offset": "0", "Upload-Length": "2"}, b"scan", 400, "bad-request"),
        (
            None,
            {"Upload-Offset": "0", "Upload-Length": str(4 * 1024 * 1024)},
            b"x" * (1024 * 1024 + 1),
            413,
            "too-large",
        ),
    ],
    ids=[
        "uppercase-sha",
        "short-sha",
        "no-offset",
        "no-length",
        "offset-not-a-number",
        "over-32-mib",
        "chunk-past-length",
        "chunk-over-1-mib",
    ],
)
def test_blob_patch_refusals(
    env: Env, sha: str | None, headers: dict[str, str], data: bytes, status: int, code: str
) -> None:
    name = sha or hashlib.sha256(data).hexdigest()
    before = stored(env.hub)
    refused(env.raw.request("PATCH", f"/v1/blobs/{name}", data, headers=headers), status, code)
    assert stored(env.hub) == before
