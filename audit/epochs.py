"""The links between a station's epochs, checked offline against the trust kit (DESIGN 4
"Keys"; docs/audit.md "Lost or stolen station").

- A log of epoch k >= 1 opens with `station-open` then a `continuity` event naming the last
  checkpoint the hub cosigned in epoch k - 1. It must be that log's checkpoint (origin, station
  key signature), cosigned by the kit's hub, within the old key's revocation point.
- A `receive` event with `data.reattests` records a receipt the lost PC issued after that
  point: the old event must be signed by an officer whose certificate the old station key
  signed, be an entry past the revocation point of the old log, and say exactly what the new
  event says (same dossier, same data).

Each check returns a `Link`: ok with what it proved, or the reason it failed, in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import (
    cosignature_time,
    ed25519_verifier,
    parse_checkpoint_text,
)
from ledger.errors import LedgerError
from ledger.note import parse_note, verify_note
from ledger.records import verify_record
from ledger.trustkit import TrustKit
from schemas.canonical import CanonicalError

__all__ = ["Link", "check_continuity", "check_reattestation", "epoch_of", "previous_origin"]


@dataclass(frozen=True)
class Link:
    ok: bool
    en: str
    vi: str
    detail: dict[str, Any] = field(default_factory=dict)


def epoch_of(origin: str) -> int | None:
    base, sep, epoch = origin.rpartition("/e")
    if not sep or not base or not epoch.isdigit() or str(int(epoch)) != epoch:
        return None
    return int(epoch)


def previous_origin(origin: str) -> str | None:
    """The origin of the epoch before `origin`'s, or None for epoch 0."""
    epoch = epoch_of(origin)
    if not epoch:
        return None
    return f"{origin.rpartition('/e')[0]}/e{epoch - 1}"


def _old_station_key(kit: TrustKit, origin: str, station: str) -> tuple[str, dict[str, Any]]:
    """The key id and certificate the kit names for the old log `origin` of `station`."""
    for known in kit.model.origins:
        if known.origin == origin and known.station == station:
            cert = kit.station_cert(station, known.key_id)
            if cert is not None and kit.vouches_for(cert, station):
                return known.key_id, dict(cert)
    raise LedgerError(f"the trust kit names no station key for the log {origin}")


def check_continuity(kit: TrustKit, origin: str, station: str, event: Mapping[str, Any]) -> Link:
    raw = event.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    expected = previous_origin(origin)
    named, text = data.get("previous_origin"), data.get("checkpoint")
    if expected is None:
        return Link(
            False,
            "a continuity event in the first epoch of a station: there is no earlier log",
            "Bản ghi nối tiếp trong kỷ nguyên đầu của trạm: không có sổ trước đó",
        )
    if named != expected or not isinstance(text, str):
        return Link(
            False,
            f"continuity names {named!r}, not the previous epoch's log {expected}",
            f"Bản ghi nối tiếp ghi sổ {named!r}, không phải sổ kỷ nguyên trước {expected}",
        )
    try:
        key, cert = _old_station_key(kit, expected, station)
        note = parse_note(text)
        checkpoint = parse_checkpoint_text(note.text)
        if checkpoint.origin != expected:
            raise LedgerError(f"the checkpoint is of {checkpoint.origin}, not {expected}")
        verify_note(note, [ed25519_verifier(expected, cert_public_key(cert))])
        cosigner = kit.cosigner()
        if cosigner is None:
            raise LedgerError("the trust kit has no hub to check the cosignature with")
        sigs = list(note.find(cosigner.name, cosigner.key_hash))
        if not sigs or not all(cosigner.check(note, s) for s in sigs):
            raise LedgerError("the checkpoint has no valid cosignature of the kit's hub")
    except (LedgerError, CanonicalError) as exc:
        msg = exc.message if isinstance(exc, LedgerError) else str(exc)
        return Link(
            False,
            f"continuity does not name a hub-cosigned checkpoint of {expected}: {msg}",
            f"Bản ghi nối tiếp không nêu điểm chốt có xác nhận của máy chủ của sổ {expected}: "
            f"{msg}",
        )
    through = kit.valid_through(key, expected)
    if through is not None and checkpoint.size > through:
        return Link(
            False,
            f"continuity names size {checkpoint.size} of {expected}, past its revocation point "
            f"{through}",
            f"Bản ghi nối tiếp nêu kích thước {checkpoint.size} của sổ {expected}, sau điểm thu "
            f"hồi {through}",
        )
    cosigned_at = min(cosignature_time(s) for s in sigs)
    return Link(
        True,
        f"new epoch; the previous log {expected} ended at size {checkpoint.size}, cosigned by "
        f"the hub at unix {cosigned_at} (revoked through {through})",
        f"Kỷ nguyên mới; sổ trước {expected} kết thúc ở kích thước {checkpoint.size}, máy chủ "
        f"xác nhận lúc {cosigned_at} (thu hồi sau {through})",
        {"previous_origin": expected, "size": checkpoint.size, "cosigned_unix": cosigned_at},
    )


def check_reattestation(kit: TrustKit, origin: str, station: str, event: Mapping[str, Any]) -> Link:
    data = event.get("data")
    link = data.get("reattests") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(link, dict):
        return Link(False, "malformed re-attestation", "Xác nhận lại sai cấu trúc")
    old_origin, old, officer = link.get("origin"), link.get("event"), link.get("cert")
    try:
        if not isinstance(old_origin, str) or not isinstance(old, dict):
            raise LedgerError("the re-attestation has no origin or no old event")
        old_epoch, epoch = epoch_of(old_origin), epoch_of(origin)
        if (
            old_epoch is None
            or epoch is None
            or old_epoch >= epoch
            or old_origin.rpartition("/e")[0] != origin.rpartition("/e")[0]
        ):
            raise LedgerError(f"{old_origin} is not an earlier epoch of {origin}")
        if old.get("station") != station or old.get("action") != "receive":
            raise LedgerError("the old event is not a receive of this station")
        key, station_cert = _old_station_key(kit, old_origin, station)
        if not isinstance(officer, dict) or officer.get("key_id") != old.get("officer"):
            raise LedgerError("the officer certificate is not the old event's signer's")
        verify_certificate(officer, station_cert)
        verify_record(old, cert_public_key(officer))
    except (LedgerError, CanonicalError) as exc:
        msg = exc.message if isinstance(exc, LedgerError) else str(exc)
        return Link(
            False,
            f"the re-attested receipt does not verify: {msg}",
            f"Biên nhận được xác nhận lại không xác thực được: {msg}",
        )
    index = old.get("seq")
    through = kit.valid_through(key, old_origin)
    same = {k: v for k, v in data.items() if k != "reattests"} == old.get("data") and old.get(
        "dossier"
    ) == event.get("dossier")
    if not same:
        return Link(
            False,
            f"the re-attested dossier differs from the old receipt (entry {index} of {old_origin})",
            f"Hồ sơ được xác nhận lại khác biên nhận cũ (bản ghi {index} của sổ {old_origin})",
        )
    if through is None or not isinstance(index, int) or index < through:
        return Link(
            False,
            f"entry {index} of {old_origin} is not past the old key's revocation point "
            f"({through}): the hub holds it, it needs no re-attestation",
            f"Bản ghi {index} của sổ {old_origin} không nằm sau điểm thu hồi ({through}): máy "
            "chủ đã có, không cần xác nhận lại",
        )
    return Link(
        True,
        f"re-attests dossier {event.get('dossier')}: entry {index} of the lost log "
        f"{old_origin} (revoked through {through}), signed by {officer.get('name')}",
        f"Xác nhận lại hồ sơ {event.get('dossier')}: bản ghi {index} của sổ máy bị mất "
        f"{old_origin} (thu hồi sau {through}), do {officer.get('name')} ký",
        {"previous_origin": old_origin, "previous_index": index, "through": through},
    )
