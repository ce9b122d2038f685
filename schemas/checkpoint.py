"""Checkpoints and cosignatures as parsed data (DESIGN section 4).

The text formats (C2SP tlog-checkpoint, signed notes, tlog-cosignature) are parsed and verified
in `ledger`; these models are the plain structures that JSON documents and APIs carry.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, StrictStr

from schemas.types import MAX_SAFE_INT, Count, HashB64, NoteSignatureB64, Origin, Record

__all__ = ["Checkpoint", "Cosignature", "ExtensionLine", "KeyHashHex"]

ExtensionLine = Annotated[StrictStr, Field(pattern=r"^[^\n]+$", max_length=1024)]
KeyHashHex = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{8}$")]
"""The 4-byte key hash of a signed-note signature, lowercase hex."""


class Checkpoint(Record):
    """The body of a checkpoint: `origin`, tree `size`, `root` and optional extension lines."""

    origin: Origin
    size: Count
    root: HashB64
    extensions: list[ExtensionLine] = Field(default_factory=list)


class Cosignature(Record):
    """A hub cosignature (tlog-cosignature v1): who, when (unix seconds), and the signature.

    `signature` is the 64-byte Ed25519 signature alone (standard base64, as notes write it), the
    key hash and timestamp that precede it in the note line being the separate fields.
    """

    name: Origin
    key_hash_hex: KeyHashHex | None = None
    time: Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INT)]
    signature: NoteSignatureB64
