"""Fork evidence (`audit.evidence`, `commune.fork-evidence/v1`): what the hub records when a
station key signs two conflicting checkpoints, in every shape, becomes evidence of at most
4 KB that verifies on its own; anything changed in it, or two checkpoints that agree, does not.

The forks are made by pushing to a real hub (both backends) batches re-signed with the station
key (what a stolen key can do); the pure tests build logs in memory, including a property test
over random tree sizes: a real divergence always yields verifying evidence, and a consistent
pair never does.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hubaudit_kit import one_line_error, run
from hubkit import HubServer, RawStation, add_office, batch_from_store, running_hub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_fixtures import pg_server, pg_url  # noqa: F401  (fixtures)
from stationkit import APPLICANT, OFFICE, PASS, T0, make_station

from audit.evidence import (
    MAX_EVIDENCE,
    EvidenceInputError,
    check_evidence,
    encode_evidence,
    evidence_from_hub_record,
    fork_evidence,
    trust_kit,
    verify_evidence,
)
from commune_client import desk
from commune_client.station import Session, Station
from ledger.certs import issue_certificate
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import b64, unb64
from ledger.keys import SigningKey
from ledger.log import ENVELOPE, StationLog
from ledger.merkle import MemoryNodeStore, MerkleTree, leaf_hash, node_hash
from schemas.canonical import canonical

SID = f"{OFFICE}-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubServer]:
    db = (
        f"sqlite:///{tmp_path / 'hub' / 'hub.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    with running_hub(db) as server:
        yield server


@dataclass
class Pushed:
    """Station 1 (stationkit), enrolled by hand and with its whole log pushed in one run."""

    hub: HubServer
    station: Station
    session: Session
    raw: RawStation
    n: int

    @property
    def kit(self) -> dict[str, Any]:
        return self.hub.hub.trust_kit()

    def forged(self, index: int, end: int) -> tuple[list[dict[str, Any]], str]:
        """Entries [0, end) re-signed from `index` on, with a different entry at `index`
        (past the station's size: more new entries), and the station-signed checkpoint."""
        info = self.station.info
        leaves = list(self.station.store.leaves(0, self.n))
        log = StationLog(info.origin, info.ref, self.session.station_key, MemoryNodeStore())
        entries: list[dict[str, Any]] = []
        for i in range(end):
            leaf = leaves[min(i, self.n - 1)]
            if i < index:
                log.tree.append_hash(leaf_hash(leaf))
                entries.append(orjson.loads(leaf))
                continue
            event = orjson.loads(leaf)
            body = {k: v for k, v in event.items() if k not in ENVELOPE}
            if i == index or i >= self.n:
                body["data"] = {**body["data"], "summary": f"bản ghi khác {i}"}
            officer = self.session.officer
            signer = officer if event["officer"] == officer.key_id else self.session.station_key
            entries.append(log.append(body, signer).event)
        return entries, log.checkpoint()

    def push(self, start: int, entries: list[dict[str, Any]], checkpoint: str) -> Any:
        info = self.station.info
        batch = {
            "type": "commune.batch/v1",
            "station": info.ref,
            "origin": info.origin,
            "from": start,
            "to": start + len(entries),
            "entries": entries,
            "checkpoint": checkpoint,
        }
        return self.raw.push(SID, batch)

    def records(self) -> list[dict[str, Any]]:
        with self.hub.hub.storage.transaction() as tx:
            return [f["evidence"] for f in tx.forks(SID)]


@pytest.fixture
def pushed(hub: HubServer, tmp_path: Path) -> Iterator[Pushed]:
    station = make_station(tmp_path / "station")
    session = station.sign_in(None, PASS)
    for i in range(5):
        desk.receive(
            session,
            procedure="1.001193",
            applicant={**APPLICANT, "id_number": f"00108800{i:04d}"},
            now=T0 + timedelta(minutes=i),
        )
    raw = RawStation(hub.url, session.station_key)
    token = add_office(hub.hub, OFFICE)
    assert raw.enrol(token, OFFICE, 1, station.info.origin).status_code == 201
    n = station.store.size()
    batch = batch_from_store(station.store, station.info.ref, station.info.origin, 0, n)
    assert raw.push(SID, batch).status_code == 200
    try:
        yield Pushed(hub, station, session, raw, n)
    finally:
        raw.client.close()
        station.close()


def _evidence(p: Pushed) -> dict[str, Any]:
    (record,) = p.records()
    doc = evidence_from_hub_record(record, p.kit["issuer"])
    data = encode_evidence(doc)
    assert len(data) <= MAX_EVIDENCE, len(data)
    return doc


# -- forks recorded by the hub ------------------------------------------------------------------
def test_same_size_fork(pushed: Pushed) -> None:
    entries, checkpoint = pushed.forged(2, pushed.n)
    r = pushed.push(0, entries, checkpoint)
    assert r.status_code == 409 and r.json()["error"] == "fork", r.text
    doc = _evidence(pushed)
    assert "consistency" not in doc and doc["b"] == checkpoint
    for kit in (None, pushed.kit):
        verdict = check_evidence(doc, kit)
        assert verdict.ok and verdict.details["kind"] == "same-size", verdict
    assert verify_evidence(doc)[0] is True


def test_a_longer_conflicting_log(pushed: Pushed) -> None:
    """A different entry below the accepted size, and the sent log goes 3 entries further:
    the hub keeps the proof from the sent log's tree that it does not extend the accepted."""
    end = pushed.n + 3
    entries, checkpoint = pushed.forged(2, end)
    r = pushed.push(1, entries[1:], checkpoint)
    assert r.status_code == 409 and r.json()["index"] == 2, r.text
    (record,) = pushed.records()
    assert record["consistency"]["proof"]
    doc = _evidence(pushed)
    verdict = check_evidence(doc, pushed.kit)
    assert verdict.ok and verdict.details["kind"] == "not-a-prefix", verdict
    assert verdict.details["sizes"] == [pushed.n, end]


def test_a_shorter_conflicting_checkpoint(pushed: Pushed) -> None:
    """A checkpoint of size 3, which the hub never had a checkpoint of (the log came in one
    run): the proof comes from the hub's tree."""
    entries, checkpoint = pushed.forged(2, 3)
    r = pushed.push(2, entries[2:], checkpoint)
    assert r.status_code == 409, r.text
    doc = _evidence(pushed)
    verdict = check_evidence(doc, pushed.kit)
    assert verdict.ok and verdict.details["sizes"] == [pushed.n, 3], verdict


def test_entries_that_do_not_give_their_checkpoint_are_not_a_fork(pushed: Pushed) -> None:
    """Nothing the station signed disagrees: 422, nothing kept, the station not stopped."""
    entries, _ = pushed.forged(2, pushed.n)
    held = batch_from_store(
        pushed.station.store, pushed.station.info.ref, pushed.station.info.origin, 0, pushed.n
    )
    r = pushed.push(0, entries, held["checkpoint"])  # the accepted checkpoint, other entries
    assert r.status_code == 422 and r.json()["error"] == "invalid-entries", r.text
    assert r.json()["findings"][0]["index"] == 2
    longer, checkpoint = pushed.forged(2, pushed.n + 2)
    longer[-1] = {**longer[-1], "claimed_time": "2026-01-01T00:00:00+07:00"}  # not the tree
    r = pushed.push(0, longer, checkpoint)
    assert r.status_code == 422 and r.json()["error"] == "invalid-entries", r.text
    assert pushed.records() == []
    with pushed.hub.hub.storage.transaction() as tx:
        row = tx.station(SID)
    assert row is not None and not row.forked


# -- verifying on its own -------------------------------------------------------------------------
def _b64_flip(text: str, at: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _note_lines(note: str) -> list[str]:
    return note.split("\n")


def test_tampered_evidence_does_not_verify(pushed: Pushed, tmp_path: Path) -> None:
    entries, checkpoint = pushed.forged(3, pushed.n)
    assert pushed.push(0, entries, checkpoint).status_code == 409
    doc = _evidence(pushed)
    kit = pushed.kit
    b = _note_lines(doc["b"])
    sig = next(i for i, line in enumerate(b) if line.startswith("\u2014 "))
    name, value = b[sig].rsplit(" ", 1)
    other_key = SigningKey.generate()
    other_cert = issue_certificate(
        other_key,
        other_key.public,
        role="station",
        name="Trạm khác",
        office=OFFICE,
        station=1,
        not_before="2026-11-23T07:00:00+07:00",
    )
    cosigned_a = _note_lines(doc["a"])
    hub_line = next(i for i, line in enumerate(cosigned_a) if line.startswith("\u2014 hub.test "))
    hub_name, hub_value = cosigned_a[hub_line].rsplit(" ", 1)
    # (changed evidence, the reason, when it fails: "both" with and without the kit, "kit"
    # only with it (only the kit knows the hub's key), "alone" only without it)
    no_issuer = {k: v for k, v in doc.items() if k != "issuer_cert"}
    flipped_sig = [*b[:sig], f"{name} {_b64_flip(value, 9)}", *b[sig + 1 :]]
    flipped_hub = [
        *cosigned_a[:hub_line],
        f"{hub_name} {_b64_flip(hub_value, 20)}",
        *cosigned_a[hub_line + 1 :],
    ]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({**doc, "b": "\n".join([*b[:2], _b64_flip(b[2]), *b[3:]])}, "checkpoint b", "both"),
        ({**doc, "b": "\n".join(flipped_sig)}, "checkpoint b", "both"),
        ({**doc, "b": "\n".join([b[0], str(int(b[1]) + 1), *b[2:]])}, "checkpoint b", "both"),
        ({**doc, "a": doc["b"]}, "no fork", "both"),
        ({**doc, "station_cert": other_cert}, "checkpoint a", "both"),
        ({**doc, "origin": doc["origin"].replace("/1/e0", "/2/e0")}, "not a log of", "both"),
        ({**doc, "type": "commune.fork/v1"}, "not commune.fork-evidence/v1", "both"),
        ({**doc, "a": "\n".join(flipped_hub)}, "hub.test does not verify", "kit"),
        (no_issuer, "issuer certificate is missing", "alone"),
    ]
    for bad, reason, when in cases:
        with_kit, alone = verify_evidence(bad, kit), verify_evidence(bad)
        failing = {"both": [with_kit, alone], "kit": [with_kit], "alone": [alone]}[when]
        passing = {"both": [], "kit": [alone], "alone": [with_kit]}[when]
        for ok, why in failing:
            assert not ok and reason in why, (reason, why)
        for ok, why in passing:
            assert ok, why
    # another hub's kit does not vouch for this station key
    other_issuer = SigningKey.generate()
    foreign = copy.deepcopy(kit)
    foreign["issuer"] = issue_certificate(
        other_issuer,
        other_issuer.public,
        role="issuer",
        name="hub.other",
        office=None,
        station=None,
        not_before="2026-11-23T07:00:00+07:00",
    )
    from ledger.records import sign_record

    foreign = sign_record({k: v for k, v in foreign.items() if k != "sig"}, other_issuer)
    ok, why = verify_evidence(doc, foreign)
    assert not ok and "does not vouch" in why
    # a kit that is not one is bad input, not a verdict
    with pytest.raises(EvidenceInputError):
        verify_evidence(doc, {"type": "commune.trust-kit/v1"})
    with pytest.raises(EvidenceInputError):
        trust_kit({**kit, "issued_at": "2020-01-01T00:00:00+07:00"})
    for junk in (None, [], "x", {"type": "commune.fork-evidence/v1"}, {**doc, "a": 5}):
        assert verify_evidence(junk)[0] is False

    # the command line: 0, 1, 2
    good = tmp_path / "fork.json"
    good.write_bytes(encode_evidence(doc))
    assert run("commune-audit", "evidence", str(good)).returncode == 0
    assert run("commune-audit", "evidence", str(good), "--trust", "/nonexistent").returncode == 2
    kit_file = tmp_path / "kit.json"
    kit_file.write_bytes(orjson.dumps(kit))
    assert run("commune-audit", "evidence", str(good), "--trust", str(kit_file)).returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(cases[0][0]))
    out = run("commune-audit", "evidence", str(bad))
    assert out.returncode == 1 and "NOT PROVEN" in out.stdout.decode()
    for text, why in [
        ("{", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"type": "x"}', "not fork evidence"),
    ]:
        bad.write_text(text)
        assert why in one_line_error(run("commune-audit", "evidence", str(bad)))
    assert "cannot read" in one_line_error(run("commune-audit", "evidence", str(tmp_path / "no")))
    bad.write_bytes(b"x" * 70000)
    assert "too large" in one_line_error(run("commune-audit", "evidence", str(bad)))


def test_the_audit_api_shows_the_hub_records(pushed: Pushed) -> None:
    import httpx

    entries, checkpoint = pushed.forged(2, pushed.n + 1)
    assert pushed.push(0, entries, checkpoint).status_code == 409
    token = pushed.hub.hub.auditor_token("thanh-tra")["token"]
    r = httpx.get(
        f"{pushed.hub.url}/v1/audit/stations/{SID}/forks",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["forked"] is True and body["issuer_cert"] == pushed.kit["issuer"]
    (record,) = body["forks"]
    doc = evidence_from_hub_record(record["evidence"], body["issuer_cert"])
    assert verify_evidence(doc, pushed.kit)[0]


# -- in memory: a stand-alone station's key, any sizes ---------------------------------------------
ORIGIN = f"local/office/{OFFICE}/1/e0"
KEY = SigningKey.from_seed(bytes(range(32)))
CERT = issue_certificate(
    KEY,
    KEY.public,
    role="station",
    name="Trạm 1",
    office=OFFICE,
    station=1,
    not_before="2026-11-23T07:00:00+07:00",
)


def _tree(leaves: list[bytes]) -> MerkleTree:
    tree = MerkleTree(MemoryNodeStore())
    for leaf in leaves:
        tree.append(leaf)
    return tree


def _note(tree: MerkleTree, size: int) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, tree.root(size)), KEY)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    shared=st.integers(0, 40),
    extra_a=st.integers(0, 40),
    extra_b=st.integers(1, 40),
    data=st.data(),
)
def test_divergent_logs_always_give_evidence_consistent_ones_never(
    shared: int, extra_a: int, extra_b: int, data: st.DataObject
) -> None:
    base = [canonical({"type": "t", "i": i}) for i in range(shared)]
    a_leaves = base + [canonical({"type": "a", "i": i}) for i in range(extra_a)]
    b_leaves = base + [canonical({"type": "b", "i": i}) for i in range(extra_b)]
    ta, tb = _tree(a_leaves), _tree(b_leaves)
    size_a = data.draw(st.integers(1, len(a_leaves))) if a_leaves else 0
    size_b = data.draw(st.integers(1, len(b_leaves)))
    if size_a == 0:
        return
    note_a, note_b = _note(ta, size_a), _note(tb, size_b)
    diverged = ta.root(min(size_a, size_b)) != tb.root(min(size_a, size_b))
    consistency = None
    if size_a != size_b:
        small, big, tree = (size_a, size_b, tb) if size_a < size_b else (size_b, size_a, ta)
        consistency = {
            "old_root": b64(tree.root(small)),
            "proof": [b64(h) for h in tree.consistency_proof(small, big)],
        }
    doc = fork_evidence(
        origin=ORIGIN, station_cert=CERT, a=note_a, b=note_b, consistency=consistency
    )
    ok, why = verify_evidence(doc)
    assert ok is diverged, why
    assert len(encode_evidence(doc)) <= MAX_EVIDENCE
    if diverged and consistency is not None:
        # the proof of the other tree: the one the bigger checkpoint is not about
        wrong = {**consistency, "old_root": b64(bytes(32))}
        assert verify_evidence({**doc, "consistency": wrong})[0] is False


def test_evidence_size_stays_small_for_a_big_log() -> None:
    """A province-sized log: 2^20 + 12345 entries; a hub-issued certificate with its issuer."""
    size, small = 2**20 + 12345, 2**19 + 7

    class Lazy:  # a real tree over made-up leaves, each node computed when a proof asks
        def __init__(self) -> None:
            self.memo: dict[tuple[int, int], bytes] = {}

        def get(self, level: int, index: int) -> bytes:
            found = self.memo.get((level, index))
            if found is None:
                if level == 0:
                    found = leaf_hash(index.to_bytes(8, "big"))
                else:
                    found = node_hash(
                        self.get(level - 1, 2 * index), self.get(level - 1, 2 * index + 1)
                    )
                self.memo[(level, index)] = found
            return found

        def put(self, nodes: Any) -> None:
            raise AssertionError

    tree = MerkleTree(Lazy(), size)
    issuer = SigningKey.generate()
    issuer_cert = issue_certificate(
        issuer,
        issuer.public,
        role="issuer",
        name="hub.tinh.gov.vn",
        office=None,
        station=None,
        not_before="2026-11-23T07:00:00+07:00",
    )
    station_cert = issue_certificate(
        issuer,
        KEY.public,
        role="station",
        name="UBND xã Tân Lập — trạm tiếp nhận 1",
        office=OFFICE,
        station=1,
        not_before="2026-11-23T07:00:00+07:00",
    )
    origin = f"hub.tinh.gov.vn/office/{OFFICE}/1/e0"
    doc = fork_evidence(
        origin=origin,
        station_cert=station_cert,
        issuer_cert=issuer_cert,
        a=sign_checkpoint(Checkpoint(origin, small, bytes(32)), KEY),
        b=sign_checkpoint(Checkpoint(origin, size, tree.root()), KEY),
        consistency={
            "old_root": b64(tree.root(small)),
            "proof": [b64(h) for h in tree.consistency_proof(small, size)],
        },
    )
    assert verify_evidence(doc)[0]
    assert len(encode_evidence(doc)) <= MAX_EVIDENCE, len(encode_evidence(doc))
    assert unb64(doc["consistency"]["old_root"]) == tree.root(small)
