"""The hub's ingest hands a push of 64 entries or more to a worker process (schema validation and
signatures, `ledger.verify.SignatureWorkers`) and folds the run before the signatures are
settled. It must refuse and quarantine exactly what the request thread alone would."""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from ledger.certs import issue_certificate
from ledger.encoding import b64url
from ledger.keys import SigningKey
from ledger.log import StationLog, station_origin
from ledger.merkle import MemoryNodeStore
from ledger.verify import SignatureWorkers
from schemas.canonical import canonical
from schemas.event import EVENT_ADAPTER
from schemas.samples import dossier_lifecycle, receive_body, station_open_body
from sync_server import hub as hub_module
from sync_server.errors import HubError
from sync_server.hub import Hub
from sync_server.storage import open_storage

HUB = "hub.test"
OFFICE = "000.00.17.H56"
T0 = "2026-11-23T08:00:00+07:00"
START = datetime.fromisoformat(T0)
WORKERS = SignatureWorkers(1)


# -- the worker's schema check is pydantic's, error for error ----------------------------------


def _sample_events() -> list[dict[str, Any]]:
    station = SigningKey.from_seed(b"s" * 32)
    cert = issue_certificate(
        station, station.public, role="station", name="Xã", office=OFFICE, station=1, not_before=T0
    )
    bodies = [station_open_body(cert, T0)]
    bodies += [receive_body(i, START + timedelta(minutes=i)) for i in range(3)]
    for i in range(12):
        bodies += dossier_lifecycle(i, START)
    envelope = {
        "type": "commune.event/v1",
        "station": f"{OFFICE}/1",
        "prev": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "officer": station.key_id,
        "sig": "A" * 86,
    }
    return [{**body, **envelope, "seq": i} for i, body in enumerate(bodies)]


_ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    "",
    " ",
    "x" * 2100,
    "dòng\nhai",
    "\x07",
    "2026-02-30",
    "2026-11-23T08:00:00",
    "000.00.17.H56-261131-0001",
    [],
    {},
    {"zz": 1},
    2**53 - 1,
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _mutated(events: list[dict[str, Any]], n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ev = copy.deepcopy(rng.choice(events))
        path = rng.choice(_paths(ev))
        parent = ev
        for step in path[:-1]:
            parent = parent[step]
        what = rng.random()
        if what < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif what < 0.25 and isinstance(parent, dict):
            parent["extra_" + str(rng.randrange(9))] = "x"
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
        out.append(ev)
    return out


def _pydantic(leaf: bytes) -> tuple[str, str] | None:
    try:
        EVENT_ADAPTER.validate_json(leaf)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        return ".".join(map(str, err["loc"])), err["msg"]
    return None


def test_worker_refuses_exactly_what_pydantic_refuses() -> None:
    samples = _sample_events()
    events = samples + _mutated(samples, 400)
    leaves = [canonical(ev) for ev in events]
    expected = [_pydantic(leaf) for leaf in leaves]
    assert not any(expected[: len(samples)])  # the samples are valid
    refused = sum(e is not None for e in expected)
    assert refused > 250  # most mutations break the contract, in many different ways
    assert len({e for e in expected if e}) > 60

    run = WORKERS.start([], leaves)
    assert run is not None
    found = run.schema_errors()
    assert run.result() == []
    assert found is not None
    by_position: list[tuple[str, str] | None] = [None] * len(leaves)
    for i, loc, msg in found:
        by_position[i] = (loc, msg)
    assert by_position == expected
    # and as the hub words them (the hub gets here only with entries whose seq is right)
    keep = [i for i, ev in enumerate(events) if type(ev.get("seq")) is int]
    assert {events[i]["seq"]: f"{loc}: {msg}" for i, loc, msg in found if i in keep} == (
        hub_module._schema_errors([events[i] for i in keep], [leaves[i] for i in keep])
    )


# -- pushes of worker size through the hub -----------------------------------------------------


class _Station:
    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.officer = SigningKey.generate()
        self.origin = station_origin(HUB, OFFICE, 1, 0)
        cert = issue_certificate(
            self.key,
            self.key.public,
            role="station",
            name="Xã",
            office=OFFICE,
            station=1,
            not_before=T0,
        )
        ocert = issue_certificate(
            self.key,
            self.officer.public,
            role="officer",
            name="Cán bộ",
            office=OFFICE,
            station=1,
            not_before=T0,
        )
        self.log = StationLog(self.origin, f"{OFFICE}/1", self.key, MemoryNodeStore())
        base = {"claimed_time": T0, "beacon": None, "dossier": None}
        self.leaves = [
            self.log.append(station_open_body(cert, T0), self.key).leaf,
            self.log.append(
                {**base, "action": "officer-enrol", "data": {"cert": ocert}}, self.key
            ).leaf,
        ]

    def add(self, body: dict[str, Any]) -> None:
        self.leaves.append(self.log.append(body, self.officer).leaf)

    def batch(self, leaves: list[bytes] | None = None) -> bytes:
        leaves = leaves or self.leaves
        return orjson.dumps(
            {
                "type": "commune.batch/v1",
                "station": f"{OFFICE}/1",
                "origin": self.origin,
                "from": 0,
                "to": len(leaves),
                "entries": [orjson.loads(leaf) for leaf in leaves],
                "checkpoint": self.log.checkpoint(),
            }
        )


def _hub(tmp_path: Path, st: _Station) -> tuple[Hub, Any]:
    hub = Hub(open_storage(f"sqlite:///{tmp_path}/hub.db"), name=HUB)
    token = hub.add_office(OFFICE, "Xã")["token"]
    body = {
        "token": token,
        "office": OFFICE,
        "station": 1,
        "origin": st.origin,
        "public_key": b64url(st.key.public),
    }
    assert hub.enrol(body, st.key.key_id)[0] == 201
    with hub.storage.transaction() as tx:
        row = tx.station(f"{OFFICE}-1")
    return hub, row


def _stored(hub: Hub) -> tuple[int, int, int]:
    with hub.storage.transaction() as tx:
        return (
            tx.entry_count(),
            int(tx.one("SELECT COUNT(*) FROM dossiers")[0]),
            int(tx.one("SELECT COUNT(*) FROM feed")[0]),
        )


def test_a_bad_signature_in_a_large_push_refuses_it_and_stores_nothing(tmp_path: Path) -> None:
    st = _Station()
    for i in range(100):
        st.add(receive_body(i, START + timedelta(minutes=i)))
    leaves = list(st.leaves)
    ev = orjson.loads(leaves[77])
    ev["sig"] = orjson.loads(leaves[78])["sig"]
    leaves[77] = canonical(ev)  # the entry's hash changes too: the prev chain breaks after it
    hub, row = _hub(tmp_path, st)
    with pytest.raises(HubError) as refused:
        hub.push(row, row.sid, st.batch(leaves))
    assert refused.value.status == 422
    findings = refused.value.extra["findings"]
    assert findings[:2] == [
        {
            "index": 77,
            "code": "bad-signature",
            "message": f"signature by {st.officer.key_id} does not verify",
        },
        {
            "index": 78,
            "code": "bad-prev",
            "message": "entry's prev is not the root of the log before it "
            "(history rewritten or reordered)",
        },
    ]
    assert _stored(hub) == (0, 0, 0)
    with hub.storage.transaction() as tx:
        assert tx.station(row.sid).size == 0  # type: ignore[union-attr]


class _Forger:
    """Signs under the officer's key id with another key: only the signature check can tell."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self.key = SigningKey.generate()

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


def test_a_forged_signature_is_refused_after_the_fold(tmp_path: Path) -> None:
    """Every entry well formed and chained, the checkpoint right, one signature forged: the
    run is folded and written before the deferred checks settle, and then rolled back."""
    st = _Station()
    for i in range(80):
        body = receive_body(i, START + timedelta(minutes=i))
        if i == 50:
            forger = _Forger(st.officer.key_id)
            st.leaves.append(st.log.append(body, forger).leaf)  # type: ignore[arg-type]
        else:
            st.add(body)
    hub, row = _hub(tmp_path, st)
    with pytest.raises(HubError) as refused:
        hub.push(row, row.sid, st.batch())
    assert refused.value.extra["findings"] == [
        {
            "index": 52,
            "code": "bad-signature",
            "message": f"signature by {st.officer.key_id} does not verify",
        }
    ]
    assert _stored(hub) == (0, 0, 0)
    with hub.storage.transaction() as tx:
        assert tx.station(row.sid).size == 0  # type: ignore[union-attr]
        assert tx.checkpoints(row.sid) == []
        assert tx.cert(st.officer.key_id) is None
    # The same push without the forgery goes through and is folded.
    honest = _Station()
    for i in range(80):
        honest.add(receive_body(i, START + timedelta(minutes=i)))
    hub2, row2 = _hub(tmp_path / "honest", honest)
    assert hub2.push(row2, row2.sid, honest.batch())["accepted"] == 82
    assert _stored(hub2)[:2] == (82, 80)


def test_schema_quarantine_of_a_large_push_is_the_request_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = _Station()
    bad = {10: ("applicant", "id_number", "12345"), 40: ("sets", None, 0), 66: ("zz", None, 1)}
    for i in range(90):
        body = receive_body(i, START + timedelta(minutes=i))
        if i in bad:
            key, sub, value = bad[i]
            if sub is None:
                body["data"][key] = value
            else:
                body["data"][key][sub] = value
            monkeypatch.setattr("ledger.log.parse_draft", lambda _: None)  # sign it anyway
            st.add(body)
            monkeypatch.undo()
        else:
            st.add(body)
    events = [orjson.loads(leaf) for leaf in st.leaves]
    expected = hub_module._schema_errors(events, st.leaves)
    assert sorted(expected) == [12, 42, 68]
    hub, row = _hub(tmp_path, st)
    answer = hub.push(row, row.sid, st.batch())
    assert answer["accepted"] == len(st.leaves)
    schema = {q["seq"]: q["detail"] for q in answer["quarantined"] if q["reason"] == "schema"}
    assert schema == expected
