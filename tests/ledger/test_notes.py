"""Signed notes, checkpoints and cosignatures (C2SP formats)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from ledger.checkpoint import (
    Checkpoint,
    cosign,
    cosignatures,
    cosigner_verifier,
    ed25519_verifier,
    open_checkpoint,
    parse_checkpoint_text,
    sign_checkpoint,
)
from ledger.encoding import b64
from ledger.errors import NoteError
from ledger.keys import SigningKey
from ledger.note import COSIGNATURE_V1, ED25519, key_hash, parse_note, verify_note

ORIGIN = "hub.example.vn/office/000.00.17.H56/1/e0"
ROOT = hashlib.sha256(b"root").digest()
STATION = SigningKey.from_seed(bytes(range(32)))
HUB = SigningKey.from_seed(bytes(range(1, 33)))


def _signed(size: int = 7) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, ROOT), STATION)


def test_checkpoint_text_layout() -> None:
    text = _signed()
    body, sigs = text.split("\n\n")
    assert body == f"{ORIGIN}\n7\n{b64(ROOT)}"
    line = sigs.rstrip("\n")
    assert line.startswith(f"\u2014 {ORIGIN} ")
    raw = __import__("base64").b64decode(line.rsplit(" ", 1)[1])
    assert raw[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + STATION.public).digest()[:4]
    assert len(raw) == 68


def test_open_checkpoint_roundtrip() -> None:
    signed = open_checkpoint(_signed(), ed25519_verifier(ORIGIN, STATION.public))
    assert signed.checkpoint == Checkpoint(ORIGIN, 7, ROOT)


def test_checkpoint_by_other_key_refused() -> None:
    with pytest.raises(NoteError, match="no trusted signature"):
        open_checkpoint(_signed(), ed25519_verifier(ORIGIN, HUB.public))


def test_tampered_checkpoint_refused() -> None:
    text = _signed().replace("\n7\n", "\n8\n")
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(text, ed25519_verifier(ORIGIN, STATION.public))


def test_unknown_signatures_ignored() -> None:
    other = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), HUB, name="someone.else")
    extra_line = other.split("\n\n")[1]
    text = _signed() + extra_line
    signed = open_checkpoint(text, ed25519_verifier(ORIGIN, STATION.public))
    assert len(signed.note.signatures) == 2


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n07\n{b64(ROOT)}\n",  # leading zero
        f"{ORIGIN}\n-1\n{b64(ROOT)}\n",
        f"{ORIGIN}\n7\nnot-base64\n",
        f"{ORIGIN}\n7\n{b64(ROOT[:31])}\n",
        f"\n7\n{b64(ROOT)}\n",
        f"{ORIGIN}\n7\n",
        f"{ORIGIN}\n7\n{b64(ROOT)}\n\n",  # empty extension line
        f"{ORIGIN}\n7\n{b64(ROOT)}",  # no final newline
    ],
)
def test_bad_checkpoint_text(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint_text(text)


@pytest.mark.parametrize(
    "note",
    [
        "text\n",  # no signatures
        "text\n\n",  # blank line, no signature lines
        "text\n\n— name AAAA\n",  # signature too short
        "text\n\n- name AAAAAAAA\n",  # hyphen, not em dash
        "text\n\n— na me AAAAAAAA\n".replace("na me", "na+me"),
        "te\x01xt\n\n— name AAAAAAAA\n",
        "text\n\n— name AAAAAAAA",
        b"text\n\n\xe2\x80\x94 name \xff\n",
    ],
)
def test_bad_notes(note: str | bytes) -> None:
    with pytest.raises(NoteError):
        parse_note(note)


def test_note_text_may_contain_blank_lines() -> None:
    # The text ends at the LAST blank line.
    key = SigningKey.from_seed(bytes(32))
    text = "line one\n\nline three\n"
    sig = key.sign(text.encode())
    note = f"{text}\n\u2014 k {b64(key_hash('k', ED25519, key.public) + sig)}\n"
    parsed = parse_note(note)
    assert parsed.text == text
    assert verify_note(parsed, [ed25519_verifier("k", key.public)])


def test_cosignature_roundtrip_and_message() -> None:
    note = _signed()
    cos = cosign(note, HUB, "hub.example.vn", 1_795_000_000)
    full = note + cos.line
    verifier = cosigner_verifier("hub.example.vn", HUB.public)
    assert cosignatures(parse_note(full), verifier) == [1_795_000_000]
    # The signed message is pinned by c2sp.org/tlog-cosignature.
    raw = __import__("base64").b64decode(cos.line.rstrip("\n").rsplit(" ", 1)[1])
    assert raw[:4] == key_hash("hub.example.vn", COSIGNATURE_V1, HUB.public)
    assert struct.unpack(">Q", raw[4:12])[0] == 1_795_000_000
    message = f"cosignature/v1\ntime 1795000000\n{ORIGIN}\n7\n{b64(ROOT)}\n".encode()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(HUB.public).verify(raw[12:], message)


def test_cosignature_time_is_signed() -> None:
    note = _signed()
    cos = cosign(note, HUB, "hub.example.vn", 1_795_000_000)
    raw = bytearray(__import__("base64").b64decode(cos.line.rstrip("\n").rsplit(" ", 1)[1]))
    raw[11] ^= 1  # move the timestamp by one second
    forged = cos.line.rsplit(" ", 1)[0] + " " + b64(bytes(raw)) + "\n"
    with pytest.raises(NoteError):
        cosignatures(parse_note(note + forged), cosigner_verifier("hub.example.vn", HUB.public))
