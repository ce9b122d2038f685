"""Real exported ledgers for the ledger audit's tests, and the ways an attacker rewrites them.

`synced_desk()` builds, once per test session, a station of office A enrolled with a real hub
(uvicorn on loopback, `tests/hubkit.py`) that syncs after almost every event, so the hub's
cosignatures give tight time brackets; a second office B receives a transfer from A and
resolves it, so A's export also holds B's events applied from its feed. One clock drives the
hub and both stations, so an honest export has no clock anomaly. `alone_desk()` is a
stand-alone station with its own `commune trust-kit`.

The helpers below tamper with an export's lines the way the auditor must catch: re-sign an
entry with a real key, rewrite the history after it and re-sign the station's checkpoints.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from stationkit import APPLICANT, OFFICE, PASS, PROCEDURES, T0, make_station

from commune_client.desk import act, receive
from commune_client.procedures import save_catalog
from commune_client.queries import export_ledger, trust_kit
from commune_client.station import Session, Station
from commune_client.sync import RetryPolicy, enroll, sync
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import b64, b64url
from ledger.keys import SigningKey
from ledger.merkle import CompactRange, leaf_hash
from ledger.note import parse_note
from ledger.records import signing_bytes
from schemas.canonical import canonical

OFFICE_B = "000.00.17.H57"
PASS_B = "mật khẩu Lan"
FAST = RetryPolicy(attempts=4, initial=0.01, max_wait=0.05, sleep=lambda _: None)


class Clock:
    """One clock for the hub (unix seconds) and the stations (datetimes)."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t.timestamp()

    def now(self) -> datetime:
        return self.t

    def tick(self, minutes: float = 1) -> datetime:
        self.t += timedelta(minutes=minutes)
        return self.t


@dataclass
class Desk:
    """An export (its lines), the kit to audit it with, and the keys an attacker may hold."""

    lines: list[bytes]
    kit: dict[str, Any]
    now: datetime  # the audit's time
    keys: dict[str, SigningKey]  # key id -> the station's own keys (station and officers)
    station_key: SigningKey
    officer: SigningKey
    other_officer: SigningKey  # an officer key of another station (office B)
    hub_issuer: SigningKey | None = None
    hub_station_id: str = ""
    workdir: Path = field(default_factory=Path)

    # -- the parts of the export --
    @property
    def header(self) -> dict[str, Any]:
        return json.loads(self.lines[0])

    @property
    def count(self) -> int:
        return int(self.header["entries"])

    def leaves(self) -> list[bytes]:
        return self.lines[1 : 1 + self.count]

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(x) for x in self.leaves()]

    def trailer(self) -> list[bytes]:
        return self.lines[1 + self.count :]

    def cosigned_sizes(self) -> list[int]:
        out = []
        for line in self.trailer():
            item = orjson.loads(line)
            if isinstance(item, dict) and item.get("type") == "commune.cosigned/v1":
                out.append(int(item["size"]))
        return sorted(out)

    def cosigned_times(self) -> dict[int, int]:
        """size -> the hub's cosignature time (the export's `hub_unix`)."""
        out = {}
        for line in self.trailer():
            item = orjson.loads(line)
            if isinstance(item, dict) and item.get("type") == "commune.cosigned/v1":
                out[int(item["size"])] = int(item["hub_unix"])
        return out

    def with_leaves(self, leaves: list[bytes], *, header: bool = False) -> list[bytes]:
        """The export with other entries (the header's count fixed too when `header`)."""
        head = self.lines[0]
        if header:
            doc = json.loads(head)
            doc["entries"] = len(leaves)
            head = orjson.dumps(doc)
        return [head, *leaves, *self.trailer()]


# -- tampering --------------------------------------------------------------------------------
def resign(event: dict[str, Any], key: SigningKey) -> bytes:
    """The leaf of `event` signed by `key` (its `officer` field left as it is)."""
    body = {k: v for k, v in event.items() if k != "sig"}
    body["sig"] = b64url(key.sign(signing_bytes(body)))
    return canonical(body)


def roots(leaves: list[bytes]) -> list[bytes]:
    """The tree's root at every size 0..len(leaves)."""
    tree = CompactRange()
    out = [tree.root()]
    for leaf in leaves:
        tree.append(leaf_hash(leaf))
        out.append(tree.root())
    return out


def rewrite_from(desk: Desk, leaves: list[bytes], start: int) -> list[bytes]:
    """What a thief with the station's keys does after changing entry `start`: every later
    entry gets the new `prev` and is signed again by its own signer, and every station
    checkpoint of a size beyond `start` is signed again over the new tree. The hub's
    cosigned checkpoints stay as they were: nobody but the hub can sign those."""
    out = list(leaves[: start + 1])
    tree = CompactRange()
    for leaf in out:
        tree.append(leaf_hash(leaf))
    for leaf in leaves[start + 1 :]:
        event = orjson.loads(leaf)
        event["prev"] = b64(tree.root())
        new = resign(event, desk.keys[event["officer"]])
        out.append(new)
        tree.append(leaf_hash(new))
    at = roots(out)
    origin = desk.header["origin"]
    trailer = []
    for line in desk.trailer():
        item = orjson.loads(line)
        if isinstance(item, str):
            size = int(parse_note(item).text.split("\n")[1])
            if size > start:
                item = sign_checkpoint(Checkpoint(origin, size, at[size]), desk.station_key)
                line = orjson.dumps(item)
        trailer.append(line)
    return [desk.lines[0], *out, *trailer]


def brackets(desk: Desk) -> dict[int, tuple[float, float]]:
    """Entry index -> (not-before, not-after) in unix seconds from the honest export."""
    times = desk.cosigned_times()
    sizes = sorted(times)
    out = {}
    for i, event in enumerate(desk.events()):
        beacon = event.get("beacon")
        before = times.get(beacon["size"], float("-inf")) if beacon else float("-inf")
        later = [times[s] for s in sizes if s > i]
        out[i] = (before, min(later) if later else float("inf"))
    return out


# -- building the stations ----------------------------------------------------------------------
_CACHE: dict[str, Desk] = {}


def _officer_keys(session: Session) -> dict[str, SigningKey]:
    return {
        session.officer.key_id: session.officer,
        session.station_key.key_id: session.station_key,
    }


def alone_desk() -> Desk:
    """A stand-alone station: receipts, a few lifecycles, its own trust kit."""
    if "alone" in _CACHE:
        return _CACHE["alone"]
    root = Path(tempfile.mkdtemp(prefix="audit-alone-"))
    station = make_station(root / "station")
    s = station.sign_in(None, PASS)
    clock = Clock(T0)
    codes = []
    for i in range(8):
        applicant = {**APPLICANT, "name": f"Người nộp {i}"}
        proc = PROCEDURES[i % 3].code
        codes.append(receive(s, procedure=proc, applicant=applicant, now=clock.tick(3))["code"])
    for code in codes[:5]:
        act(s, code, "accept", now=clock.tick(2))
    for code in codes[:3]:
        act(s, code, "resolve", now=clock.tick(2))
        act(s, code, "return", via="desk", now=clock.tick(2))
    act(s, codes[5], "request-supplement", reason="Thiếu giấy chứng sinh", now=clock.tick(2))
    act(s, codes[6], "withdraw", reason="Người nộp rút hồ sơ", now=clock.tick(2))
    export_ledger(station, root / "export.jsonl")
    trust_kit(station, s.station_key, root / "kit.json", now=clock.now())
    other = SigningKey.from_seed(b"o" * 32)
    desk = Desk(
        lines=(root / "export.jsonl").read_bytes().split(b"\n")[:-1],
        kit=json.loads((root / "kit.json").read_text()),
        now=clock.tick(60),
        keys=_officer_keys(s),
        station_key=s.station_key,
        officer=s.officer,
        other_officer=other,
        workdir=root,
    )
    station.close()
    _CACHE["alone"] = desk
    return desk


def synced_desk() -> Desk:
    """Office A enrolled with a real hub, syncing after almost every event (one stretch of
    three events is pushed in one go), with a dossier transferred to office B and resolved
    there; B's events come back to A from its feed."""
    if "synced" in _CACHE:
        return _CACHE["synced"]
    from hubkit import HUB_NAME, HubServer, add_office, open_hub_storage

    from commune_client.sync import station_id
    from sync_server.hub import Hub

    root = Path(tempfile.mkdtemp(prefix="audit-synced-"))
    (root / "hub").mkdir()
    clock = Clock(T0 + timedelta(minutes=1))
    storage = open_hub_storage(root / "hub")
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    server = HubServer(hub).start()
    try:
        a = make_station(root / "a")
        sa = a.sign_in(None, PASS)
        b = Station.create(
            root / "b",
            office=OFFICE_B,
            office_name="UBND xã Tân Hòa",
            officer_name="Trần Thị Lan",
            passphrase=PASS_B,
            now=clock.tick(),
        )
        save_catalog(b.store, PROCEDURES)
        sb = b.sign_in(None, PASS_B)
        with httpx.Client() as client:

            def push(station: Station, session: Session) -> None:
                clock.tick(0.5)
                report = sync(station, session, client=client, policy=FAST, now=clock.now)
                assert report.ok, report

            def step(fn: Callable[..., Any], *args: Any, push_after: bool = True, **kw: Any) -> Any:
                out = fn(*args, now=clock.tick(2), **kw)
                if push_after:
                    push(a, sa)
                return out

            codes = [
                receive(sa, procedure="1.001193", applicant=APPLICANT, now=clock.tick(2))["code"],
                receive(
                    sa,
                    procedure="2.000908",
                    applicant={**APPLICANT, "name": "Lê Văn Tám"},
                    channel="online",
                    now=clock.tick(2),
                )["code"],
            ]
            enroll(
                a,
                sa,
                server.url,
                add_office(hub, OFFICE),
                client=client,
                policy=FAST,
                now=clock.now,
            )
            enroll(
                b,
                sb,
                server.url,
                add_office(hub, OFFICE_B),
                client=client,
                policy=FAST,
                now=clock.now,
            )
            push(a, sa)
            push(b, sb)
            for i in range(6):
                applicant = {**APPLICANT, "name": f"Người nộp {i}"}
                proc = PROCEDURES[i % 3].code
                codes.append(step(receive, sa, procedure=proc, applicant=applicant)["code"])
            step(act, sa, codes[0], "accept")
            step(act, sa, codes[0], "resolve")
            # a stretch pushed in one go: its entries share one not-after bound
            step(act, sa, codes[1], "accept", push_after=False)
            step(act, sa, codes[2], "accept", push_after=False)
            step(act, sa, codes[2], "request-supplement", reason="Thiếu bản chính")
            step(act, sa, codes[0], "return", via="desk")
            step(act, sa, codes[3], "withdraw", reason="Người nộp rút hồ sơ")
            # liên thông: A transfers, B accepts and resolves, A returns the result
            step(act, sa, codes[4], "transfer", to=OFFICE_B, reason="Chuyển liên thông")
            push(b, sb)
            act(sb, codes[4], "accept", now=clock.tick(2))
            act(sb, codes[4], "resolve", now=clock.tick(2))
            push(b, sb)
            push(a, sa)
            step(act, sa, codes[4], "return", via="desk")
            step(act, sa, codes[5], "accept")
            step(act, sa, codes[5], "resolve")
            # the last two entries are not pushed: no hub time bounds them from above
            step(act, sa, codes[6], "accept", push_after=False)
            step(act, sa, codes[7], "accept", push_after=False)
        assert a.store.conn.execute("SELECT COUNT(*) FROM foreign_entries").fetchone()[0] > 0
        export_ledger(a, root / "export.jsonl")
        kit = hub.trust_kit()
        desk = Desk(
            lines=(root / "export.jsonl").read_bytes().split(b"\n")[:-1],
            kit=kit,
            now=clock.tick(60),
            keys=_officer_keys(sa),
            station_key=sa.station_key,
            officer=sa.officer,
            other_officer=sb.officer,
            hub_issuer=hub.issuer,
            hub_station_id=station_id(a),
            workdir=root,
        )
        a.close()
        b.close()
    finally:
        server.stop()
        storage.close()
    _CACHE["synced"] = desk
    return desk


def cleanup() -> None:
    for desk in _CACHE.values():
        shutil.rmtree(desk.workdir, ignore_errors=True)
    _CACHE.clear()
