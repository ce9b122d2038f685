"""Signed receipts (DESIGN section 8) and their QR payload.

A receipt is `{"type": "commune.receipt/v1", "event", "cert", "station_cert", "proof"}`: the
signed `receive` event, the receiving officer's certificate, the station certificate and a
c2sp.org/tlog-proof that the event is in the station's log under a signed checkpoint. Anyone with
the trust kit verifies it offline. Once the station has enrolled, `station_cert` is the hub-issued
certificate of the same station key (`Station.receipt_cert`).

The QR payload drops the station certificate (the trust kit carries it; the event names the
station) and packs the rest: `CLR1.` + base64url(deflate(canonical JSON)). Signatures and hashes
do not compress, Vietnamese text and JSON keys do; a typical receipt gives ~1.5 KB of text.
The payload format and offline verification live in `ledger.receipt` (the auditor uses them too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from commune_client.errors import BadInput, NotFound
from commune_client.store import SqliteNodeStore
from ledger import receipt as _receipt
from ledger.errors import ReceiptError
from ledger.merkle import MerkleTree
from ledger.receipt import QR_PREFIX, qr_payload
from ledger.tlogproof import TlogProof, encode_proof

if TYPE_CHECKING:
    from commune_client.station import Station

__all__ = ["QR_PREFIX", "build_receipt", "decode_qr_payload", "qr_payload", "receipt_for"]

RECEIPT_TYPE = "commune.receipt/v1"


def build_receipt(station: Station, index: int) -> dict[str, Any]:
    """The receipt of log entry `index` (a `receive` event).

    Once the hub has cosigned a checkpoint that covers the entry, the proof is against the
    earliest such checkpoint, with the hub's cosignature line in its note: the receipt then
    proves when the hub had seen it (the upgrade after sync, DESIGN section 4). Before that,
    against the station's latest checkpoint."""
    store = station.store
    leaf = store.leaf(index)
    latest = store.latest_checkpoint()
    if leaf is None or latest is None or latest[0] <= index:
        raise NotFound(f"Bản ghi {index} chưa có điểm kiểm tra đã ký")
    event = orjson.loads(leaf)
    size, note = latest
    cosigned = store.conn.execute(
        "SELECT size, note FROM cosigned WHERE size > ? ORDER BY size LIMIT 1", (index,)
    ).fetchone()
    if cosigned is not None:
        size, note = int(cosigned[0]), str(cosigned[1])
    hashes = MerkleTree(SqliteNodeStore(store.conn), store.size()).inclusion_proof(index, size)
    return {
        "type": RECEIPT_TYPE,
        "event": event,
        "cert": station.officer_cert(event["officer"]),
        "station_cert": station.receipt_cert,
        "proof": encode_proof(TlogProof(index, tuple(hashes), note)),
    }


def receipt_for(station: Station, code: str) -> dict[str, Any]:
    state = station.dossier(code)
    if state is None:
        raise NotFound(f"Không tìm thấy hồ sơ {code}")
    if state["station"] != station.info.ref:
        # A dossier transferred here: its receipt lives in the receiving station's log.
        raise NotFound(
            f"Hồ sơ {code} do trạm {state['station']} tiếp nhận: biên nhận do trạm đó cấp"
        )
    return build_receipt(station, int(state["seq"]))


def decode_qr_payload(text: str) -> dict[str, Any]:
    """The receipt dict from a QR payload (without its station certificate); `ledger.receipt`
    decodes, this keeps the office app's error type."""
    try:
        return _receipt.decode_qr_payload(text)
    except ReceiptError as exc:
        raise BadInput(exc.message_vi) from exc
