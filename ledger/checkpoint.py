"""Checkpoints (c2sp.org/tlog-checkpoint) and cosignatures (c2sp.org/tlog-cosignature, v1 Ed25519).

A station signs `origin\\nsize\\nbase64(root)\\n` with its key (signature type 0x01, key name =
origin). The hub cosigns a station checkpoint it accepted: a timestamped Ed25519 signature
(type 0x04) over `cosignature/v1\\ntime <unix>\\n` + the checkpoint text. The timestamp is what
bounds the events of the station from above (DESIGN section 4, time brackets).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from ledger.encoding import EncodingError, b64, unb64
from ledger.errors import NoteError
from ledger.keys import SigningKey, verify_signature
from ledger.note import (
    COSIGNATURE_V1,
    ED25519,
    Note,
    NoteSignature,
    Verifier,
    check_name,
    key_hash,
    parse_note,
    verify_note,
)

__all__ = [
    "Checkpoint",
    "Cosignature",
    "SignedCheckpoint",
    "cosign",
    "cosigner_verifier",
    "ed25519_verifier",
    "open_checkpoint",
    "parse_checkpoint_text",
    "sign_checkpoint",
]

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
MAX_TIMESTAMP = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        ext = "".join(f"{line}\n" for line in self.extensions)
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\n{ext}"


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Parse a checkpoint note body (the text before the blank line)."""
    if not text.endswith("\n"):
        raise NoteError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root lines")
    origin, size, root, *ext = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if _SIZE.fullmatch(size) is None or int(size) >= 2**64:
        raise NoteError(f"checkpoint size {size!r} is not a decimal without leading zeroes")
    try:
        root_hash = unb64(root, 32)
    except EncodingError as exc:
        raise NoteError("checkpoint root is not a base64 SHA-256 hash") from exc
    if any(not line for line in ext):
        raise NoteError("checkpoint extension lines must be non-empty")
    return Checkpoint(origin, int(size), root_hash, tuple(ext))


def ed25519_verifier(name: str, public: bytes) -> Verifier:
    """A note verifier for plain Ed25519 (type 0x01) signatures over the note text."""

    def check(note: Note, sig: NoteSignature) -> bool:
        return verify_signature(public, sig.signature, note.text.encode("utf-8"))

    return Verifier(check_name(name), key_hash(name, ED25519, public), check)


@dataclass(frozen=True, slots=True)
class Cosignature:
    name: str
    time: int
    line: str


def _cosigned_message(checkpoint_text: str, time: int) -> bytes:
    return f"cosignature/v1\ntime {time}\n{checkpoint_text}".encode()


def cosigner_verifier(name: str, public: bytes) -> Verifier:
    """A note verifier for timestamped cosignatures (type 0x04)."""

    def check(note: Note, sig: NoteSignature) -> bool:
        if len(sig.signature) != 72:
            return False
        (time,) = struct.unpack(">Q", sig.signature[:8])
        if time > MAX_TIMESTAMP:
            return False
        return verify_signature(public, sig.signature[8:], _cosigned_message(note.text, time))

    return Verifier(check_name(name), key_hash(name, COSIGNATURE_V1, public), check)


def cosignature_time(sig: NoteSignature) -> int:
    (time,) = struct.unpack(">Q", sig.signature[:8])
    return int(time)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: Note

    def encode(self) -> str:
        return self.note.encode()


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey, name: str | None = None) -> str:
    """The signed note text of `checkpoint`; the key name defaults to the origin."""
    name = check_name(name or checkpoint.origin)
    text = checkpoint.text()
    sig = NoteSignature(name, key_hash(name, ED25519, key.public), key.sign(text.encode("utf-8")))
    return Note(text, (sig,)).encode()


def cosign(note_text: str, key: SigningKey, name: str, time: int) -> Cosignature:
    """Cosign a (signed) checkpoint note at unix `time`; returns the signature line to append."""
    if not 0 <= time <= MAX_TIMESTAMP:
        raise NoteError("cosignature time out of range")
    note = parse_note(note_text)
    parse_checkpoint_text(note.text)
    raw = struct.pack(">Q", time) + key.sign(_cosigned_message(note.text, time))
    sig = NoteSignature(check_name(name), key_hash(name, COSIGNATURE_V1, key.public), raw)
    return Cosignature(name, time, sig.line())


def open_checkpoint(note_text: str | bytes, signer: Verifier) -> SignedCheckpoint:
    """Parse a signed checkpoint and verify it carries a valid signature by `signer`."""
    note = parse_note(note_text)
    checkpoint = parse_checkpoint_text(note.text)
    verify_note(note, [signer])
    return SignedCheckpoint(checkpoint, note)


def cosignatures(note: Note, cosigner: Verifier) -> list[int]:
    """Times of the valid cosignatures by `cosigner` on `note` (a bad one raises)."""
    times = []
    for sig in note.find(cosigner.name, cosigner.key_hash):
        if not cosigner.check(note, sig):
            raise NoteError(f"cosignature by {cosigner.name} does not verify")
        times.append(cosignature_time(sig))
    return times
