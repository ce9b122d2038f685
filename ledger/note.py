"""C2SP signed notes (c2sp.org/signed-note): text, blank line, `— name base64(id||sig)` lines."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ledger.encoding import EncodingError, b64, unb64
from ledger.errors import NoteError

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "key_hash",
    "parse_note",
]

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 32  # the spec asks for at least 16; bounds the work an attacker can cause
MAX_NOTE_BYTES = 64 * 1024
_DASH = "\u2014 "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_NAME = re.compile(r"[^\s+]+")


def key_hash(name: str, sig_type: int, public: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], the 32-bit key ID of signed notes."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public).digest()[:4]


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_hash: bytes  # 4 bytes
    signature: bytes  # the algorithm's signature bytes (after the key ID)

    def line(self) -> str:
        return f"{_DASH}{self.name} {b64(self.key_hash + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    text: str  # includes its final newline
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signature(self, sig: NoteSignature) -> Note:
        return Note(self.text, (*self.signatures, sig))

    def find(self, name: str, khash: bytes) -> list[NoteSignature]:
        return [s for s in self.signatures if s.name == name and s.key_hash == khash]


def check_name(name: str) -> str:
    if not name or _NAME.fullmatch(name) is None:
        raise NoteError(f"invalid key name {name!r}: non-empty, no spaces, no '+'")
    return name


def parse_note(data: str | bytes) -> Note:
    """Parse a signed note strictly; refuse anything the spec forbids."""
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE_BYTES:
            raise NoteError("signed note too large")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("signed note is not valid UTF-8") from exc
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError("signed note too large")
    if _CONTROL.search(data):
        raise NoteError("signed note contains control characters")
    if not data.endswith("\n"):
        raise NoteError("signed note does not end with a newline")
    split = data.rfind("\n\n")
    if split < 0:
        raise NoteError("signed note has no blank line before its signatures")
    text, sig_block = data[: split + 1], data[split + 2 :]
    if not text.strip("\n"):
        raise NoteError("signed note has empty text")
    lines = sig_block.split("\n")[:-1]
    if not lines:
        raise NoteError("signed note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"signed note has more than {MAX_SIGNATURES} signatures")
    sigs = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteError("malformed signature line")
        name, sep, value = line[len(_DASH) :].rpartition(" ")
        if not sep:
            raise NoteError("malformed signature line")
        check_name(name)
        try:
            raw = unb64(value)
        except EncodingError as exc:
            raise NoteError("signature is not base64") from exc
        if len(raw) < 5:
            raise NoteError("signature too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, tuple(sigs))


@dataclass(frozen=True, slots=True)
class Verifier:
    """A trusted key for notes: (name, key hash) and how to check a signature line."""

    name: str
    key_hash: bytes
    check: Callable[[Note, NoteSignature], bool]


def verify_note(note: Note, verifiers: Iterable[Verifier]) -> list[Verifier]:
    """Verified verifiers, per the spec: a known key's bad signature rejects the note, and at
    least one known key must have signed. Unknown signatures are ignored."""
    ok: list[Verifier] = []
    for v in verifiers:
        for sig in note.find(v.name, v.key_hash):
            if not v.check(note, sig):
                raise NoteError(f"signature by {v.name} does not verify")
            ok.append(v)
            break
    if not ok:
        raise NoteError("no trusted signature on the note")
    return ok


def unique_names(sigs: Sequence[NoteSignature]) -> list[str]:
    return sorted({s.name for s in sigs})
