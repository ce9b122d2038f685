"""The hub's read-only audit API and `commune-audit hub` (docs/audit.md), on both storage
backends, against a real hub on loopback and a station made and synced with the `commune`
command line.

- The audit API answers only to an auditor's token (`sync-server auditor token`): none, a wrong
  one, an expired or revoked one, a station's signature: 401 JSON; it never writes (405).
- `commune-audit hub` on a healthy office: exit 0, every checkpoint and proof checked.
- A fork made with a stolen station key (a copy of the station's data directory that goes on
  with other entries and syncs): the hub records it; `commune-audit hub` exits 1 and writes
  evidence of at most 4 KB that `commune-audit evidence` verifies with the hub stopped.
- A hub whose stored checkpoints show a split view: the consecutive-pair check catches it.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hubaudit_kit import (
    OFFICE,
    PASS,
    Desk,
    Office,
    hub_for,
    make_office,
    ok_json,
    one_line_error,
    run,
    sync_server,
)
from hubkit import RawStation
from pg_fixtures import pg_server  # noqa: F401  (fixture)
from pgserver import PgServer

from commune_client.station import Station
from ledger.checkpoint import Checkpoint, cosign, parse_checkpoint_text, sign_checkpoint
from ledger.encoding import unb64
from ledger.merkle import MemoryNodeStore, MerkleTree, verify_consistency
from ledger.note import parse_note
from ledger.verify import verify_ledger

AUDIT = "/v1/audit"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(request.param)


def _database(backend: str, root: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{root / 'hub' / 'hub.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"t_hubaudit_{uuid.uuid4().hex[:10]}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(scope="module")
def office(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Office]:
    """A healthy office (read-only tests share it)."""
    root = tmp_path_factory.mktemp(f"healthy-{backend}")
    for db in _database(backend, root, request):
        with hub_for(db) as server:
            yield make_office(server, db, root)


@pytest.fixture
def fresh(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Office]:
    """An office of its own (for tests that fork or tamper with the hub)."""
    for db in _database(backend, tmp_path, request):
        with hub_for(db) as server:
            yield make_office(server, db, tmp_path)


def _get(office: Office, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or office.token}"}
    return httpx.get(office.url + path, params=params, headers=headers, timeout=30)


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code and body["detail"], body


def _paths(office: Office) -> list[str]:
    sid = office.sid
    return [
        f"{AUDIT}/offices/{OFFICE}",
        f"{AUDIT}/stations/{sid}/checkpoints",
        f"{AUDIT}/stations/{sid}/consistency?first=1&second=2",
        f"{AUDIT}/stations/{sid}/forks",
        f"{AUDIT}/stations/{sid}/ledger",
    ]


def _hub_state(office: Office) -> Any:
    with office.server.hub.storage.transaction() as tx:
        return (
            [(s.sid, s.size, s.cosigned, s.forked) for s in tx.stations()],
            tx.entry_count(),
            tx.forks(),
            [tx.checkpoints(s.sid) for s in tx.stations()],
        )


# -- the audit API -----------------------------------------------------------------------------
def test_the_audit_api_refuses_without_a_valid_token(office: Office) -> None:
    db = office.db
    expired = sync_server(db, "auditor", "token", "het-han", "--days", "1")["token"]
    with office.server.hub.storage.transaction() as tx:
        tx.conn.execute(
            tx.storage.sql("UPDATE auditor_tokens SET expires_unix = ? WHERE name = ?"),
            (office.server.hub.now() - 1, "het-han"),
        )
    revoked = sync_server(db, "auditor", "token", "da-thu-hoi")["token"]
    assert sync_server(db, "auditor", "revoke", "da-thu-hoi") == {
        "name": "da-thu-hoi",
        "revoked": True,
    }
    listed = {a["name"]: a for a in sync_server(db, "auditor", "list")}
    assert listed["da-thu-hoi"]["revoked"] and not listed["thanh-tra"]["revoked"]
    assert all("token" not in a for a in listed.values())  # only the hash is kept
    station_key = Station.open(office.desk.data).sign_in(None, PASS).station_key
    signed = RawStation(office.url, station_key)
    try:
        for path in _paths(office):
            bare = httpx.get(office.url + path, timeout=30)
            _refused(bare, 401, "missing-token")
            assert bare.headers["www-authenticate"].startswith("Bearer")
            for header, code in [
                ("Bearer nope", "invalid-token"),
                (f"Basic {office.token}", "invalid-token"),
                ("Bearer", "invalid-token"),
                (f"Bearer {expired}", "token-expired"),
                (f"Bearer {revoked}", "token-revoked"),
            ]:
                r = httpx.get(office.url + path, headers={"Authorization": header}, timeout=30)
                _refused(r, 401, code)
            _refused(signed.request("GET", path), 401, "missing-token")  # a station is no auditor
        # and an auditor is no station
        r = httpx.get(
            f"{office.url}/v1/stations/{office.sid}",
            headers={"Authorization": f"Bearer {office.token}"},
            timeout=30,
        )
        _refused(r, 401, "missing-signature")
    finally:
        signed.client.close()


def test_the_audit_api_never_writes(office: Office) -> None:
    before = _hub_state(office)
    headers = {"Authorization": f"Bearer {office.token}", "Content-Type": "application/json"}
    for path in _paths(office):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = httpx.request(method, office.url + path, headers=headers, content=b"{}", timeout=30)
            _refused(r, 405, "method-not-allowed")
        assert _get(office, path.split("?")[0], first=1, second=2).status_code == 200
    assert _hub_state(office) == before


def test_the_audit_api_answers_an_auditor(office: Office, tmp_path: Path) -> None:
    listing = _get(office, f"{AUDIT}/offices/{OFFICE}").json()
    assert listing["office"]["code"] == OFFICE
    (st,) = listing["stations"]
    with office.server.hub.storage.transaction() as tx:
        row = tx.station(office.sid)
        held = tx.leaves(office.sid, 0, row.size) if row else []
        stored = tx.checkpoints(office.sid)
    assert row is not None
    assert (st["sid"], st["origin"], st["size"], st["checkpoint"]) == (
        row.sid,
        row.origin,
        row.size,
        row.cosigned,
    )
    assert st["station_cert"] == row.cert and st["forked"] is False and st["forks"] == 0
    assert st["checkpoints"] == len(stored) >= 2
    assert {c["role"] for c in st["officer_certs"]} == {"officer"}

    cps = _get(office, f"{AUDIT}/stations/{office.sid}/checkpoints").json()
    assert [c["size"] for c in cps["checkpoints"]] == [c["size"] for c in stored]
    assert [c["cosigned"] for c in cps["checkpoints"]] == [c["checkpoint"] for c in stored]
    assert all(c["cosigned"].startswith(c["note"]) for c in cps["checkpoints"])
    assert cps["more"] is False
    page = _get(office, f"{AUDIT}/stations/{office.sid}/checkpoints", limit=1).json()
    assert len(page["checkpoints"]) == 1 and page["more"] is True
    following = _get(
        office, f"{AUDIT}/stations/{office.sid}/checkpoints", after=page["next"], limit=1
    ).json()
    assert following["checkpoints"][0]["size"] == stored[1]["size"]

    roots = {
        c["size"]: parse_checkpoint_text(parse_note(c["note"]).text).root
        for c in cps["checkpoints"]
    }
    first, second = sorted(roots)[:2]
    proof = _get(
        office, f"{AUDIT}/stations/{office.sid}/consistency", first=first, second=second
    ).json()
    assert unb64(proof["first_root"]) == roots[first]
    assert unb64(proof["second_root"]) == roots[second]
    verify_consistency(
        first, second, [unb64(h) for h in proof["proof"]], roots[first], roots[second]
    )
    for bad in [(0, 1), (2, 1), (1, row.size + 1), (-1, 2)]:
        r = _get(office, f"{AUDIT}/stations/{office.sid}/consistency", first=bad[0], second=bad[1])
        _refused(r, 400, "bad-request")
    _refused(_get(office, f"{AUDIT}/stations/{office.sid}/consistency"), 400, "bad-request")
    _refused(_get(office, f"{AUDIT}/stations/{OFFICE}-7/forks"), 404, "unknown-station")
    _refused(_get(office, f"{AUDIT}/stations/{OFFICE}-7/ledger"), 404, "unknown-station")
    _refused(_get(office, f"{AUDIT}/offices/000.00.99.H99"), 404, "unknown-office")
    forks = _get(office, f"{AUDIT}/stations/{office.sid}/forks").json()
    assert forks["forks"] == [] and forks["forked"] is False

    # the hub's copy in the export format: the same leaves as the station's own export
    r = _get(office, f"{AUDIT}/stations/{office.sid}/ledger")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/jsonl")
    lines = r.content.splitlines()
    header = orjson.loads(lines[0])
    assert header["type"] == "commune.ledger-export/v1"
    assert (header["origin"], header["entries"], header["checkpoints"], header["cosigned"]) == (
        row.origin,
        row.size,
        len(stored),
        len(stored),
    )
    assert lines[1 : 1 + row.size] == held
    cosigned = [orjson.loads(x) for x in lines[1 + row.size : 1 + row.size + len(stored)]]
    assert cosigned == [
        {
            "type": "commune.cosigned/v1",
            "size": c["size"],
            "hub_unix": c["hub_unix"],
            "note": c["cosigned"],
        }
        for c in cps["checkpoints"]
    ]
    notes = [orjson.loads(x) for x in lines[1 + row.size + len(stored) :]]
    assert notes == [c["note"] for c in cps["checkpoints"]]
    export = tmp_path / "station.jsonl"
    office.desk.ok("export-ledger", str(export))
    own = export.read_bytes().splitlines()
    assert own[1 : 1 + row.size] == held  # byte for byte the station's entries
    assert verify_ledger(held, station_cert=row.cert, origin=row.origin, checkpoints=notes).ok


# -- commune-audit hub ------------------------------------------------------------------------
def _audit(office: Office, evidence: Path, *extra: str, token: str | None = None) -> Any:
    env = {"COMMUNE_AUDIT_TOKEN": token if token is not None else office.token}
    return run(
        "commune-audit",
        "--json",
        "hub",
        office.url,
        "--office",
        OFFICE,
        "--trust",
        str(office.kit),
        "--evidence-dir",
        str(evidence),
        *extra,
        env=env,
    )


def test_commune_audit_hub_on_a_healthy_office(office: Office, tmp_path: Path) -> None:
    report = ok_json(_audit(office, tmp_path / "evidence"))
    assert report["ok"] is True and report["findings"] == [] and report["evidence"] == []
    (st,) = report["stations"]
    assert st["station"] == f"{OFFICE}/1" and st["checkpoints"] >= 2
    assert st["proofs_verified"] == st["checkpoints"] - 1
    assert st["cosigned_first"] <= st["cosigned_last"]
    assert not (tmp_path / "evidence").exists()
    # the token as an option, human output
    out = run(
        "commune-audit",
        "hub",
        office.url + "/",
        "--office",
        OFFICE,
        "--trust",
        str(office.kit),
        "--token",
        office.token,
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().rstrip().endswith("OK")


def test_commune_audit_hub_bad_input(office: Office, tmp_path: Path) -> None:
    evidence = tmp_path / "e"
    assert "auditor token" in one_line_error(_audit(office, evidence, token=""))
    assert "refused the auditor token" in one_line_error(_audit(office, evidence, token="nope"))
    garbage = tmp_path / "kit.json"
    garbage.write_text("{not json")
    base = ["commune-audit", "hub", office.url, "--office", OFFICE, "--token", office.token]
    env = {}
    assert "not JSON" in one_line_error(run(*base, "--trust", str(garbage), env=env))
    assert "cannot read" in one_line_error(run(*base, "--trust", str(tmp_path / "no.json")))
    kit = json.loads(office.kit.read_text())
    kit["issued_at"] = "2020-01-01T00:00:00+07:00"  # a changed kit: its signature fails
    garbage.write_text(json.dumps(kit))
    assert "signature" in one_line_error(run(*base, "--trust", str(garbage)))
    alone = Desk(tmp_path / "alone")
    alone.ok("init", "--office", OFFICE, "--office-name", "UBND", "--officer", "Hoa")
    alone.ok("trust-kit", str(tmp_path / "alone-kit.json"))
    assert "names no hub" in one_line_error(run(*base, "--trust", str(tmp_path / "alone-kit.json")))
    assert "not a hub URL" in one_line_error(
        run("commune-audit", "hub", "ftp://x", "--office", OFFICE, "--trust", str(office.kit))
    )
    unknown = run(*base[:4], "000.00.99.H99", "--token", office.token, "--trust", str(office.kit))
    assert "unknown-office" in one_line_error(unknown)
    closed = run(
        "commune-audit",
        "hub",
        "http://127.0.0.1:9",
        "--office",
        OFFICE,
        "--trust",
        str(office.kit),
        "--token",
        office.token,
    )
    assert "was not reached" in one_line_error(closed)
    assert not evidence.exists()


def _evidence_file(report: dict[str, Any]) -> Path:
    (found,) = report["evidence"]
    path = Path(found["file"])
    assert found["bytes"] == path.stat().st_size <= 4096
    return path


def test_a_fork_with_a_stolen_station_key(fresh: Office, tmp_path: Path) -> None:
    """A copy of the station (its key and database, e.g. a stolen backup) goes on with other
    entries and syncs: the hub records the fork, `commune-audit hub` exits 1 and writes the
    evidence, which verifies on its own."""
    thief = Desk(tmp_path / "thief")
    shutil.copytree(fresh.desk.data, thief.data)
    fresh.desk.receive("Người thật", "001088777001", now="2026-11-24T09:00:00+07:00")
    assert fresh.desk.sync()["problem"] is None
    thief.receive("Kẻ gian", "001088666001", now="2026-11-24T09:05:00+07:00")
    thief.receive("Kẻ gian 2", "001088666002", now="2026-11-24T09:06:00+07:00")
    assert thief.sync(code=1)["problem"] == "fork"
    with fresh.server.hub.storage.transaction() as tx:
        row = tx.station(fresh.sid)
        assert row is not None and row.forked and len(tx.forks(fresh.sid)) == 1
    assert fresh.desk.sync(code=1)["problem"] == "forked"  # the hub stops the station

    evidence_dir = tmp_path / "evidence"
    report = ok_json(_audit(fresh, evidence_dir), code=1)
    assert report["ok"] is False
    (fork,) = [f for f in report["findings"] if f["severity"] == "error"]
    assert fork["code"] == "fork" and fork["station"] == f"{OFFICE}/1"
    path = _evidence_file(report)
    doc = json.loads(path.read_text())
    assert doc["type"] == "commune.fork-evidence/v1"
    assert "consistency" not in doc  # the same size: two roots
    assert (report["stations"][0]["forked"], report["stations"][0]["checkpoints"]) == (True, 3)
    fresh.server.stop()  # from here on: no hub, no network

    verdict = ok_json(run("commune-audit", "--json", "evidence", str(path)))
    assert verdict["fork"] is True and verdict["kind"] == "same-size"
    assert "different roots" in verdict["reason"]
    with_kit = ok_json(
        run("commune-audit", "--json", "evidence", str(path), "--trust", str(fresh.kit))
    )
    assert with_kit["fork"] is True and with_kit["trust_kit"] is True
    assert with_kit["cosigned_unix"][0] is not None  # the accepted one carries the hub's word
    human = run("commune-audit", "evidence", "-", stdin=path.read_bytes())
    assert human.returncode == 0 and "FORK PROVEN" in human.stdout.decode()

    # tampered: a root, a signature, the same note twice
    a = doc["a"].split("\n")
    root = bytearray(unb64(a[2]))
    root[0] ^= 1
    changed_root = {**doc, "a": "\n".join([*a[:2], base64.b64encode(root).decode(), *a[3:]])}
    sig_line = next(i for i, x in enumerate(a) if x.startswith("\u2014 "))
    name, value = a[sig_line].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(value))
    raw[10] ^= 1
    changed_sig = {
        **doc,
        "a": "\n".join(
            [*a[:sig_line], f"{name} {base64.b64encode(raw).decode()}", *a[sig_line + 1 :]]
        ),
    }
    same = {**doc, "b": doc["a"]}
    for bad, reason in [
        (changed_root, "checkpoint a"),
        (changed_sig, "checkpoint a"),
        (same, "no fork"),
    ]:
        bad_path = tmp_path / "bad.json"
        bad_path.write_text(json.dumps(bad))
        out = ok_json(run("commune-audit", "--json", "evidence", str(bad_path)), code=1)
        assert out["fork"] is False and reason in out["reason"], out
    bad_path.write_text("not json")
    one_line_error(run("commune-audit", "evidence", str(bad_path)))


def test_a_hub_that_shows_a_split_view_is_caught(fresh: Office, tmp_path: Path) -> None:
    """The hub's stored first checkpoint is replaced by another one the station key signed
    for the same size (a stolen key) and the hub cosigned: each checkpoint verifies, but the
    hub's consistency proof to the next one shows the logs differ -> evidence with a proof."""
    hub = fresh.server.hub
    with hub.storage.transaction() as tx:
        (first, *_rest) = tx.checkpoints(fresh.sid)
    station = Station.open(fresh.desk.data)
    key = station.sign_in(None, PASS).station_key
    station.close()
    cp = parse_checkpoint_text(parse_note(first["checkpoint"]).text)
    other = sign_checkpoint(Checkpoint(cp.origin, cp.size, bytes(32)), key)
    cosigned = other + cosign(other, hub.cosigner, hub.name, first["hub_unix"]).line
    with hub.storage.transaction() as tx:
        tx.conn.execute(
            tx.storage.sql(
                "UPDATE checkpoints SET note = ?, cosigned = ? WHERE sid = ? AND size = ?"
            ),
            (other, cosigned, fresh.sid, cp.size),
        )
    report = ok_json(_audit(fresh, tmp_path / "ev"), code=1)
    (fork,) = [f for f in report["findings"] if f["severity"] == "error"]
    assert fork["code"] == "fork"
    path = _evidence_file(report)
    doc = json.loads(path.read_text())
    assert doc["consistency"]["proof"] and doc["a"] == cosigned
    fresh.server.stop()
    verdict = ok_json(
        run("commune-audit", "--json", "evidence", str(path), "--trust", str(fresh.kit))
    )
    assert verdict["fork"] is True and verdict["kind"] == "not-a-prefix"
    # the proof is what makes it evidence: without it, or with one hash changed, it is none
    no_proof = {k: v for k, v in doc.items() if k != "consistency"}
    bent = json.loads(json.dumps(doc))
    h = bytearray(unb64(bent["consistency"]["proof"][0]))
    h[0] ^= 1
    bent["consistency"]["proof"][0] = base64.b64encode(h).decode()
    for bad, reason in [(no_proof, "no consistency proof"), (bent, "does not verify")]:
        bad_path = tmp_path / "bad.json"
        bad_path.write_text(json.dumps(bad))
        out = ok_json(run("commune-audit", "--json", "evidence", str(bad_path)), code=1)
        assert reason in out["reason"], out


def test_a_hub_that_lies_in_its_proofs_is_caught(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auditor trusts the hub for nothing: a proof that does not verify, or a tree whose
    root is not the checkpoint the hub cosigned, is an error, and no evidence is made of it."""
    hub = office.server.hub
    honest = hub.audit_consistency

    def bent_proof(sid: str, first: int, second: int) -> dict[str, Any]:
        answer = honest(sid, first, second)
        answer["proof"] = [base64.b64encode(bytes(32)).decode() for _ in answer["proof"]]
        return answer

    def other_tree(sid: str, first: int, second: int) -> dict[str, Any]:
        answer = honest(sid, first, second)
        answer["second_root"] = base64.b64encode(bytes(32)).decode()
        return answer

    for liar, code in [(bent_proof, "hub-proof"), (other_tree, "hub-proof")]:
        monkeypatch.setattr(hub, "audit_consistency", liar)
        report = ok_json(_audit(office, tmp_path / "ev"), code=1)
        assert {f["code"] for f in report["findings"] if f["severity"] == "error"} == {code}
        assert report["evidence"] == [] and not (tmp_path / "ev").exists()

    def consistent_lie(sid: str, first: int, second: int) -> dict[str, Any]:
        """A proof of another tree that does verify, whose roots are not the checkpoints'."""
        from ledger.encoding import b64

        leaves = [bytes([i]) for i in range(second)]
        tree = MerkleTree(MemoryNodeStore())
        for leaf in leaves:
            tree.append(leaf)
        return {
            **honest(sid, first, second),
            "first_root": b64(tree.root(first)),
            "second_root": b64(tree.root(second)),
            "proof": [b64(h) for h in tree.consistency_proof(first, second)],
        }

    monkeypatch.setattr(hub, "audit_consistency", consistent_lie)
    report = ok_json(_audit(office, tmp_path / "ev"), code=1)
    assert {f["code"] for f in report["findings"] if f["severity"] == "error"} == {"hub-tree"}
    assert report["evidence"] == []
