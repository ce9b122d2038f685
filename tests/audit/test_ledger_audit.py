"""`commune-audit ledger` over real exports (`audit.ledger`, `audit/ledger_cmd.py`).

Two real stations (`ledger_audit_kit.py`): a stand-alone one with its own trust kit, and one
enrolled with a real hub on loopback that syncs as it works, with a dossier transferred to
another office and resolved there. Both exports pass with no finding at all; then each kind of
tampering is found at its entry with its code, and bad input is refused with exit code 2.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from ledger_audit_kit import (
    Desk,
    alone_desk,
    brackets,
    cleanup,
    resign,
    rewrite_from,
    synced_desk,
)

import audit.ledger as audit_module
from audit.ledger import AuditInputError, AuditReport, audit_ledger
from ledger.checkpoint import parse_checkpoint_text
from ledger.note import parse_note
from ledger.records import sign_record
from ledger.verify import verify_ledger
from schemas.finding import Finding

EXE = str(Path(sys.executable).with_name("commune-audit"))
VN = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
def synced() -> Iterator[Desk]:
    yield synced_desk()


@pytest.fixture(scope="module")
def alone() -> Iterator[Desk]:
    yield alone_desk()
    cleanup()


def run(desk: Desk, lines: list[bytes] | None = None, **kw: Any) -> AuditReport:
    kit = kw.pop("kit", desk.kit)
    return audit_ledger(lines if lines is not None else desk.lines, kit, now=desk.now, **kw)


def errors(report: AuditReport) -> list[Finding]:
    return [f for f in report.findings if f.severity == "error"]


def first_error(report: AuditReport) -> int:
    return min(f.index for f in errors(report) if f.index is not None)


def codes_at(report: AuditReport, index: int) -> set[str]:
    return {f.code for f in report.findings if f.index == index}


def dossier_entries(desk: Desk, action: str) -> list[int]:
    return [i for i, e in enumerate(desk.events()) if e["action"] == action]


def assert_found(report: AuditReport, index: int, code: str) -> None:
    assert not report.ok
    assert first_error(report) == index, [(f.index, f.code) for f in errors(report)][:8]
    assert code in codes_at(report, index), [(f.index, f.code) for f in report.findings][:8]
    for f in report.findings:
        assert f.message_en and f.message_vi


# -- the export ---------------------------------------------------------------------------------
def test_the_export_format_and_old_readers(synced: Desk) -> None:
    header = synced.header
    assert header["type"] == "commune.ledger-export/v1"
    assert {"origin", "station", "station_cert", "entries", "checkpoints"} <= set(header)
    kinds = []
    for line in synced.trailer():
        item = orjson.loads(line)
        kinds.append(item["type"] if isinstance(item, dict) else "checkpoint")
    order = ["commune.cosigned/v1", "commune.foreign-entry/v1", "commune.dossier-state/v1"]
    assert kinds == sorted(kinds, key=lambda k: [*order, "checkpoint"].index(k))
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert counts["checkpoint"] == header["checkpoints"] == header["entries"]
    assert counts["commune.cosigned/v1"] == header["cosigned"] > 0
    assert counts["commune.foreign-entry/v1"] == header["foreign"] > 0
    assert counts["commune.dossier-state/v1"] == header["dossiers"]
    # a reader of the first format: the leaves by the header's count, checkpoints from the end
    notes = [orjson.loads(x) for x in synced.lines[-header["checkpoints"] :]]
    assert all(isinstance(n, str) for n in notes)
    result = verify_ledger(
        synced.leaves(),
        station_cert=header["station_cert"],
        origin=header["origin"],
        checkpoints=notes,
    )
    assert result.ok and result.findings == []


# -- honest ledgers ------------------------------------------------------------------------------
def test_a_stand_alone_export_passes_with_no_findings(alone: Desk, tmp_path: Path) -> None:
    report = run(alone)
    assert report.ok and report.findings == [], report.findings
    assert report.entries == alone.count > 20
    assert report.checkpoint_signatures_verified == report.checkpoints == report.entries
    assert report.cosigned == 0 and report.foreign == 0
    assert report.dossiers_compared == report.dossiers_reported == 8
    assert report.months == ["2026-11"]
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join(alone.lines) + b"\n")
    from_file = audit_ledger(path, alone.kit, now=alone.now)
    assert from_file.to_json() == report.to_json()


def test_a_synced_export_passes_with_no_findings(synced: Desk) -> None:
    report = run(synced)
    assert report.ok and report.findings == [], report.findings
    assert report.kit_signed_by == "hub.test"
    assert report.cosigned_verified == report.cosigned == len(synced.cosigned_sizes()) > 10
    assert report.foreign == 2 and report.dossiers_not_compared == []
    assert report.dossiers_compared == report.dossiers_reported == 8
    assert run(synced, schema=True).findings == []
    evidence = run(synced, checkpoint_signatures="evidence")
    assert evidence.findings == [] and evidence.checkpoint_signatures_verified == 1


def test_several_processes_find_the_same(synced: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "CHUNK", 4)  # many ranges, each from its saved state
    leaves = synced.leaves()
    i = 9
    event = synced.events()[i]
    event["data"] = {**event["data"], "note": "sửa"}
    tampered = synced.with_leaves([*leaves[:i], orjson.dumps(event), *leaves[i + 1 :]])
    for lines in (synced.lines, tampered):
        one = run(synced, lines)
        two = run(synced, lines, workers=2)
        assert [f.model_dump() for f in two.findings] == [f.model_dump() for f in one.findings]
        assert two.root == one.root and two.entries == one.entries
    assert not two.ok


# -- tampering ------------------------------------------------------------------------------------
def test_a_changed_field(synced: Desk) -> None:
    i = dossier_entries(synced, "receive")[3]
    event = synced.events()[i]
    event["data"]["applicant"]["name"] = "Nguyễn Văn Đúc"
    leaves = synced.leaves()
    leaves[i] = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    report = run(synced, synced.with_leaves(leaves))
    assert_found(report, i, "bad-signature")
    assert {f.detail["dossier"] for f in errors(report) if f.code == "state-mismatch"} == {
        event["dossier"]
    }


def test_deleted_reordered_inserted_duplicated_entries(synced: Desk) -> None:
    leaves = synced.leaves()
    i = 12
    deleted = [*leaves[:i], *leaves[i + 1 :]]
    assert_found(run(synced, synced.with_leaves(deleted)), i, "bad-seq")
    assert_found(run(synced, synced.with_leaves(deleted, header=True)), i, "bad-seq")
    last = run(synced, synced.with_leaves(leaves[:-1]))
    assert_found(last, len(leaves) - 1, "entry-count")
    fixed = run(synced, synced.with_leaves(leaves[:-1], header=True))
    assert_found(fixed, len(leaves) - 1, "checkpoint-beyond-log")
    swapped = [*leaves[:i], leaves[i + 1], leaves[i], *leaves[i + 2 :]]
    assert_found(run(synced, synced.with_leaves(swapped)), i, "bad-seq")
    inserted = [*leaves[:i], leaves[3], *leaves[i:]]
    assert_found(run(synced, synced.with_leaves(inserted, header=True)), i, "bad-seq")
    duplicated = [*leaves[: i + 1], leaves[i], *leaves[i + 1 :]]
    assert_found(run(synced, synced.with_leaves(duplicated, header=True)), i + 1, "bad-seq")


def test_an_officer_swapped(synced: Desk) -> None:
    """The event signed again by an officer key of another station, in that officer's name."""
    i = dossier_entries(synced, "accept")[1]
    event = synced.events()[i]
    event["officer"] = synced.other_officer.key_id
    leaves = synced.leaves()
    leaves[i] = resign(event, synced.other_officer)
    assert_found(run(synced, synced.with_leaves(leaves)), i, "unknown-signer")


def test_a_timestamp_moved_after_its_bracket(synced: Desk) -> None:
    """Re-signed by the real officer key: the signature holds; the bracket catches the time,
    the station's checkpoints the changed bytes."""
    i = dossier_entries(synced, "resolve")[0]
    _, not_after = brackets(synced)[i]
    assert not_after < float("inf")
    event = synced.events()[i]
    event["claimed_time"] = datetime.fromtimestamp(not_after + 3600, VN).isoformat()
    leaves = synced.leaves()
    leaves[i] = resign(event, synced.keys[event["officer"]])
    report = run(synced, synced.with_leaves(leaves))
    assert_found(report, i, "checkpoint-mismatch")
    anomaly = [f for f in report.findings if f.code == "clock-anomaly"]
    assert [f.index for f in anomaly] == [i] and anomaly[0].severity == "warning"
    expected = datetime.fromtimestamp(not_after, VN).isoformat(timespec="seconds")
    assert anomaly[0].detail["not_after"] == expected


def test_a_backdated_entry_in_a_rewritten_history(synced: Desk) -> None:
    """A thief with every key moves a time before the hub checkpoint the entry had seen and
    signs the whole history and the station's checkpoints again: the hub's cosignatures and
    the bracket are what is left to catch it."""
    i = dossier_entries(synced, "withdraw")[0]
    not_before, _ = brackets(synced)[i]
    assert not_before > float("-inf")
    event = synced.events()[i]
    event["claimed_time"] = datetime.fromtimestamp(not_before - 7200, VN).isoformat()
    leaves = synced.leaves()
    leaves[i] = resign(event, synced.keys[event["officer"]])
    report = run(synced, rewrite_from(synced, leaves, i))
    anomaly = [f for f in report.findings if f.code == "clock-anomaly"]
    assert [f.index for f in anomaly] == [i]
    assert anomaly[0].detail["not_before"] is not None
    codes = {f.code for f in errors(report)}
    assert "cosigned-mismatch" in codes
    assert codes <= {"cosigned-mismatch", "state-mismatch", "report-mismatch"}, codes


def test_a_checkpoint_signed_again_over_a_rewritten_history(synced: Desk) -> None:
    """Entries covered by the hub's cosignature, rewritten with the station's key: the
    station's own checkpoints agree with the new history; the hub's do not, and they tell
    between which two cosigned sizes the first change lies."""
    sizes = synced.cosigned_sizes()
    gaps = [(a, b) for a, b in itertools.pairwise(sizes) if b - a > 1]
    assert gaps, "the stretch pushed in one go"
    start, end = gaps[0]
    i = start + 1
    event = synced.events()[i]
    event["data"] = {**event["data"], "note": "ghi chú thêm sau"}
    leaves = synced.leaves()
    leaves[i] = resign(event, synced.keys[event["officer"]])
    report = run(synced, rewrite_from(synced, leaves, i))
    assert not report.ok
    found = [f for f in errors(report) if f.code == "cosigned-mismatch"]
    assert len(found) == 1
    assert (found[0].index, found[0].detail["first"], found[0].detail["last"]) == (
        end - 1,
        start,
        end - 1,
    )
    assert start < i < end - 1 and first_error(report) == end - 1
    assert {f.code for f in errors(report)} <= {"cosigned-mismatch", "state-mismatch"}
    assert "checkpoint-mismatch" not in {f.code for f in report.findings}


def _edit_state(desk: Desk, code: str, change: Any) -> list[bytes]:
    out = []
    for line in desk.lines:
        item = orjson.loads(line) if line.startswith(b'{"type":"commune.dossier-state') else None
        if item is not None and item["code"] == code:
            change(item["state"])
            line = orjson.dumps(item)
        out.append(line)
    return out


def test_an_edited_projection(synced: Desk) -> None:
    events = synced.events()
    received = events[dossier_entries(synced, "receive")[2]]["dossier"]
    resolved = events[dossier_entries(synced, "resolve")[0]]["dossier"]

    def rename(state: dict[str, Any]) -> None:
        state["applicant"]["name"] = "Người khác"

    report = run(synced, _edit_state(synced, received, rename))
    assert [(f.code, f.index, f.detail["dossier"]) for f in errors(report)] == [
        ("state-mismatch", None, received)
    ]
    assert errors(report)[0].detail["differs"] == ["applicant"]

    def unresolve(state: dict[str, Any]) -> None:  # the office reports it as still in hand
        state["status"] = "processing"
        for key in ("resolved_at", "returned_at", "outcome"):
            state.pop(key, None)

    report = run(synced, _edit_state(synced, resolved, unresolve))
    by_code = {f.code: f for f in errors(report)}
    assert set(by_code) == {"state-mismatch", "report-mismatch"}
    mismatch = by_code["report-mismatch"]
    assert mismatch.detail["month"] == "2026-11"
    office, proven = mismatch.detail["office"], mismatch.detail["events"]
    assert office["resolved"]["total"] == proven["resolved"]["total"] - 1
    assert office["pending"]["total"] == proven["pending"]["total"] + 1


def test_a_dossier_missing_from_or_added_to_the_projection(synced: Desk) -> None:
    code = synced.events()[dossier_entries(synced, "receive")[1]]["dossier"]
    marker = f'"code":"{code}"'.encode()
    dropped = [x for x in synced.lines if not (b"dossier-state" in x and marker in x)]
    report = run(synced, dropped)
    assert {f.code for f in errors(report)} >= {"state-mismatch", "export-count"}
    missing = next(f for f in errors(report) if f.code == "state-mismatch")
    assert missing.detail["dossier"] == code and "holds no such dossier" in missing.message_en
    fake = orjson.loads(next(x for x in synced.lines if b"dossier-state" in x and marker in x))
    fake["code"] = fake["state"]["code"] = "000.00.17.H56-261123-9999"
    added = [*synced.lines[:-1], orjson.dumps(fake), synced.lines[-1]]
    report = run(synced, added)
    phantom = [f for f in errors(report) if f.code == "state-mismatch"]
    assert [f.detail["dossier"] for f in phantom] == ["000.00.17.H56-261123-9999"]
    assert "no event of the log creates it" in phantom[0].message_en


def _kit_with(desk: Desk, **changes: Any) -> dict[str, Any]:
    assert desk.hub_issuer is not None
    kit = {k: v for k, v in desk.kit.items() if k != "sig"}
    kit.update(changes)
    return sign_record(kit, desk.hub_issuer)


def test_revoked_keys(synced: Desk) -> None:
    origin = synced.header["origin"]
    station_key = synced.header["station_cert"]["key_id"]
    through = 15
    kit = _kit_with(
        synced,
        revocations=[{"key_id": station_key, "station": "x", "origin": origin, "through": through}],
    )
    report = run(synced, kit=kit)
    revoked = [f for f in errors(report) if f.code == "revoked-key"]
    station_signed = [
        i for i, e in enumerate(synced.events()) if e["officer"] == station_key and i >= through
    ]
    assert sorted(f.index for f in revoked) == sorted([through, *station_signed])
    summary = next(f for f in revoked if "checkpoints" in f.detail)
    assert summary.index == through and summary.detail["checkpoints"] > 0
    # an officer's key valid through size 10: every entry it signed from index 10 on
    officer = synced.officer.key_id
    kit = _kit_with(synced, revocations=[{"key_id": officer, "origin": origin, "through": 10}])
    report = run(synced, kit=kit)
    signed = [i for i, e in enumerate(synced.events()) if e["officer"] == officer and i >= 10]
    assert [f.index for f in errors(report)] == signed and signed
    assert {f.code for f in errors(report)} == {"revoked-key"}
    # revoked for another log only: valid in none other
    kit = _kit_with(synced, revocations=[{"key_id": officer, "origin": "x/e9", "through": 10**6}])
    first_signed = min(i for i, e in enumerate(synced.events()) if e["officer"] == officer)
    assert first_error(run(synced, kit=kit)) == first_signed


def test_events_of_another_station(synced: Desk) -> None:
    foreign = [x for x in synced.lines if b"commune.foreign-entry" in x]
    item = orjson.loads(foreign[0])
    code = orjson.loads(item["leaf"])["dossier"]
    item["leaf"] = item["leaf"].replace('"resolve"', '"refuse"').replace('"accept"', '"refuse"')
    lines = [orjson.dumps(item) if x == foreign[0] else x for x in synced.lines]
    report = run(synced, lines)
    assert [f.code for f in errors(report)][:1] == ["bad-foreign-entry"]
    assert report.dossiers_not_compared == [code]
    # a kit that does not list the other station: its events cannot be checked, the dossier
    # is not compared, and nothing is an error
    own = synced.header["station"]
    kit = _kit_with(
        synced,
        stations=[c for c in synced.kit["stations"] if f"{c['office']}/{c['station']}" == own],
        origins=[o for o in synced.kit["origins"] if o["station"] == own],
    )
    report = run(synced, kit=kit)
    assert report.ok and [f.code for f in report.findings] == ["dossier-not-compared"]
    assert report.findings[0].severity == "warning"
    assert report.dossiers_not_compared == [code]


def test_a_kit_that_does_not_vouch_for_the_station(synced: Desk, alone: Desk) -> None:
    report = run(synced, kit=alone.kit)
    assert {"station-not-trusted", "unknown-origin"} <= {f.code for f in errors(report)}


def _checkpoint_line(line: bytes) -> bytes:
    note = orjson.loads(line)
    sig_line = note.rstrip("\n").rsplit("\n", 1)[1]
    value = sig_line.rsplit(" ", 1)[1]
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    return orjson.dumps(note.replace(value, flipped))


def test_a_corrupted_checkpoint_signature(synced: Desk) -> None:
    n = synced.count
    middle = len(synced.lines) - n // 2
    lines = list(synced.lines)
    lines[middle] = _checkpoint_line(lines[middle])
    report = run(synced, lines)
    assert [f.code for f in report.findings] == ["bad-checkpoint"]
    size = parse_checkpoint_text(parse_note(orjson.loads(lines[middle])).text).size
    assert report.findings[0].detail["size"] == size
    # "evidence" checks the latest checkpoint's signature and any that disagrees with the log
    assert run(synced, lines, checkpoint_signatures="evidence").findings == []
    lines = list(synced.lines)
    lines[-1] = _checkpoint_line(lines[-1])
    for mode in ("all", "evidence"):
        report = run(synced, lines, checkpoint_signatures=mode)
        assert [f.code for f in report.findings] == ["uncovered-entries", "bad-checkpoint"]


def test_unreadable_input_is_refused(synced: Desk, tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="empty"):
        audit_ledger([], synced.kit)
    with pytest.raises(AuditInputError, match="header"):
        audit_ledger([b'{"type": "x"}', *synced.lines[1:]], synced.kit)
    with pytest.raises(AuditInputError, match="cannot read"):
        audit_ledger(tmp_path / "absent.jsonl", synced.kit)
    bad_kit = {**synced.kit, "issued_at": "2020-01-01T00:00:00+07:00"}
    with pytest.raises(AuditInputError, match="signature"):
        audit_ledger(synced.lines, bad_kit)
    with pytest.raises(AuditInputError, match="malformed trust kit"):
        audit_ledger(synced.lines, {"type": "commune.trust-kit/v1"})


# -- the command -----------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def test_the_command(synced: Desk, tmp_path: Path) -> None:
    export, kit = tmp_path / "export.jsonl", tmp_path / "kit.json"
    export.write_bytes(b"\n".join(synced.lines) + b"\n")
    kit.write_text(json.dumps(synced.kit))
    at = synced.now.isoformat()
    for args in (
        ["--json", "ledger", str(export), "--trust", str(kit), "--now", at],
        ["ledger", str(export), "--trust", str(kit), "--json", "--now", at],
    ):
        out = _cli(*args)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["ok"] is True and doc["findings"] == [] and doc["entries"] == synced.count
    out = _cli("ledger", str(export), "--trust", str(kit), "--workers", "2", "--now", at)
    assert out.returncode == 0 and out.stdout.startswith("SỔ HỢP LỆ / LEDGER VERIFIED"), out
    leaves = synced.leaves()
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(b"\n".join(synced.with_leaves([*leaves[:5], *leaves[6:]])) + b"\n")
    out = _cli("ledger", str(tampered), "--trust", str(kit))
    assert out.returncode == 1 and out.stdout.startswith("SỔ CÓ LỖI"), out
    assert "[error] #5 bad-seq" in out.stdout
    doc = json.loads(_cli("--json", "ledger", str(tampered), "--trust", str(kit)).stdout)
    assert doc["ok"] is False and doc["counts"]["error"] > 0
    assert doc["findings"][0]["index"] == 5 and doc["findings"][0]["message_vi"]
    # bad input: exit 2, one line on stderr, nothing on stdout
    (tmp_path / "notjson").write_text("{")
    (tmp_path / "empty").write_text("")
    for args in (
        [str(tmp_path / "absent.jsonl"), "--trust", str(kit)],
        [str(export), "--trust", str(tmp_path / "absent.json")],
        [str(export), "--trust", str(tmp_path / "notjson")],
        [str(tmp_path / "notjson"), "--trust", str(kit)],
        [str(tmp_path / "empty"), "--trust", str(kit)],
        [str(export)],
        [str(export), "--trust", str(kit), "--now", "yesterday"],
    ):
        out = _cli("--json", "ledger", *args)
        assert out.returncode == 2, (args, out)
        assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, (args, out)
        assert "Traceback" not in out.stderr


def test_a_timestamp_in_the_future_of_the_audit(alone: Desk) -> None:
    report = audit_ledger(alone.lines, alone.kit, now=alone.now - timedelta(days=1))
    anomalies = [f for f in report.findings if f.code == "clock-anomaly"]
    assert report.ok and len(anomalies) == report.entries
    assert "audit" in anomalies[0].message_en
