"""Property tests: any single-bit change to a signed thing makes its verification fail."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledgerkit import ORIGIN, build_ledger

from ledger.certs import issue_certificate, verify_certificate
from ledger.checkpoint import (
    Checkpoint,
    cosign,
    cosignatures,
    cosigner_verifier,
    ed25519_verifier,
    open_checkpoint,
    sign_checkpoint,
)
from ledger.encoding import b64url
from ledger.errors import LedgerError, NoteError
from ledger.keys import SigningKey
from ledger.note import parse_note
from ledger.records import sign_record, verify_record
from ledger.tlogproof import verify_proof
from ledger.verify import verify_ledger
from schemas.samples import receive_body

LED = build_ledger(60)
STATION = LED.station
HUB = SigningKey.from_seed(b"h" * 32)
T0 = datetime.fromisoformat("2026-11-23T08:00:00+07:00")


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(3, 62), bit=st.integers(0, 511))
def test_flipped_event_signature_bit_fails(index: int, bit: int) -> None:
    ev = orjson.loads(LED.leaves[index])
    raw = base64.urlsafe_b64decode(ev["sig"] + "==")
    ev["sig"] = b64url(_flip(raw, bit))
    officer = next(o for o in LED.officers if o.key_id == ev["officer"])
    with pytest.raises(LedgerError):
        verify_record(ev, officer.public)
    leaves = list(LED.leaves)
    leaves[index] = orjson.dumps(ev, option=orjson.OPT_SORT_KEYS)
    report = verify_ledger(leaves[: index + 1], station_cert=LED.station_cert, origin=ORIGIN)
    assert [(f.code, f.index) for f in report.findings] == [("bad-signature", index)]


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, 62), bit=st.data())
def test_flipped_leaf_bit_is_an_error_at_that_entry(index: int, bit: st.DataObject) -> None:
    leaf = LED.leaves[index]
    b = bit.draw(st.integers(0, len(leaf) * 8 - 1))
    leaves = list(LED.leaves)
    leaves[index] = _flip(leaf, b)
    report = verify_ledger(
        leaves, station_cert=LED.station_cert, origin=ORIGIN, checkpoints=LED.checkpoints
    )
    assert not report.ok
    first = min(f.index for f in report.findings if f.index is not None)
    assert first == index


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(0, 8 * 68 - 1), size=st.integers(1, 63))
def test_flipped_checkpoint_signature_bit_fails(bit: int, size: int) -> None:
    text = sign_checkpoint(Checkpoint(ORIGIN, size, LED.log.root(size)), STATION)
    note = parse_note(text)
    sig = note.signatures[0]
    raw = _flip(sig.key_hash + sig.signature, bit)
    line = f"\u2014 {sig.name} {base64.b64encode(raw).decode()}\n"
    with pytest.raises(NoteError):
        open_checkpoint(note.text + "\n" + line, ed25519_verifier(ORIGIN, STATION.public))


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(0, 8 * 76 - 1))
def test_flipped_cosignature_bit_fails(bit: int) -> None:
    text = sign_checkpoint(Checkpoint(ORIGIN, 10, LED.log.root(10)), STATION)
    cos = cosign(text, HUB, "hub.example.vn", 1_795_000_000)
    raw = base64.b64decode(cos.line.rstrip("\n").rsplit(" ", 1)[1])
    forged = f"\u2014 hub.example.vn {base64.b64encode(_flip(raw, bit)).decode()}\n"
    verifier = cosigner_verifier("hub.example.vn", HUB.public)
    note = parse_note(text + forged)
    try:
        times = cosignatures(note, verifier)
    except NoteError:
        return
    # A flip in the 4-byte key ID makes the line someone else's: ignored, so no cosignature.
    assert times == [] and bit < 32


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(
        ["key_id", "public_key", "role", "name", "office", "station", "not_before", "issuer", "sig"]
    ),
    bit=st.integers(0, 7),
)
def test_changed_certificate_byte_fails(field: str, bit: int) -> None:
    officer = SigningKey.from_seed(b"o" * 32)
    cert = issue_certificate(
        STATION,
        officer.public,
        role="officer",
        name="Nguyễn Thị Hoa",
        office="000.00.17.H56",
        station=1,
        not_before="2026-11-23T08:00:00+07:00",
    )
    value = cert[field]
    changed: str | int
    # Flip one bit of one character (or of the number) of the field.
    if isinstance(value, str):
        i = len(value) // 2
        changed = value[:i] + chr(ord(value[i]) ^ (1 << bit)) + value[i + 1 :]
    else:
        changed = int(value) ^ (1 << bit)
    tampered = {**cert, field: changed}
    with pytest.raises(LedgerError):
        verify_certificate(tampered, LED.station_cert)


@settings(max_examples=200, deadline=None)
@given(index=st.integers(0, 62), line=st.data())
def test_tampered_receipt_proof_fails(index: int, line: st.DataObject) -> None:
    cp = LED.log.checkpoint()
    text = LED.log.proof(index, cp, LED.log.size)
    b = line.draw(st.integers(0, len(text.encode()) * 8 - 1))
    tampered = _flip(text.encode(), b)
    try:
        tampered_text = tampered.decode("utf-8")
    except UnicodeDecodeError:
        return  # not even text: refused before any check
    if tampered_text == text:
        return
    with pytest.raises(LedgerError):
        verify_proof(
            tampered_text,
            LED.leaves[index],
            ed25519_verifier(ORIGIN, STATION.public),
            origin=ORIGIN,
        )


def test_signed_record_with_wrong_key_fails() -> None:
    body = receive_body(1, T0 + timedelta(hours=1))
    rec = sign_record({"type": "commune.test/v1", **body}, STATION)
    with pytest.raises(LedgerError):
        verify_record(rec, HUB.public)
