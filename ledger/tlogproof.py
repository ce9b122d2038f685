"""Offline inclusion proofs in c2sp.org/tlog-proof@v1 text form: the heart of a receipt."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.encoding import EncodingError, b64, unb64
from ledger.errors import NoteError
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.note import Verifier

__all__ = ["TlogProof", "encode_proof", "parse_proof", "verify_proof"]

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")
MAX_PROOF_HASHES = 64


@dataclass(frozen=True, slots=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed checkpoint note, verbatim
    extra: bytes | None = None


def encode_proof(proof: TlogProof) -> str:
    lines = [HEADER]
    if proof.extra is not None:
        lines.append(f"extra {b64(proof.extra)}")
    lines.append(f"index {proof.index}")
    lines.extend(b64(h) for h in proof.hashes)
    return "\n".join(lines) + "\n\n" + proof.checkpoint


def parse_proof(text: str) -> TlogProof:
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise NoteError("tlog-proof has no blank line before its checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise NoteError(f"tlog-proof must start with {HEADER}")
    pos = 1
    extra = None
    try:
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = unb64(lines[pos][6:])
            pos += 1
        if pos >= len(lines) or (m := _INDEX.fullmatch(lines[pos])) is None:
            raise NoteError("tlog-proof index line is missing or malformed")
        hashes = tuple(unb64(line, 32) for line in lines[pos + 1 :])
    except EncodingError as exc:
        raise NoteError(f"tlog-proof line is not valid base64: {exc}") from exc
    if len(hashes) > MAX_PROOF_HASHES:
        raise NoteError("tlog-proof has too many hashes")
    return TlogProof(int(m.group(1)), hashes, checkpoint, extra)


def verify_proof(
    text: str, leaf: bytes, station: Verifier, origin: str | None = None
) -> SignedCheckpoint:
    """Check that `leaf` is entry `index` of the log whose checkpoint `station` signed."""
    proof = parse_proof(text)
    signed = open_checkpoint(proof.checkpoint, station)
    cp = signed.checkpoint
    if origin is not None and cp.origin != origin:
        raise NoteError(f"checkpoint is for log {cp.origin!r}, not {origin!r}")
    try:
        verify_inclusion(leaf_hash(leaf), proof.index, cp.size, proof.hashes, cp.root)
    except ProofError as exc:
        raise NoteError(f"inclusion proof does not verify: {exc}") from exc
    return signed
