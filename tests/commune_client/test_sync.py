"""The station's sync agent (commune_client/sync.py, docs/sync.md "Station side").

Feed verification and the merge of foreign entries are tested over records built with the
`ledger` functions (a hub identity = an issuer key and a cosigner key, no server needed); the
push, enrolment, blobs, faults and the hub's answers run against a real hub (uvicorn on
loopback, `tests/hubkit.py`), through a real fault proxy where the link misbehaves.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import zstandard
from faultproxy import Cut, FaultPlan, FaultProxy, Pass
from hubkit import HUB_NAME, HubServer, RawStation, add_office, free_port, running_hub
from stationkit import APPLICANT, OFFICE, PASS, PROCEDURES, T0, make_station

from commune_client.clock import VN_TZ, iso
from commune_client.desk import act, calendar, receive
from commune_client.errors import BadInput
from commune_client.procedures import get_procedure, save_catalog
from commune_client.queries import rebuild_and_compare, show_dossier, timeline
from commune_client.receipts import receipt_for
from commune_client.station import Session, Station
from commune_client.store import SqliteNodeStore
from commune_client.sync import (
    CHUNK_MAX_BYTES,
    FeedItemRefused,
    HubInfo,
    HubRefused,
    RetryPolicy,
    SyncAgent,
    SyncProgress,
    add_blob,
    enroll,
    enroll_new,
    enrolment_meta,
    hub_info,
    quarantine_rows,
    station_id,
    sync,
    sync_states,
    verify_feed_event,
)
from ledger.certs import issue_certificate
from ledger.checkpoint import cosign, parse_checkpoint_text, sign_checkpoint
from ledger.encoding import b64url
from ledger.httpsig import verify_request
from ledger.keys import SigningKey
from ledger.merkle import MerkleTree
from ledger.note import parse_note
from ledger.records import sign_record
from ledger.tlogproof import TlogProof, encode_proof, parse_proof

FAST = RetryPolicy(attempts=4, initial=0.01, max_wait=0.05, sleep=lambda _: None)
OFFICE_B = "000.00.17.H57"
PASS_B = "mật khẩu Lan"


# -- a hub identity made of keys (feed records without a server) ----------------------------
class HubKeys:
    """The hub's issuer and cosigner keys, to sign feed items the way a hub does."""

    def __init__(self, name: str = HUB_NAME) -> None:
        self.name = name
        self.issuer = SigningKey.generate()
        self.cosigner = SigningKey.generate()
        self.issuer_cert = issue_certificate(
            self.issuer,
            self.issuer.public,
            role="issuer",
            name=name,
            office=None,
            station=None,
            not_before=iso(T0),
        )

    def info(self) -> HubInfo:
        cosigner = {
            "name": self.name,
            "public_key": b64url(self.cosigner.public),
            "key_id": self.cosigner.key_id,
        }
        return HubInfo(self.name, "http://127.0.0.1:9", self.issuer_cert, cosigner)

    def station(self, path: Path, office: str, officer: str, passphrase: str) -> Station:
        """A station whose key this hub certified (as `commune init --enroll` makes one)."""
        key = SigningKey.generate()
        cert = issue_certificate(
            self.issuer,
            key.public,
            role="station",
            name=f"UBND {office}",
            office=office,
            station=1,
            not_before=iso(T0),
        )
        st = Station.create(
            path,
            office=office,
            office_name=f"UBND {office}",
            officer_name=officer,
            passphrase=passphrase,
            now=T0,
            hub=self.name,
            station_key=key,
            station_cert=cert,
            meta={"hub": self.info().to_json()},
        )
        save_catalog(st.store, PROCEDURES)
        return st

    def cosigned(self, note: str) -> str:
        return note + cosign(note, self.cosigner, self.name, int(time.time())).line

    def item(self, author: Station, seq: int, cursor: int) -> dict[str, Any]:
        """The feed item the hub would send for entry `seq` of `author`'s log."""
        store = author.store
        event = orjson.loads(store.leaf(seq) or b"")
        latest = store.latest_checkpoint()
        assert latest is not None
        size, note = latest
        hashes = MerkleTree(SqliteNodeStore(store.conn), store.size()).inclusion_proof(seq, size)
        return {
            "cursor": cursor,
            "kind": "event",
            "station": event["station"],
            "seq": seq,
            "event": event,
            "officer_cert": author.officer_cert(event["officer"]),
            "station_cert": author.info.station_cert,
            "proof": encode_proof(TlogProof(seq, tuple(hashes), self.cosigned(note))),
        }

    def record(self, kind: str, cursor: int, body: dict[str, Any]) -> dict[str, Any]:
        record_type = {
            "catalog": "commune.catalog-update/v1",
            "calendar": "commune.calendar-update/v1",
            "revocation": "commune.revocations/v1",
        }[kind]
        signed = sign_record(
            {**body, "type": record_type, "issuer": self.issuer.key_id}, self.issuer
        )
        return {"cursor": cursor, "kind": kind, "record": signed}


def agent(station: Station, session: Session) -> SyncAgent:
    """An agent used only to apply feed items (no request is made)."""
    return SyncAgent(station, session, client=httpx.Client(), policy=FAST)


@pytest.fixture
def keys() -> HubKeys:
    return HubKeys()


@pytest.fixture
def offices(tmp_path: Path, keys: HubKeys) -> Iterator[tuple[Station, Session, Station, Session]]:
    a = keys.station(tmp_path / "a", OFFICE, "Nguyễn Thị Hoa", PASS)
    b = keys.station(tmp_path / "b", OFFICE_B, "Trần Thị Lan", PASS_B)
    yield a, a.sign_in(None, PASS), b, b.sign_in(None, PASS_B)
    a.close()
    b.close()


def quarantine_reasons(station: Station) -> list[str]:
    return [r["reason"] for r in reversed(quarantine_rows(station))]


# -- storage ------------------------------------------------------------------------------------
def test_sync_tables_exist_and_ledger_ones_are_append_only(station: Station) -> None:
    conn = station.store.conn
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"cosigned", "foreign_entries", "quarantine", "blobs", "blobs_at_hub"} <= tables
    with station.store.write():
        conn.execute("INSERT INTO cosigned (size, note, hub_unix) VALUES (1, 'n', 1)")
        conn.execute(
            "INSERT INTO foreign_entries (local_size, cursor, origin, station, seq, leaf, "
            "dossier, action, claimed_time, proof, officer_cert, station_cert) "
            "VALUES (0, 1, 'o', 's', 0, x'00', NULL, 'receive', 't', 'p', '{}', '{}')"
        )
    for sql in (
        "UPDATE cosigned SET note = 'x'",
        "DELETE FROM cosigned",
        "UPDATE foreign_entries SET seq = 5",
        "DELETE FROM foreign_entries",
    ):
        with pytest.raises(Exception, match="append-only"), station.store.write():
            conn.execute(sql)


# -- feed items: verified, folded in the order applied, rebuilt identically --------------------
def test_transferred_dossier_is_folded_and_rebuilt_in_import_order(
    offices: tuple[Station, Session, Station, Session], keys: HubKeys
) -> None:
    a, sa, b, sb = offices
    code = receive(sa, procedure="1.001193", applicant=APPLICANT, now=T0)["code"]
    act(sa, code, "transfer", to=OFFICE_B, reason="Thuộc thẩm quyền xã B", now=T0)
    first, transfer = a.dossier(code), a.store.size() - 1
    assert first is not None
    at_b = agent(b, sb)
    at_b.apply_item(keys.item(a, int(first["seq"]), cursor=1))
    # an own event between the two imports: the merge must keep the order they happened in
    receive(sb, procedure="1.001193", applicant={**APPLICANT, "name": "Lê Văn Tư"}, now=T0)
    at_b.apply_item(keys.item(a, transfer, cursor=2))
    state = b.dossier(code)
    assert state is not None and state["status"] == "transferred"
    assert state["handling_office"] == OFFICE_B
    # the receiving office acts on a dossier that exists here only through foreign entries
    act(sb, code, "accept", now=T0 + timedelta(hours=1))
    act(sb, code, "resolve", now=T0 + timedelta(hours=2))
    rows = b.store.conn.execute(
        "SELECT local_size, cursor, station, seq FROM foreign_entries ORDER BY id"
    ).fetchall()
    assert rows == [(2, 1, f"{OFFICE}/1", first["seq"]), (3, 2, f"{OFFICE}/1", transfer)]
    assert b.store.meta("feed_cursor") == "2"
    assert [(r["station"], r["action"]) for r in timeline(b, code)] == [
        (f"{OFFICE}/1", "receive"),
        (f"{OFFICE}/1", "transfer"),
        (f"{OFFICE_B}/1", "accept"),
        (f"{OFFICE_B}/1", "resolve"),
    ]
    assert timeline(b, code)[0]["officer"] == "Nguyễn Thị Hoa"  # from the imported cert
    before = b.dossier(code)
    result = rebuild_and_compare(b)
    assert result["identical"] and result["dossiers"] == 2
    assert b.dossier(code) == before
    # the same item again (a re-sent page) changes nothing
    at_b.apply_item(keys.item(a, transfer, cursor=2))
    at_b.apply_item({**keys.item(a, transfer, cursor=3)})
    assert b.store.conn.execute("SELECT COUNT(*) FROM foreign_entries").fetchone()[0] == 2
    assert b.store.meta("feed_cursor") == "3"
    with pytest.raises(Exception, match="biên nhận do trạm đó cấp"):
        receipt_for(b, code)


def test_an_impossible_foreign_event_is_kept_as_a_conflict(
    offices: tuple[Station, Session, Station, Session], keys: HubKeys
) -> None:
    a, sa, b, sb = offices
    code = receive(sa, procedure="1.001193", applicant=APPLICANT, now=T0)["code"]
    act(sa, code, "transfer", to=OFFICE_B, now=T0)
    at_b = agent(b, sb)
    for cursor, seq in enumerate(range(a.store.size() - 2, a.store.size()), 1):
        at_b.apply_item(keys.item(a, seq, cursor))
    act(sb, code, "accept", now=T0 + timedelta(hours=1))
    # office A, not having seen B's accept, stops the dossier; B has already resolved it
    act(sb, code, "resolve", now=T0 + timedelta(hours=2))
    act(sa, code, "withdraw", reason="Công dân rút", now=T0 + timedelta(hours=3))
    at_b.apply_item(keys.item(a, a.store.size() - 1, cursor=3))
    state = b.dossier(code)
    assert state is not None
    assert (state["status"], state["conflicts"]) == ("resolved", 1)
    assert b.store.conn.execute(
        "SELECT action FROM foreign_entries ORDER BY id DESC LIMIT 1"
    ).fetchone() == ("withdraw",)
    assert rebuild_and_compare(b)["identical"]


def _tamper_cases(keys: HubKeys, a: Station, seq: int) -> dict[str, dict[str, Any]]:
    good = keys.item(a, seq, cursor=0)
    other = HubKeys()
    rogue_station = issue_certificate(
        other.issuer,
        SigningKey.from_seed(bytes(32)).public,
        role="station",
        name="x",
        office=OFFICE,
        station=1,
        not_before=iso(T0),
    )
    stranger = SigningKey.generate()
    rogue_officer = issue_certificate(
        stranger,
        SigningKey.generate().public,
        role="officer",
        name="x",
        office=OFFICE,
        station=1,
        not_before=iso(T0),
    )
    event = {**good["event"], "data": {**good["event"]["data"], "sets": 2}}
    proof = parse_proof(good["proof"])
    bad_hashes = encode_proof(
        TlogProof(proof.index, (bytes(32), *proof.hashes[1:]), proof.checkpoint)
    )
    latest = a.store.latest_checkpoint()
    assert latest is not None
    station_signed = latest[1]  # the station's own note, never cosigned by the hub
    uncosigned = encode_proof(TlogProof(proof.index, proof.hashes, station_signed))
    checkpoint = parse_checkpoint_text(parse_note(station_signed).text)
    foreign_signed = keys.cosigned(sign_checkpoint(checkpoint, stranger))
    enrol_item = keys.item(a, 1, cursor=0)  # officer-enrol: a station action
    return {
        "bad-station-cert": {**good, "station_cert": rogue_station},
        "bad-officer-cert": {**good, "officer_cert": rogue_officer},
        "bad-signature": {**good, "event": event},
        "bad-proof": {**good, "proof": bad_hashes},
        "no-cosignature": {**good, "proof": uncosigned},
        "bad-checkpoint": {
            **good,
            "proof": encode_proof(TlogProof(proof.index, proof.hashes, foreign_signed)),
        },
        "not-a-dossier-event": enrol_item,
        "unknown-kind": {"cursor": 0, "kind": "gossip"},
    }


def test_every_broken_link_of_a_feed_item_is_refused_without_blocking_the_rest(
    offices: tuple[Station, Session, Station, Session], keys: HubKeys
) -> None:
    a, sa, b, sb = offices
    code = receive(sa, procedure="1.001193", applicant=APPLICANT, now=T0)["code"]
    seq = a.store.size() - 1
    act(sa, code, "transfer", to=OFFICE_B, now=T0)
    cases = _tamper_cases(keys, a, seq)
    at_b = agent(b, sb)
    for cursor, (reason, item) in enumerate(cases.items(), 1):
        if reason not in ("unknown-kind", "not-a-dossier-event"):
            with pytest.raises(FeedItemRefused) as refused:
                verify_feed_event(item, keys.info())
            assert refused.value.reason == reason
        at_b.apply_item({**item, "cursor": cursor})
        assert b.store.meta("feed_cursor") == str(cursor)  # refused, and moved past
    assert quarantine_reasons(b) == list(cases)
    assert b.dossier(code) is None
    assert b.store.conn.execute("SELECT COUNT(*) FROM foreign_entries").fetchone()[0] == 0
    # the genuine items, after all the broken ones, still apply
    at_b.apply_item(keys.item(a, seq, cursor=20))
    at_b.apply_item(keys.item(a, seq + 1, cursor=21))
    state = b.dossier(code)
    assert state is not None and state["status"] == "transferred"
    rows = quarantine_rows(b)
    assert rows[0]["reason_vi"] == "loại mục không hỗ trợ"
    assert rows[-1]["source"] == "feed" and rows[-1]["dossier"] == code


def test_hub_records_catalog_calendar_and_revocation(
    offices: tuple[Station, Session, Station, Session], keys: HubKeys
) -> None:
    a, sa, b, sb = offices
    at_b = agent(b, sb)
    new_proc = {
        "code": "9.000001",
        "name": "Thủ tục mới của tỉnh",
        "field": "Hộ tịch",
        "time_limit": 3,
        "time_unit": "working_days",
        "fee": 0,
        "documents": [{"name": "Tờ khai", "originals": 1, "copies": 0}],
    }
    at_b.apply_item(keys.record("catalog", 1, {"procedures": [new_proc]}))
    assert get_procedure(b.store, "9.000001").time_limit == 3
    size = b.store.size()
    holidays = {"version": "tinh-2026.2", "holidays": ["2026-12-31"], "makeup_workdays": []}
    at_b.apply_item(keys.record("calendar", 2, holidays))
    at_b.apply_item(keys.record("calendar", 3, holidays))  # the same table again: no event
    assert b.store.size() == size + 1
    last = orjson.loads(b.store.leaf(size) or b"")
    assert (last["action"], last["data"]["version"]) == ("calendar-update", "tinh-2026.2")
    assert calendar(b.store).version.endswith("_tinh-2026.2")
    assert b.store.meta("feed_cursor") == "3"
    # a record the issuer did not sign
    forged = keys.record("catalog", 4, {"procedures": [{**new_proc, "fee": 999}]})
    forged["record"]["procedures"][0]["fee"] = 1000
    at_b.apply_item(forged)
    assert get_procedure(b.store, "9.000001").fee == 0
    # a revoked station key: its entries from that log size on are refused
    code = receive(sa, procedure="1.001193", applicant=APPLICANT, now=T0)["code"]
    act(sa, code, "transfer", to=OFFICE_B, now=T0)
    revoked = {
        "key_id": a.info.station_cert["key_id"],
        "station": a.info.ref,
        "origin": a.info.origin,
        "through": a.store.size() - 1,
    }
    at_b.apply_item(keys.record("revocation", 5, {"revocations": [revoked], "reason": "mất máy"}))
    at_b.apply_item(keys.item(a, a.store.size() - 2, cursor=6))  # before: accepted
    at_b.apply_item(keys.item(a, a.store.size() - 1, cursor=7))  # from `through` on: refused
    assert quarantine_reasons(b) == ["bad-record", "revoked"]
    state = b.dossier(code)
    assert state is not None and state["status"] == "received"


# -- against a real hub -------------------------------------------------------------------------
@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    (tmp_path / "hub").mkdir()
    with running_hub(tmp_path / "hub") as server:
        yield server


def stand_alone(path: Path, office: str = OFFICE) -> tuple[Station, Session]:
    st = make_station(path) if office == OFFICE else None
    if st is None:
        st = Station.create(
            path,
            office=office,
            office_name=f"UBND {office}",
            officer_name="Trần Thị Lan",
            passphrase=PASS_B,
            now=T0,
        )
        save_catalog(st.store, PROCEDURES)
        return st, st.sign_in(None, PASS_B)
    return st, st.sign_in(None, PASS)


def receive_many(session: Session, n: int, summary: str = "") -> list[str]:
    codes = []
    for i in range(n):
        who = {**APPLICANT, "name": f"Người nộp {i}"}
        kw: dict[str, Any] = {"summary": summary} if summary else {}
        when = T0 + timedelta(minutes=i)
        codes.append(receive(session, procedure="1.001193", applicant=who, now=when, **kw)["code"])
    return codes


class Recorder:
    """Keeps every request the client sends (method, path, bytes, headers)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        request.read()
        self.requests.append(request)

    def pushes(self) -> list[dict[str, Any]]:
        return [
            orjson.loads(zstandard.ZstdDecompressor().decompress(r.content))
            for r in self.requests
            if r.method == "POST" and r.url.path.endswith("/entries")
        ]


def test_enrolment_keeps_the_log_and_receipts_carry_the_hub_certificate(
    hub: HubServer, tmp_path: Path
) -> None:
    st, s = stand_alone(tmp_path / "a")
    code = receive_many(s, 1)[0]
    origin, size = st.info.origin, st.store.size()
    token = add_office(hub.hub, OFFICE)
    with httpx.Client() as client:
        with pytest.raises(HubRefused) as refused:
            enroll(st, s, hub.url, "not-the-token", client=client, policy=FAST)
        assert refused.value.code == "bad-token" and "mã đăng ký" in refused.value.message
        assert hub_info(st.store) is None
        result = enroll(st, s, hub.url, token, client=client, policy=FAST)
        again = enroll(st, s, hub.url, token, client=client, policy=FAST)  # lost answer: resend
    assert result["station_cert"] == again["station_cert"]
    assert (st.info.origin, st.store.size()) == (origin, size)  # same log, same origin
    assert origin.startswith("local/")
    cert = result["station_cert"]
    assert cert["issuer"] == hub.hub.issuer.key_id and cert["key_id"] == s.station_key.key_id
    assert receipt_for(st, code)["station_cert"] == cert
    known = hub_info(st.store)
    assert known is not None and (known.name, known.url) == (HUB_NAME, hub.url)
    assert orjson.loads(st.store.meta("trust_kit") or "{}")["type"] == "commune.trust-kit/v1"
    with httpx.Client() as client:
        report = sync(st, s, client=client, policy=FAST)
    assert report.ok and report.accepted == size


def test_init_with_enrolment_starts_the_log_under_the_hub(hub: HubServer, tmp_path: Path) -> None:
    token = add_office(hub.hub, OFFICE_B)
    with httpx.Client() as client:
        with pytest.raises(BadInput):
            enroll_new(hub.url, " ", office=OFFICE_B, station=2, office_name="B", client=client)
        enrolment = enroll_new(
            hub.url, token, office=OFFICE_B, station=2, office_name="UBND xã B", client=client
        )
    st = Station.create(
        tmp_path / "b",
        office=OFFICE_B,
        office_name="UBND xã B",
        officer_name="Trần Thị Lan",
        passphrase=PASS_B,
        now=T0,
        station=2,
        hub=enrolment.hub.name,
        station_key=enrolment.station_key,
        station_cert=enrolment.station_cert,
        meta=enrolment_meta(enrolment),
    )
    assert st.info.origin == f"{HUB_NAME}/office/{OFFICE_B}/2/e0"
    opening = orjson.loads(st.store.leaf(0) or b"")
    assert opening["data"]["station_cert"]["issuer"] == hub.hub.issuer.key_id
    assert station_id(st) == f"{OFFICE_B}-2"
    with httpx.Client() as client:
        report = sync(st, st.sign_in(None, PASS_B), client=client, policy=FAST)
    assert report.ok and report.accepted == st.store.size() == 2


def test_push_grows_chunks_signs_every_request_and_records_the_beacon(
    hub: HubServer, tmp_path: Path
) -> None:
    st, s = stand_alone(tmp_path / "a")
    token = add_office(hub.hub, OFFICE)
    codes = receive_many(s, 260)
    with httpx.Client() as client:
        enroll(st, s, hub.url, token, client=client, policy=FAST)
    assert set(sync_states(st, codes[:3]).values()) == {"local"}
    recorder = Recorder()
    seen: list[SyncProgress] = []
    with httpx.Client(event_hooks={"request": [recorder]}) as client:
        report = sync(st, s, client=client, policy=FAST, progress=seen.append)
    size = st.store.size()
    assert report.ok and (report.hub_size, report.accepted, report.pushed) == (0, size, size)
    ranges = [(p["from"], p["to"]) for p in recorder.pushes()]
    assert ranges == [(0, 16), (16, 48), (48, 112), (112, 240), (240, size)]
    for push in recorder.pushes():
        assert st.store.checkpoint_at(push["to"]) == push["checkpoint"]
        assert [orjson.dumps(e) for e in push["entries"]] == list(
            st.store.leaves(push["from"], push["to"])
        )
    public = s.station_key.public
    for request in recorder.requests:
        if request.url.path == "/v1/hub":
            continue  # public
        verified = verify_request(
            method=request.method,
            path=request.url.path,
            headers=dict(request.headers),
            body=request.content,
            public_key_for=lambda kid: public if kid == s.station_key.key_id else None,
        )
        assert verified.keyid == s.station_key.key_id
    feed = [r for r in recorder.requests if r.url.path.endswith("/feed")]
    assert feed and feed[0].url.params["after"] == "0" and feed[0].url.params["limit"] == "200"
    assert [p.done for p in seen if p.phase == "push"] == [16, 48, 112, 240, size]
    assert seen[-1].phase == "pull"
    # the hub's cosigned checkpoint: kept, and the beacon of the next events
    cosigned = st.store.conn.execute("SELECT size FROM cosigned ORDER BY size").fetchall()
    assert cosigned[-1] == (size,)
    beacon = orjson.loads(st.store.meta("beacon") or "null")
    assert beacon["size"] == size and beacon["origin"] == st.info.origin
    assert set(sync_states(st, codes).values()) == {"stored"}
    later = receive_many(s, 1)[0]
    event = orjson.loads(st.store.leaf(st.store.size() - 1) or b"")
    assert event["beacon"] == beacon
    assert sync_states(st, [later, codes[0]]) == {later: "local", codes[0]: "stored"}
    show = show_dossier(st, later)
    assert (show["sync"], show["sync_vi"]) == ("local", "chỉ lưu tại trạm")
    assert st.store.meta("last_sync") is not None
    assert st.store.meta("hub_clock_offset") is not None


def test_chunks_stop_at_256_kib_of_json(hub: HubServer, tmp_path: Path) -> None:
    st, s = stand_alone(tmp_path / "a")
    token = add_office(hub.hub, OFFICE)
    receive_many(s, 120, summary="Trích yếu rất dài " * 40)  # ~2.2 KB per entry
    recorder = Recorder()
    with httpx.Client(event_hooks={"request": [recorder]}) as client:
        enroll(st, s, hub.url, token, client=client, policy=FAST)
        report = sync(st, s, client=client, policy=FAST)
    assert report.ok and report.accepted == st.store.size()
    sizes = [sum(len(orjson.dumps(e)) + 1 for e in p["entries"]) for p in recorder.pushes()]
    counts = [len(p["entries"]) for p in recorder.pushes()]
    assert max(sizes) <= CHUNK_MAX_BYTES
    assert counts[:3] == [16, 32, 64] and counts[3] < 128  # the 4th would pass 256 KiB


def test_a_missing_checkpoint_is_signed_before_a_chunk_ends_there(
    hub: HubServer, tmp_path: Path
) -> None:
    st, s = stand_alone(tmp_path / "a")
    token = add_office(hub.hub, OFFICE)
    receive_many(s, 20)
    # entries written by another tool without their checkpoints (a crash after the commit)
    copy = tmp_path / "copy.db"
    shutil.copy(st.store.path, copy)
    assert st.store.checkpoint_at(16) is not None
    with httpx.Client() as client:
        enroll(st, s, hub.url, token, client=client, policy=FAST)
        fresh = Station.open(tmp_path / "a")
        fresh.store.conn.execute("DROP TRIGGER checkpoints_no_delete")
        fresh.store.conn.execute("DELETE FROM checkpoints WHERE size = 16")
        fresh.close()
        assert st.store.checkpoint_at(16) is None
        report = sync(st, s, client=client, policy=FAST)
    assert report.ok and st.store.checkpoint_at(16) is not None


def test_a_lost_answer_is_resent_and_nothing_is_doubled(hub: HubServer, tmp_path: Path) -> None:
    st, s = stand_alone(tmp_path / "a")
    token = add_office(hub.hub, OFFICE)
    receive_many(s, 10)
    with httpx.Client() as client:
        enroll(st, s, hub.url, token, client=client, policy=FAST)
    # one connection per request: GET /v1/hub, GET status, then the push whose answer is cut
    plan = FaultPlan(script=[Pass(), Pass(), Cut("down", 0)])
    with (
        FaultProxy("127.0.0.1", hub.port, plan=plan) as proxy,
        httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client,
    ):
        report = sync(st, s, client=client, server_url=proxy.url, policy=FAST)
        assert proxy.stats.cuts == 1
    assert report.ok and report.accepted == st.store.size() == 12
    assert report.chunks == 2  # the chunk was sent twice: the hub answered the same
    # the drop cost one chunk (halved before the retry: 8 of the 12 entries), counted as such
    assert report.retries == 1 and 0 < report.bytes_resent == report.largest_resent
    assert report.bytes_sent > report.bytes_resent
    with hub.hub.storage.transaction() as tx:
        stored = tx.station(station_id(st))
    assert stored is not None and stored.size == 12


@pytest.mark.parametrize("seed", [4, 5, 11])
def test_a_flaky_link_eventually_delivers_everything_exactly_once(
    hub: HubServer, tmp_path: Path, seed: int
) -> None:
    a, sa = stand_alone(tmp_path / "a")
    b, sb = stand_alone(tmp_path / "b", OFFICE_B)
    codes = receive_many(sa, 40)
    for code in codes[:10]:
        act(sa, code, "transfer", to=OFFICE_B, now=T0 + timedelta(hours=1))
    with httpx.Client() as client:
        enroll(a, sa, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
        enroll(b, sb, hub.url, add_office(hub.hub, OFFICE_B), client=client, policy=FAST)
    plan = FaultPlan(seed=seed, cut_rate=0.35, cut_max_bytes=500, duplicate_rate=0.2)
    runs = 0
    with FaultProxy("127.0.0.1", hub.port, plan=plan) as proxy:
        for st, s in ((a, sa), (b, sb)):
            while True:
                runs += 1
                assert runs < 60, "the link never let the sync finish"
                with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
                    report = sync(st, s, client=client, server_url=proxy.url, policy=FAST)
                if report.ok:
                    break
                assert report.problem == "offline", report.message
        proxy.settle()
        assert proxy.stats.cuts >= 1
    assert b.store.conn.execute("SELECT COUNT(*) FROM foreign_entries").fetchone()[0] == 20
    for code in codes[:10]:
        assert b.dossier(code) == a.dossier(code)
    with hub.hub.storage.transaction() as tx:
        assert tx.station(station_id(a)).size == a.store.size()  # type: ignore[union-attr]


def test_quarantined_entries_are_reported_once_and_shown(hub: HubServer, tmp_path: Path) -> None:
    st, s = stand_alone(tmp_path / "a")
    code = receive_many(s, 2)[0]
    act(s, code, "transfer", to="000.00.99.H99", now=T0 + timedelta(hours=1))
    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
        report = sync(st, s, client=client, policy=FAST)
        assert not report.ok and report.problem is None
        assert [(q["seq"], q["reason"], q["dossier"]) for q in report.quarantined] == [
            (st.store.size() - 1, "unknown-office", code)
        ]
        assert report.accepted == st.store.size()  # stored all the same: the log stays whole
        again = sync(st, s, client=client, policy=FAST)
    assert again.ok and again.quarantined == []
    rows = quarantine_rows(st)
    assert len(rows) == 1 and rows[0]["reason_vi"] == "đơn vị nhận không có trên máy chủ"
    assert rows[0]["source"] == "hub"


def test_offline_is_reported_and_loses_nothing(hub: HubServer, tmp_path: Path) -> None:
    st, s = stand_alone(tmp_path / "a")
    receive_many(s, 3)
    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
        closed = f"http://127.0.0.1:{free_port()}"
        started = time.monotonic()
        report = sync(st, s, client=client, server_url=closed, policy=FAST)
        assert time.monotonic() - started < 10
        assert report.problem == "offline" and "Không kết nối được" in report.message
        assert st.store.meta("last_sync") is None
        report = sync(st, s, client=client, policy=FAST)
    assert report.ok and report.accepted == st.store.size()


def test_a_revoked_station_is_told_plainly(hub: HubServer, tmp_path: Path) -> None:
    st, s = stand_alone(tmp_path / "a")
    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
        hub.hub.revoke(station_id(st), "Máy bị mất")
        report = sync(st, s, client=client, policy=FAST)
    assert report.problem == "unauthorized"
    assert "thu hồi" in report.message and "(revoked)" in report.message


def test_a_diverged_copy_is_a_fork_and_the_hub_keeps_the_evidence(
    hub: HubServer, tmp_path: Path
) -> None:
    st, s = stand_alone(tmp_path / "a")
    receive_many(s, 3)
    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
        assert sync(st, s, client=client, policy=FAST).ok
    shutil.copytree(tmp_path / "a", tmp_path / "copy")  # a backup, restored later
    receive(s, procedure="1.001193", applicant=APPLICANT, now=T0 + timedelta(days=1))
    copy = Station.open(tmp_path / "copy")
    cs = copy.sign_in(None, PASS)
    with httpx.Client() as client:
        assert sync(st, s, client=client, policy=FAST).ok
        behind = sync(copy, cs, client=client, policy=FAST)  # the old copy, as it was
        assert behind.problem == "hub-ahead" and "bản sao" in behind.message
    receive(cs, procedure="2.000908", applicant=APPLICANT, now=T0 + timedelta(days=1))
    with httpx.Client() as client:
        report = sync(copy, cs, client=client, policy=FAST)
        assert report.problem == "fork" and "rẽ nhánh" in report.message
        with hub.hub.storage.transaction() as tx:
            row = tx.station(station_id(st))
        assert row is not None and row.forked
        receive(s, procedure="1.001193", applicant=APPLICANT, now=T0 + timedelta(days=2))
        report = sync(st, s, client=client, policy=FAST)
    assert report.problem == "forked" and "liên hệ quản trị" in report.message
    copy.close()


def test_scans_upload_resumably_once(hub: HubServer, tmp_path: Path) -> None:
    st, s = stand_alone(tmp_path / "a")
    scan = os.urandom(600 * 1024)
    sha = add_blob(st.store, scan)
    assert sha == hashlib.sha256(scan).hexdigest()
    receive(
        s,
        procedure="1.001193",
        applicant=APPLICANT,
        now=T0,
        documents=[{"name": "Giấy chứng sinh", "originals": 1, "copies": 0, "blob": sha}],
    )
    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
    # an upload that broke off after its first piece
    raw = RawStation(hub.url, s.station_key)
    first = raw.request(
        "PATCH",
        f"/v1/blobs/{sha}",
        scan[: 256 * 1024],
        headers={"Upload-Offset": "0", "Upload-Length": str(len(scan))},
    )
    assert first.status_code == 200 and first.json() == {"offset": 256 * 1024, "complete": False}
    recorder = Recorder()
    with httpx.Client(event_hooks={"request": [recorder]}) as client:
        report = sync(st, s, client=client, policy=FAST)
        assert report.ok and report.blobs_uploaded == 1
        offsets = [
            int(r.headers["Upload-Offset"]) for r in recorder.requests if r.method == "PATCH"
        ]
        # resumed at the hub's offset, in pieces sized to the link: 32 KiB first, doubling
        # while a piece takes under CHUNK_SECONDS (on loopback, always)
        k = 1024
        assert offsets == [256 * k, (256 + 32) * k, (256 + 96) * k, (256 + 224) * k]
        assert hub.hub.blob_get(sha) == scan
        assert sync(st, s, client=client, policy=FAST).blobs_uploaded == 0


def test_the_hub_clock_signs_requests_and_a_wrong_pc_clock_is_warned(
    hub: HubServer, tmp_path: Path
) -> None:
    st, s = stand_alone(tmp_path / "a")
    receive_many(s, 2)

    def fast_clock() -> datetime:  # the PC's clock 10 minutes ahead
        return datetime.now(VN_TZ) + timedelta(minutes=10)

    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, now=fast_clock)
        report = sync(st, s, client=client, policy=FAST, now=fast_clock)
    assert report.ok  # signed with the hub's time: not refused as "from the future"
    assert report.clock_offset is not None and 590 <= report.clock_offset <= 610
    assert report.warnings and "nhanh hơn giờ máy chủ 10 phút" in report.warnings[0]
    assert 590 <= int(st.store.meta("hub_clock_offset") or 0) <= 610


def test_records_published_by_the_hub_reach_the_station(hub: HubServer, tmp_path: Path) -> None:
    st, s = stand_alone(tmp_path / "a")
    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
        hub.hub.publish(
            "calendar", {"version": "vn-2026.3", "holidays": ["2026-12-30"], "makeup_workdays": []}
        )
        report = sync(st, s, client=client, policy=FAST)
    assert report.ok and report.pulled == 1
    assert calendar(st.store).version.endswith("_vn-2026.3")
    assert rebuild_and_compare(st)["identical"]


def test_sync_needs_an_enrolled_station(station: Station, session: Session) -> None:
    with pytest.raises(BadInput, match="chưa đăng ký"):
        sync(station, session, client=httpx.Client())


def test_entries_the_hub_cannot_verify_stop_the_run_with_its_findings(
    hub: HubServer, tmp_path: Path
) -> None:
    st, s = stand_alone(tmp_path / "a")
    receive_many(s, 3)
    with httpx.Client() as client:
        enroll(st, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
        # the file edited behind the ledger's back: entry 3 no longer matches its signature
        conn = st.store.conn
        conn.execute("DROP TRIGGER entries_no_update")
        leaf = st.store.leaf(3) or b""
        conn.execute(
            "UPDATE entries SET leaf = ? WHERE seq = 3",
            (leaf.replace("Người nộp 1".encode(), "Người nộp 7".encode()),),
        )
        report = sync(st, s, client=client, policy=FAST)
    assert report.problem == "invalid-entries" and report.accepted is None
    assert any(f.get("index") == 3 for f in report.findings), report.findings
    assert st.store.meta("hub_accepted") is None
