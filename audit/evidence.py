"""Fork evidence (`commune.fork-evidence/v1`): a small file anyone can check on its own.

Two checkpoints signed by the same station key for the same log that cannot both be true:

- the same size with different roots; or
- different sizes, with an RFC 6962 consistency proof (`consistency`) from the larger tree:
  `old_root` is the larger tree's root at the smaller size, and it is not the smaller
  checkpoint's root. A verifying proof fixes `old_root` (two proofs for one new root giving two
  old roots would be a SHA-256 collision), so the larger log does not extend the smaller one.

```
{"type": "commune.fork-evidence/v1", "origin", "station_cert", "issuer_cert" (hub-issued
 certificates), "a": <signed note>, "b": <signed note>,
 "consistency": {"old_root": <base64>, "proof": [<base64>, ...]} (different sizes only)}
```

`verify_evidence` needs nothing but the file: the station key is in the certificate, and the
issuer certificate shows who certified it. With a trust kit it also checks that the certificate
chains to the kit's issuer (or is one the kit lists), that the origin is the kit's for that key,
and any hub cosignature on the notes. At most 4 KB (compact JSON).

The trust-kit reader shared by the auditor's commands lives here too (`read_trust_kit`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import (
    SignedCheckpoint,
    cosignatures,
    cosigner_verifier,
    ed25519_verifier,
    open_checkpoint,
)
from ledger.encoding import EncodingError, b64, unb64, unb64url
from ledger.errors import LedgerError
from ledger.merkle import ProofError, verify_consistency
from ledger.trustkit import KitError, TrustKit, load_kit

__all__ = [
    "EVIDENCE_TYPE",
    "MAX_EVIDENCE",
    "EvidenceInputError",
    "EvidenceVerdict",
    "check_evidence",
    "encode_evidence",
    "evidence_from_hub_record",
    "fork_evidence",
    "kit_issuer",
    "kit_origins",
    "parse_evidence",
    "read_trust_kit",
    "trust_kit",
    "verify_evidence",
]

EVIDENCE_TYPE = "commune.fork-evidence/v1"
HUB_FORK_TYPE = "commune.fork/v1"  # what the hub stores (docs/sync.md "Forks")
MAX_EVIDENCE = 4096
MAX_INPUT = 64 * 1024  # evidence is at most 4 KB; a kit at most 1 MB (read_trust_kit)
MAX_KIT = 4 * 1024 * 1024
MAX_PROOF = 128  # 2 x 64 levels: more than any tree
_EPOCH = re.compile(r"/e(0|[1-9][0-9]{0,8})")


class EvidenceInputError(LedgerError):
    """A file that is not evidence or not a trust kit at all (exit 2 in the CLI)."""

    title = "Bad input"


# -- trust kit ----------------------------------------------------------------------------------
# The kit's rules are `ledger.receipt`'s, given one public face by `ledger.trustkit`.


def trust_kit(raw: Any) -> TrustKit:
    """A parsed trust kit whose signature verifies (its issuer's, or for a stand-alone
    station's kit its own station key's), else EvidenceInputError."""
    try:
        return load_kit(raw)
    except KitError as exc:
        raise EvidenceInputError(exc.message) from exc


def read_trust_kit(path: Path) -> TrustKit:
    """`--trust KIT`: a readable, well-formed, correctly signed trust kit, or
    EvidenceInputError with one line saying why not."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_KIT + 1)
    except OSError as exc:
        raise EvidenceInputError(f"cannot read the trust kit {path}: {exc.strerror}") from exc
    if len(data) > MAX_KIT:
        raise EvidenceInputError(f"{path} is too large for a trust kit")
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EvidenceInputError(f"the trust kit {path} is not JSON") from exc
    return trust_kit(raw)


def kit_issuer(kit: TrustKit) -> dict[str, Any] | None:
    """The hub issuer's certificate of a hub kit (None for a stand-alone station's kit)."""
    issuer = kit.raw.get("issuer")
    return dict(issuer) if isinstance(issuer, Mapping) else None


def kit_origins(kit: TrustKit, key_id: str) -> list[str]:
    """The logs the kit names for a station key."""
    return [o.origin for o in kit.model.origins if o.key_id == key_id]


def place(cert: Mapping[str, Any]) -> str:
    """`office/number` of a station certificate."""
    return f"{cert.get('office')}/{cert.get('station')}"


# -- building -----------------------------------------------------------------------------------
def fork_evidence(
    *,
    origin: str,
    station_cert: Mapping[str, Any],
    a: str,
    b: str,
    issuer_cert: Mapping[str, Any] | None = None,
    consistency: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": EVIDENCE_TYPE,
        "origin": origin,
        "station_cert": dict(station_cert),
    }
    if issuer_cert is not None and station_cert.get("issuer") != station_cert.get("key_id"):
        doc["issuer_cert"] = dict(issuer_cert)
    doc["a"], doc["b"] = a, b
    if consistency is not None:
        doc["consistency"] = {
            "old_root": consistency["old_root"],
            "proof": list(consistency["proof"]),
        }
    return doc


def evidence_from_hub_record(
    record: Mapping[str, Any],
    issuer_cert: Mapping[str, Any] | None,
    consistency: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The hub's stored fork record (`commune.fork/v1`: the checkpoint it had accepted and
    cosigned, the conflicting one it received, and, since the audit API, the consistency proof
    when their sizes differ) as evidence. `consistency` supplies a proof the record lacks."""
    if not isinstance(record, Mapping) or record.get("type") != HUB_FORK_TYPE:
        raise EvidenceInputError("not a fork record of the hub (commune.fork/v1)")
    try:
        origin, cert = str(record["origin"]), record["station_cert"]
        a, b = str(record["accepted"]), str(record["conflicting"])
    except KeyError as exc:
        raise EvidenceInputError(f"the hub's fork record has no {exc.args[0]}") from exc
    if not isinstance(cert, Mapping):
        raise EvidenceInputError("the hub's fork record has no station certificate")
    proof = record.get("consistency") or consistency
    return fork_evidence(
        origin=origin,
        station_cert=cert,
        a=a,
        b=b,
        issuer_cert=issuer_cert,
        consistency=proof if isinstance(proof, Mapping) else None,
    )


def encode_evidence(doc: Mapping[str, Any]) -> bytes:
    """Compact JSON (sorted keys) and a final newline: what `commune-audit hub` writes."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n"


def parse_evidence(data: bytes) -> dict[str, Any]:
    """An evidence document from a file's bytes, or EvidenceInputError (not JSON, not an
    object, not `commune.fork-evidence/v1`, far too large)."""
    if len(data) > MAX_INPUT:
        raise EvidenceInputError("too large for fork evidence (at most 4 KB)")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EvidenceInputError("the evidence is not JSON") from exc
    if not isinstance(doc, dict):
        raise EvidenceInputError("the evidence is not a JSON object")
    if doc.get("type") != EVIDENCE_TYPE:
        raise EvidenceInputError(f"not fork evidence (type is not {EVIDENCE_TYPE})")
    return doc


# -- verifying ----------------------------------------------------------------------------------
@dataclass(slots=True)
class EvidenceVerdict:
    ok: bool
    reason_en: str
    reason_vi: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fork": self.ok,
            "reason": self.reason_en,
            "reason_vi": self.reason_vi,
            **self.details,
        }


class _Refused(Exception):
    def __init__(self, vi: str, en: str) -> None:
        super().__init__(en)
        self.vi, self.en = vi, en


def verify_evidence(doc: Any, kit: Mapping[str, Any] | TrustKit | None = None) -> tuple[bool, str]:
    """(True, what it proves) when `doc` proves a fork on its own, else (False, why not).
    A kit that is not a valid trust kit raises EvidenceInputError."""
    verdict = check_evidence(doc, kit)
    return verdict.ok, verdict.reason_en


def check_evidence(doc: Any, kit: Mapping[str, Any] | TrustKit | None = None) -> EvidenceVerdict:
    """`verify_evidence` with both languages and the facts (sizes, station, cosign times)."""
    trusted = kit if isinstance(kit, TrustKit) or kit is None else trust_kit(kit)
    details: dict[str, Any] = {}
    try:
        en, vi = _check(doc, trusted, details)
    except _Refused as refused:
        return EvidenceVerdict(False, refused.en, refused.vi, details)
    return EvidenceVerdict(True, en, vi, details)


def _check(doc: Any, kit: TrustKit | None, details: dict[str, Any]) -> tuple[str, str]:
    if not isinstance(doc, Mapping) or doc.get("type") != EVIDENCE_TYPE:
        raise _Refused("Không phải bằng chứng rẽ nhánh", f"not {EVIDENCE_TYPE}")
    origin, cert, issuer = doc.get("origin"), doc.get("station_cert"), doc.get("issuer_cert")
    note_a, note_b = doc.get("a"), doc.get("b")
    if not (isinstance(origin, str) and origin and isinstance(cert, Mapping)):
        raise _Refused("Thiếu nhật ký hoặc chứng thư trạm", "no origin or station certificate")
    if not (isinstance(note_a, str) and isinstance(note_b, str)):
        raise _Refused(
            "Thiếu một trong hai điểm kiểm tra", "the two checkpoints a and b are needed"
        )
    if issuer is not None and not isinstance(issuer, Mapping):
        raise _Refused("Chứng thư cấp phát sai dạng", "issuer_cert is not a certificate")
    details["origin"] = origin
    # 1. the station key, and who certified it
    try:
        public = cert_public_key(cert)
    except LedgerError as exc:
        raise _Refused(
            "Chứng thư trạm không hợp lệ", f"station certificate: {exc.message}"
        ) from exc
    if cert.get("role") != "station":
        raise _Refused("Chứng thư không phải của trạm", "the certificate is not a station's")
    station = place(cert)
    details["station"], details["key_id"] = station, cert.get("key_id")
    self_signed = cert.get("issuer") == cert.get("key_id")
    certifier = cert if self_signed else issuer
    if certifier is None and kit is not None:
        certifier = kit_issuer(kit)
    if certifier is None:
        raise _Refused(
            "Thiếu chứng thư của bên cấp chứng thư trạm",
            "the station certificate's issuer certificate is missing",
        )
    try:
        if not self_signed:
            verify_certificate(certifier, certifier)  # a hub issuer signs its own certificate
        verify_certificate(cert, certifier)
    except LedgerError as exc:
        raise _Refused(
            "Chứng thư trạm không hợp lệ", f"station certificate: {exc.message}"
        ) from exc
    prefix, sep, epoch = origin.rpartition(f"/office/{cert.get('office')}/{cert.get('station')}")
    if not sep or not prefix or _EPOCH.fullmatch(epoch) is None:
        raise _Refused(
            f"Nhật ký {origin} không phải của trạm {station}",
            f"log {origin} is not a log of station {station}",
        )
    # 2. both checkpoints signed by that key, for that log
    signed = [_open(note_a, origin, public, "a"), _open(note_b, origin, public, "b")]
    a, b = (s.checkpoint for s in signed)
    details["sizes"] = [a.size, b.size]
    # 3. with a kit: the kit vouches for the key and the log, and any hub cosignature holds
    if kit is not None:
        _against_kit(kit, cert, origin, signed, details)
    # 4. they conflict
    if a.size == b.size:
        if a.root == b.root:
            raise _Refused(
                "Hai điểm kiểm tra trùng nhau: không có rẽ nhánh",
                f"both checkpoints have size {a.size} and the same root: no fork",
            )
        details["kind"] = "same-size"
        return (
            f"fork: station {station} signed two checkpoints of size {a.size} of {origin} "
            "with different roots",
            f"Rẽ nhánh: trạm {station} đã ký hai điểm kiểm tra cỡ {a.size} của {origin} với hai "
            "gốc khác nhau",
        )
    small, large = (a, b) if a.size < b.size else (b, a)
    if small.size == 0:
        raise _Refused("Điểm kiểm tra cỡ 0", "a checkpoint of size 0 proves nothing here")
    proof = doc.get("consistency")
    if not isinstance(proof, Mapping):
        raise _Refused(
            "Hai cỡ khác nhau mà không có bằng chứng nhất quán",
            f"sizes {small.size} and {large.size} differ and there is no consistency proof",
        )
    try:
        old_root = unb64(str(proof.get("old_root")), 32)
        hashes = proof.get("proof")
        if not isinstance(hashes, list) or len(hashes) > MAX_PROOF:
            raise EncodingError("proof is not a list of hashes")
        path = [unb64(h, 32) for h in hashes]
    except EncodingError as exc:
        raise _Refused(
            "Bằng chứng nhất quán sai dạng", f"malformed consistency proof: {exc}"
        ) from exc
    try:
        verify_consistency(small.size, large.size, path, old_root, large.root)
    except ProofError as exc:
        raise _Refused(
            "Bằng chứng nhất quán không khớp điểm kiểm tra lớn hơn",
            f"the consistency proof does not verify against the checkpoint of size "
            f"{large.size}: {exc}",
        ) from exc
    if old_root == small.root:
        raise _Refused(
            "Bằng chứng cho thấy hai điểm kiểm tra nhất quán: không có rẽ nhánh",
            f"the proof shows the log of size {large.size} extends the one of size "
            f"{small.size}: no fork",
        )
    details["kind"] = "not-a-prefix"
    details["old_root"] = b64(old_root)
    return (
        f"fork: station {station} signed a checkpoint of size {large.size} of {origin} whose "
        f"log does not extend the checkpoint of size {small.size} it also signed (its root "
        f"there is {b64(old_root)}, not {b64(small.root)})",
        f"Rẽ nhánh: trạm {station} đã ký điểm kiểm tra cỡ {large.size} của {origin} mà nhật "
        f"ký không nối tiếp điểm kiểm tra cỡ {small.size} cũng do trạm ký",
    )


def _open(note: str, origin: str, public: bytes, label: str) -> SignedCheckpoint:
    try:
        signed = open_checkpoint(note, ed25519_verifier(origin, public))
    except LedgerError as exc:
        raise _Refused(
            f"Điểm kiểm tra {label} không có chữ ký hợp lệ của khóa trạm",
            f"checkpoint {label}: {exc.message}",
        ) from exc
    if signed.checkpoint.origin != origin:
        raise _Refused(
            f"Điểm kiểm tra {label} thuộc nhật ký khác",
            f"checkpoint {label} is of log {signed.checkpoint.origin}, not {origin}",
        )
    return signed


def _against_kit(
    kit: TrustKit,
    cert: Mapping[str, Any],
    origin: str,
    signed: list[SignedCheckpoint],
    details: dict[str, Any],
) -> None:
    station, kid = place(cert), str(cert.get("key_id"))
    if not kit.vouches_for(cert, station):
        raise _Refused(
            "Bộ khóa tin cậy không xác nhận khóa trạm",
            f"the trust kit does not vouch for station key {kid} of station {station}",
        )
    logs = kit_origins(kit, kid)
    if logs and origin not in logs:
        raise _Refused(
            f"Nhật ký {origin} không phải nhật ký của khóa trạm trong bộ khóa tin cậy",
            f"the trust kit names other logs for station key {kid}: {', '.join(logs)}",
        )
    through = kit.valid_through(kid, origin)
    if through is not None:
        details["revoked_through"] = through
        details["after_revocation"] = all(s.checkpoint.size > through for s in signed)
    hub = kit.model.hub
    if hub is None:
        return
    verifier = cosigner_verifier(hub.name, unb64url(hub.cosigner, 32))
    times: list[int | None] = []
    for s, label in zip(signed, "ab", strict=True):
        try:
            found = cosignatures(s.note, verifier)
        except LedgerError as exc:
            raise _Refused(
                f"Chữ ký xác nhận của máy chủ trên điểm kiểm tra {label} không hợp lệ",
                f"checkpoint {label}: {exc.message}",
            ) from exc
        times.append(min(found) if found else None)
    details["cosigned_unix"] = times
