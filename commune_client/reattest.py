"""Re-attesting receipts a lost station PC issued (DESIGN 4 "Keys", docs/audit.md "Lost or
stolen station").

When a PC is lost or stolen, the hub revokes its key at the last checkpoint it cosigned
(`sync-server station replace`), and the replacement PC starts the station's next epoch. A
dossier received on the lost PC after that checkpoint exists only on the citizen's receipt: its
entry is past the revocation point, so no auditor accepts that receipt alone any more. The
citizen brings it to the desk; `reattest` checks it offline against the station's trust kit
(every link must hold except the revocation, which must be exactly why it fails), and records
the same dossier (same code, same data) as a new `receive` event of this epoch whose
`data.reattests` carries the old signed event and its officer's certificate, so an auditor can
check the old signatures and that nothing was changed. The citizen gets a new receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from commune_client.clock import iso
from commune_client.desk import record_receive
from commune_client.errors import BadInput
from commune_client.projection import dossier_state
from commune_client.station import Session
from commune_client.store import Store
from ledger.errors import LedgerError
from ledger.receipt import verify_receipt
from ledger.tlogproof import parse_proof

__all__ = ["reattest"]


def reattest(session: Session, receipt: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """Record the dossier of a lost PC's receipt in this epoch: {code, status, due_at, receipt,
    reattested: {origin, index}}. Raises BadInput, in Vietnamese, for any other receipt."""
    station = session.station
    info = station.info
    if info.epoch == 0:
        raise BadInput("Chỉ trạm thay máy (kỷ nguyên mới) mới xác nhận lại biên nhận của máy cũ")
    raw_kit = station.store.meta("trust_kit")
    if raw_kit is None:
        raise BadInput("Trạm chưa có bộ khóa tin cậy của máy chủ")
    verdict = verify_receipt(receipt, orjson.loads(raw_kit))
    if verdict.genuine:
        raise BadInput(
            f"Biên nhận hồ sơ {verdict.code} vẫn còn hiệu lực (máy chủ đã lưu bản ghi): không "
            "cần xác nhận lại"
        )
    failed = [c for c in verdict.checks if c.ok is False]
    if [c.name for c in failed] != ["revocation"]:
        raise BadInput(f"Biên nhận không xác thực được: {failed[0].message_vi}")
    event = dict(receipt["event"])
    try:
        origin = parse_proof(str(receipt["proof"])).checkpoint.split("\n", 1)[0]
    except LedgerError as exc:  # verify_receipt parsed it already; kept for the type checker
        raise BadInput(f"Biên nhận không xác thực được: {exc.message}") from exc
    if event.get("station") != info.ref or not _earlier_epoch(origin, info.origin):
        raise BadInput(
            f"Biên nhận không phải của máy cũ của trạm {info.ref} (sổ {origin}): không thể xác "
            "nhận lại ở đây"
        )
    code = str(event["dossier"])
    data = dict(event["data"])
    data["reattests"] = {"origin": origin, "event": event, "cert": dict(receipt["cert"])}

    def prepare(store: Store) -> dict[str, Any]:
        if dossier_state(store.conn, code) is not None:
            raise BadInput(f"Hồ sơ {code} đã có trên trạm này")
        return {
            "claimed_time": iso(now),
            "beacon": session.beacon(),
            "action": "receive",
            "dossier": code,
            "data": data,
        }

    result = record_receive(session, prepare)
    return {**result, "reattested": {"origin": origin, "index": event["seq"]}}


def _earlier_epoch(old: str, new: str) -> bool:
    """`old` is an earlier epoch of the log `new` (`<hub>/office/<code>/<n>/e<k>`)."""
    old_base, _, old_epoch = old.rpartition("/e")
    new_base, _, new_epoch = new.rpartition("/e")
    return (
        old_base == new_base
        and old_epoch.isdigit()
        and new_epoch.isdigit()
        and int(old_epoch) < int(new_epoch)
    )
