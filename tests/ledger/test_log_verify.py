"""The station log and the whole-ledger verifier: clean logs pass, each tampering is found
at the entry where it happened."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from ledgerkit import OFFICE, ORIGIN, Ledger, build_ledger

from ledger.checkpoint import ed25519_verifier
from ledger.encoding import b64
from ledger.keys import SigningKey
from ledger.merkle import leaf_hash
from ledger.records import sign_record
from ledger.tlogproof import parse_proof, verify_proof
from ledger.verify import LedgerReport, verify_ledger
from schemas.canonical import canonical
from schemas.samples import receive_body


def _verify(
    led: Ledger, leaves: list[bytes] | None = None, cps: list[str] | None = None
) -> LedgerReport:
    return verify_ledger(
        leaves if leaves is not None else led.leaves,
        station_cert=led.station_cert,
        origin=ORIGIN,
        checkpoints=cps if cps is not None else led.checkpoints,
    )


def _codes(report: LedgerReport) -> set[tuple[str, int | None]]:
    return {(f.code, f.index) for f in report.findings}


def test_clean_ledger_has_no_findings(ledger: Ledger) -> None:
    report = _verify(ledger)
    assert report.findings == []
    assert report.ok
    assert report.size == 43
    assert report.checkpoints_verified == len(ledger.checkpoints) == 5
    assert report.root == b64(ledger.log.root())
    assert set(report.signers) == {ledger.station.key_id} | {o.key_id for o in ledger.officers}


def test_event_envelope_is_filled_by_the_log(ledger: Ledger) -> None:
    ev = orjson.loads(ledger.leaves[5])
    assert ev["type"] == "commune.event/v1"
    assert ev["station"] == f"{OFFICE}/1"
    assert ev["seq"] == 5
    assert ev["prev"] == b64(ledger.log.root(5))
    assert canonical(ev) == ledger.leaves[5]


def _resign(
    led: Ledger, index: int, change: dict[str, Any], key: SigningKey | None = None
) -> list[bytes]:
    leaves = list(led.leaves)
    ev = orjson.loads(leaves[index])
    ev.update(change)
    signer = key or next(o for o in led.officers if o.key_id == ev["officer"])
    leaves[index] = canonical(sign_record(ev, signer))
    return leaves


def test_flipped_byte_is_found_at_its_entry(ledger: Ledger) -> None:
    leaves = list(ledger.leaves)
    bad = bytearray(leaves[20])
    pos = bad.index("xã Tân Lập".encode())
    bad[pos + 1] ^= 0x01
    leaves[20] = bytes(bad)
    report = _verify(ledger, leaves)
    assert not report.ok
    assert ("bad-signature", 20) in _codes(report)
    assert ("bad-prev", 21) in _codes(report)
    assert all(f.index is None or f.index >= 20 for f in report.findings)


def test_deleted_entry(ledger: Ledger) -> None:
    leaves = ledger.leaves[:15] + ledger.leaves[16:]
    assert {("bad-seq", 15), ("bad-prev", 15)} <= _codes(_verify(ledger, leaves, []))


def test_reordered_entries(ledger: Ledger) -> None:
    leaves = list(ledger.leaves)
    leaves[10], leaves[11] = leaves[11], leaves[10]
    codes = _codes(_verify(ledger, leaves, []))
    assert {("bad-seq", 10), ("bad-seq", 11), ("bad-prev", 10)} <= codes


def test_duplicated_entry(ledger: Ledger) -> None:
    leaves = [*ledger.leaves[:12], ledger.leaves[11], *ledger.leaves[12:]]
    assert ("bad-seq", 12) in _codes(_verify(ledger, leaves, []))


def test_rewritten_and_resigned_entry_breaks_the_chain(ledger: Ledger) -> None:
    leaves = _resign(ledger, 30, {"dossier": f"{OFFICE}-261123-9999"})
    report = _verify(ledger, leaves)
    assert ("bad-prev", 31) in _codes(report)
    assert ("checkpoint-mismatch", 39) in _codes(report)


def test_officer_swapped(ledger: Ledger) -> None:
    a, b = ledger.officers
    leaves = list(ledger.leaves)
    ev = orjson.loads(leaves[25])
    ev["officer"] = b.key_id if ev["officer"] == a.key_id else a.key_id
    leaves[25] = canonical(ev)
    assert ("bad-signature", 25) in _codes(_verify(ledger, leaves, []))


def test_unknown_key_signing(ledger: Ledger) -> None:
    stranger = SigningKey.generate()
    leaves = _resign(ledger, 25, {"officer": stranger.key_id}, stranger)
    assert ("unknown-signer", 25) in _codes(_verify(ledger, leaves, []))
    # The stranger's key used under a real officer's id is a bad signature instead.
    leaves = _resign(ledger, 26, {}, stranger)
    assert ("bad-signature", 26) in _codes(_verify(ledger, leaves, []))


def test_station_key_may_not_sign_dossier_events(ledger: Ledger) -> None:
    ev = orjson.loads(ledger.leaves[25])
    ev["officer"] = ledger.station.key_id
    leaves = list(ledger.leaves)
    leaves[25] = canonical(sign_record(ev, ledger.station))
    assert ("signer-not-allowed", 25) in _codes(_verify(ledger, leaves, []))


def test_retired_officer_cannot_sign() -> None:
    led = build_ledger(0)
    off = led.officers[0]
    led.leaves.append(
        led.log.append(
            {
                "claimed_time": "2026-11-23T09:00:00+07:00",
                "beacon": None,
                "dossier": None,
                "action": "officer-retire",
                "data": {"key_id": off.key_id, "reason": "nghỉ việc"},
            },
            led.station,
        ).leaf
    )
    led.leaves.append(
        led.log.append(
            receive_body(0, datetime.fromisoformat("2026-11-23T09:01:00+07:00")), off
        ).leaf
    )
    report = _verify(led, cps=[])
    assert _codes(report) == {("signer-retired", 4)}


def test_non_canonical_leaf(ledger: Ledger) -> None:
    leaves = list(ledger.leaves)
    leaves[7] = leaves[7].replace(b'{"action"', b'{ "action"', 1)
    codes = _codes(_verify(ledger, leaves, []))
    assert ("non-canonical", 7) in codes
    assert ("bad-signature", 7) not in codes  # the content is still what the officer signed


def test_non_canonical_signature_encoding(ledger: Ledger) -> None:
    leaves = list(ledger.leaves)
    ev = orjson.loads(leaves[8])
    raw = base64.urlsafe_b64decode(ev["sig"] + "==")
    alt = base64.urlsafe_b64encode(raw).decode()[:85]
    last = ev["sig"][85]
    # Same 64 bytes, different spelling: set an unused trailing bit.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    ev["sig"] = alt + alphabet[alphabet.index(last) | 1]
    leaves[8] = canonical(ev)
    assert ("bad-signature", 8) in _codes(_verify(ledger, leaves, []))


def test_garbage_entries() -> None:
    led = build_ledger(3)
    for junk, code in [
        (b"not json", "malformed-entry"),
        (b"[1,2]", "malformed-entry"),
        (b'{"type":"commune.event/v1"}', "bad-seq"),
    ]:
        leaves = [*led.leaves[:2], junk, *led.leaves[3:]]
        assert (code, 2) in _codes(_verify(led, leaves, []))


def test_clock_going_backwards_is_a_warning() -> None:
    led = build_ledger(5)
    leaves = _resign(led, 5, {"claimed_time": "2026-11-22T08:00:00+07:00"})
    report = verify_ledger(leaves[:6], station_cert=led.station_cert, origin=ORIGIN)
    assert [(f.severity, f.code, f.index) for f in report.findings] == [
        ("warning", "clock-backwards", 5)
    ]
    assert report.ok


def test_checkpoint_problems(ledger: Ledger) -> None:
    other = SigningKey.generate()
    from ledger.checkpoint import Checkpoint, sign_checkpoint

    forged = sign_checkpoint(Checkpoint(ORIGIN, 10, ledger.log.root(10)), other)
    beyond = sign_checkpoint(Checkpoint(ORIGIN, 99, ledger.log.root()), ledger.station)
    wrong_root = sign_checkpoint(Checkpoint(ORIGIN, 5, ledger.log.root(6)), ledger.station)
    foreign = sign_checkpoint(
        Checkpoint("elsewhere/log", 5, ledger.log.root(5)), ledger.station, name=ORIGIN
    )
    report = _verify(ledger, cps=[forged, beyond, wrong_root, foreign])
    codes = [(f.code, f.index) for f in report.findings]
    assert codes.count(("bad-checkpoint", None)) == 2
    assert ("checkpoint-beyond-log", None) in codes
    assert ("checkpoint-mismatch", 4) in codes


def test_genesis_rules(ledger: Ledger) -> None:
    assert ("genesis", 0) in _codes(_verify(ledger, ledger.leaves[1:], []))


def test_receipt_proof_verifies_offline(ledger: Ledger) -> None:
    cp = ledger.log.checkpoint()
    text = ledger.log.proof(17, cp, ledger.log.size)
    signed = verify_proof(
        text, ledger.leaves[17], ed25519_verifier(ORIGIN, ledger.station.public), origin=ORIGIN
    )
    assert signed.checkpoint.size == ledger.log.size
    assert parse_proof(text).index == 17
    # A proof for entry 17 does not prove entry 18, nor entry 17 under another origin.
    import pytest

    from ledger.errors import NoteError

    with pytest.raises(NoteError):
        verify_proof(text, ledger.leaves[18], ed25519_verifier(ORIGIN, ledger.station.public))
    with pytest.raises(NoteError):
        verify_proof(
            text,
            ledger.leaves[17],
            ed25519_verifier(ORIGIN, ledger.station.public),
            origin="hub.example.vn/office/X/1/e0",
        )
    assert leaf_hash(ledger.leaves[17])


def test_log_refuses_to_sign_invalid_events(ledger: Ledger) -> None:
    import pytest

    from ledger.log import InvalidEvent

    size = ledger.log.size
    body = receive_body(99, datetime.fromisoformat("2026-11-23T10:00:00+07:00"))
    body["data"]["applicant"]["id_number"] = "12345"  # a CCCD has 12 digits
    with pytest.raises(InvalidEvent, match="id_number"):
        ledger.log.append(body, ledger.officers[0])
    with pytest.raises(ValueError, match="envelope"):
        ledger.log.append({**body, "seq": 3}, ledger.officers[0])
    assert ledger.log.size == size  # nothing appended


def test_schema_findings_are_opt_in(ledger: Ledger) -> None:
    ev = orjson.loads(ledger.leaves[9])
    ev["data"]["applicant"]["id_number"] = "12345"
    leaves = list(ledger.leaves)
    officer = next(o for o in ledger.officers if o.key_id == ev["officer"])
    leaves[9] = canonical(sign_record(ev, officer))
    # Validly signed and chained up to entry 9, but it breaks the data contract.
    quick = verify_ledger(leaves[:10], station_cert=ledger.station_cert, origin=ORIGIN)
    full = verify_ledger(leaves[:10], station_cert=ledger.station_cert, origin=ORIGIN, schema=True)
    assert quick.findings == []
    assert [(f.code, f.index) for f in full.findings] == [("schema", 9)]
    assert "id_number" in full.findings[0].message_en
