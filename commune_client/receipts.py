"""Signed receipts (DESIGN section 8) and their QR payload.

A receipt is `{"type": "commune.receipt/v1", "event", "cert", "station_cert", "proof"}`: the
signed `receive` event, the receiving officer's certificate, the station certificate and a
c2sp.org/tlog-proof that the event is in the station's log under a signed checkpoint. Anyone with
the trust kit verifies it offline. Once the station has enrolled, `station_cert` is the hub-issued
certificate of the same station key (`Station.receipt_cert`).

The QR payload drops the station certificate (the trust kit carries it; the event names the
station) and packs the rest: `CLR1.` + base64url(deflate(canonical JSON)). Signatures and hashes
do not compress, Vietnamese text and JSON keys do; a typical receipt gives ~1.5 KB of text.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

import orjson

from commune_client.errors import BadInput, NotFound
from commune_client.store import SqliteNodeStore
from ledger.encoding import EncodingError, b64url, unb64url
from ledger.merkle import MerkleTree
from ledger.tlogproof import TlogProof, encode_proof
from schemas.canonical import canonical

if TYPE_CHECKING:
    from commune_client.station import Station

__all__ = ["QR_PREFIX", "build_receipt", "decode_qr_payload", "qr_payload", "receipt_for"]

RECEIPT_TYPE = "commune.receipt/v1"
QR_PREFIX = "CLR1."


def build_receipt(station: Station, index: int) -> dict[str, Any]:
    """The receipt of log entry `index` (a `receive` event), against the latest checkpoint."""
    store = station.store
    leaf = store.leaf(index)
    latest = store.latest_checkpoint()
    if leaf is None or latest is None or latest[0] <= index:
        raise NotFound(f"Bản ghi {index} chưa có điểm kiểm tra đã ký")
    event = orjson.loads(leaf)
    size, note = latest
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


def qr_payload(receipt: dict[str, Any]) -> str:
    body = {k: v for k, v in receipt.items() if k != "station_cert"}
    return QR_PREFIX + b64url(zlib.compress(canonical(body), 9))


def decode_qr_payload(text: str) -> dict[str, Any]:
    """The receipt dict from a QR payload (without its station certificate)."""
    text = text.strip()
    if not text.startswith(QR_PREFIX):
        raise BadInput("Không phải mã QR biên nhận (thiếu tiền tố CLR1.)")
    try:
        raw = zlib.decompress(unb64url(text[len(QR_PREFIX) :]), bufsize=64 * 1024)
        value = orjson.loads(raw)
    except (EncodingError, zlib.error, orjson.JSONDecodeError) as exc:
        raise BadInput("Mã QR biên nhận bị hỏng") from exc
    if not isinstance(value, dict) or value.get("type") != RECEIPT_TYPE:
        raise BadInput("Mã QR không chứa biên nhận")
    return value
