"""A station's append-only log: sign an event, grow the tree, sign checkpoints, prove entries.

Storage-agnostic: the caller gives a `NodeStore` (the station's SQLite tables, the hub's
PostgreSQL tables, or memory) and persists the returned leaf bytes in the same transaction as the
node writes. Checkpoints are signed on request, so the caller signs one only after its commit is
durable (DESIGN section 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import b64
from ledger.errors import LedgerError
from ledger.keys import SigningKey
from ledger.merkle import MerkleTree, NodeStore, leaf_hash
from ledger.records import sign_record
from ledger.tlogproof import TlogProof, encode_proof
from schemas.canonical import canonical
from schemas.event import EVENT_TYPE, parse_draft

__all__ = ["Appended", "InvalidEvent", "StationLog", "station_origin"]

ENVELOPE = ("type", "station", "seq", "prev", "officer", "sig")


class InvalidEvent(LedgerError):
    """The station refuses to sign an event that breaks the data contract."""

    title = "Invalid event"

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidEvent:
        errors = exc.errors(include_url=False, include_input=False)
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3]]
        return cls("; ".join(parts) or str(exc))


def station_origin(hub: str, office: str, station: int, epoch: int) -> str:
    """DESIGN section 4: `<hub domain>/office/<office code>/<station>/e<epoch>`."""
    return f"{hub}/office/{office}/{station}/e{epoch}"


@dataclass(frozen=True, slots=True)
class Appended:
    index: int
    event: dict[str, Any]  # the signed event
    leaf: bytes  # its canonical bytes: what the tree commits to and what storage keeps


class StationLog:
    """One station epoch's log. Not thread-safe: the station has one writer."""

    def __init__(
        self, origin: str, station: str, station_key: SigningKey, store: NodeStore, size: int = 0
    ) -> None:
        self.origin = origin
        self.station = station
        self.station_key = station_key
        self.tree = MerkleTree(store, size)

    @property
    def size(self) -> int:
        return self.tree.size

    def root(self, size: int | None = None) -> bytes:
        return self.tree.root(size)

    def append(self, body: dict[str, Any], signer: SigningKey) -> Appended:
        """Fill the envelope (type, station, seq, prev, officer), sign with `signer`, append.

        `body` carries the rest: claimed_time, beacon, dossier, action, data. The draft is
        validated against the data contract first; nothing invalid is ever signed or appended.
        """
        clash = [k for k in ENVELOPE if k in body]
        if clash:
            raise ValueError(f"envelope fields are set by the log, not the caller: {clash}")
        seq = self.tree.size
        event = {
            **body,
            "type": EVENT_TYPE,
            "station": self.station,
            "seq": seq,
            "prev": b64(self.tree.root()),
            "officer": signer.key_id,
        }
        try:
            parse_draft(event)
        except ValidationError as exc:
            raise InvalidEvent.from_validation(exc) from exc
        signed = sign_record(event, signer)
        leaf = canonical(signed)
        self.tree.append_hash(leaf_hash(leaf))
        return Appended(seq, signed, leaf)

    def checkpoint(self) -> str:
        """A signed checkpoint of the current size (call after the append is durable)."""
        cp = Checkpoint(self.origin, self.tree.size, self.tree.root())
        return sign_checkpoint(cp, self.station_key)

    def proof(self, index: int, checkpoint_note: str, size: int) -> str:
        """tlog-proof text for entry `index` against a signed checkpoint of `size`."""
        hashes = self.tree.inclusion_proof(index, size)
        return encode_proof(TlogProof(index, tuple(hashes), checkpoint_note))
