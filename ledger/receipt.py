"""Receipts (DESIGN sections 4 and 8): the QR payload and offline verification with a trust kit.

A receipt is genuine when every link holds, from the trust kit down to the event: the kit is
signed by its issuer; the station certificate is one the kit vouches for; the officer's
certificate is signed by that station key; the event by the officer; the event is entry `seq` of
a tree whose checkpoint the station key signed, for the log origin the kit names, before any
revocation point; and hub cosignatures, when present, verify with the kit's cosigner key.
Everything is offline. `verify_receipt` never raises on bad input: it returns a verdict whose
checks say, in Vietnamese and English, which link broke (`reason` = the first broken one).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, StrictInt, StrictStr, ValidationError, model_validator

from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import (
    Checkpoint,
    cosignature_time,
    cosigner_verifier,
    ed25519_verifier,
    parse_checkpoint_text,
)
from ledger.encoding import EncodingError, b64url, key_id, unb64url
from ledger.errors import LedgerError, ReceiptError
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.note import Note, parse_note, verify_note
from ledger.records import verify_record
from ledger.tlogproof import TlogProof, parse_proof
from schemas.canonical import CanonicalError, canonical, loads
from schemas.certificate import Certificate
from schemas.receipt import RECEIPT_TYPE, Receipt

__all__ = [
    "CHECKS",
    "KIT_TYPE",
    "QR_PREFIX",
    "ReceiptCheck",
    "ReceiptVerdict",
    "decode_qr_payload",
    "parse_receipt_input",
    "qr_payload",
    "verify_receipt",
]

QR_PREFIX = "CLR1."
KIT_TYPE = "commune.trust-kit/v1"
MAX_INPUT = 256 * 1024  # a receipt is ~5 KB of JSON; anything far bigger is not one


# -- QR payload -------------------------------------------------------------------------------
def qr_payload(receipt: Mapping[str, Any]) -> str:
    """`CLR1.` + base64url(deflate(canonical JSON)), without the station certificate (the trust
    kit carries it) so that the receipt fits one QR code."""
    body = {k: v for k, v in receipt.items() if k != "station_cert"}
    return QR_PREFIX + b64url(zlib.compress(canonical(body), 9))


def decode_qr_payload(text: str) -> dict[str, Any]:
    """The receipt dict of a QR payload (without its station certificate)."""
    text = "".join(text.split())  # scanners and copy-paste wrap long text
    if not text.startswith(QR_PREFIX):
        raise ReceiptError(
            "Không phải mã QR biên nhận (thiếu tiền tố CLR1.)",
            "not a receipt QR payload (no CLR1. prefix)",
        )
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(unb64url(text[len(QR_PREFIX) :]), MAX_INPUT)
        if inflater.unconsumed_tail or not inflater.eof:  # a bomb, or cut short
            raise zlib.error("payload too large or truncated")
        value = loads(raw)
    except (EncodingError, zlib.error, CanonicalError) as exc:
        raise ReceiptError("Mã QR biên nhận bị hỏng", f"corrupt receipt QR payload: {exc}") from exc
    if not isinstance(value, dict) or value.get("type") != RECEIPT_TYPE:
        raise ReceiptError("Mã QR không chứa biên nhận", "the QR payload holds no receipt")
    return value


def parse_receipt_input(data: str | bytes) -> dict[str, Any]:
    """A receipt from receipt JSON or a QR payload. A QR receipt has no `station_cert`:
    `verify_receipt` takes it from the trust kit."""
    if len(data) > MAX_INPUT:
        raise ReceiptError("Tệp quá lớn, không phải biên nhận", "input too large for a receipt")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReceiptError("Biên nhận không phải văn bản UTF-8", "not UTF-8 text") from exc
    text = data.strip().lstrip("\ufeff").strip()
    if text.startswith(QR_PREFIX):
        return decode_qr_payload(text)
    try:
        value = loads(text)
    except CanonicalError as exc:
        raise ReceiptError(
            "Không đọc được biên nhận: không phải JSON hay mã QR CLR1.",
            "not a receipt: neither JSON nor a CLR1. QR payload",
        ) from exc
    if not isinstance(value, dict):
        raise ReceiptError("Biên nhận phải là một đối tượng JSON", "a receipt is a JSON object")
    return value


# -- verdict ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    name: str  # stable code, one of CHECKS (or "schema")
    ok: bool | None  # None: not applicable, not present, or not checked
    message_vi: str
    message_en: str


@dataclass(slots=True)
class ReceiptVerdict:
    genuine: bool
    checks: list[ReceiptCheck]
    reason: str | None = None  # the first failed check
    code: str | None = None
    station: str | None = None
    office: str | None = None
    index: int | None = None
    received_at: str | None = None
    procedure: dict[str, str] | None = None
    checkpoint_size: int | None = None
    cosigned_at: int | None = None  # unix time of the earliest valid hub cosignature
    not_before: str | None = None  # the beacon names a hub checkpoint, not its time: unknown here
    not_after: str | None = None  # = cosigned_at, RFC 3339 in Vietnam time


# The checks in the order they run (after "schema"): the chain of trust from the kit down to the
# event, then the event's place in the log. Each with the Vietnamese lead of a failure that the
# ledger reports in English only.
CHECKS = {
    "kit": "Bộ khóa tin cậy không hợp lệ",
    "station-cert": "Chứng thư trạm không hợp lệ",
    "officer-cert": "Chứng thư cán bộ không hợp lệ",
    "event-signature": "Chữ ký của cán bộ trên biên nhận không hợp lệ",
    "inclusion-proof": "Bằng chứng biên nhận nằm trong sổ không hợp lệ",
    "checkpoint-signature": "Chữ ký của trạm trên điểm kiểm tra không hợp lệ",
    "origin": "Sổ của trạm không khớp bộ khóa tin cậy",
    "revocation": "Khóa đã bị thu hồi",
    "hub-cosignature": "Chữ ký xác nhận của máy chủ không hợp lệ",
}
_VN = timezone(timedelta(hours=7))


class _Stop(Exception):
    """Ends a check: ok=False (failed) or ok=None (not applicable / not checked)."""

    def __init__(self, vi: str, en: str, ok: bool | None = False) -> None:
        super().__init__(en)
        self.vi, self.en, self.ok = vi, en, ok


class _Hub(BaseModel):
    name: StrictStr
    cosigner: StrictStr  # base64url raw Ed25519 key
    cosigner_key_id: StrictStr

    @model_validator(mode="after")
    def _key(self) -> Self:
        if key_id(unb64url(self.cosigner, 32)) != self.cosigner_key_id:  # EncodingError too
            raise ValueError("cosigner_key_id is not the cosigner key's id")
        return self


class _Origin(BaseModel):
    origin: StrictStr
    station: StrictStr
    key_id: StrictStr


class _Revocation(BaseModel):
    key_id: StrictStr
    through: Annotated[StrictInt, Field(ge=0)]  # key valid through size `through`
    origin: StrictStr | None = None


class _Kit(BaseModel):
    """The trust kit as `sync-server trust-kit` (issuer + hub) or a stand-alone station's
    `commune trust-kit` (issuer and hub null, signed by the station key) writes it."""

    type: Literal["commune.trust-kit/v1"]
    issuer: Certificate | None
    hub: _Hub | None
    stations: list[Certificate]
    origins: list[_Origin]
    revocations: list[_Revocation]


def _place(cert: Mapping[str, Any]) -> str:
    return f"{cert.get('office')}/{cert.get('station')}"


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, _VN).isoformat()


class _Verification:
    """The checks of one (well-formed) receipt; each returns its (vi, en) or raises `_Stop`."""

    def __init__(
        self, body: dict[str, Any], raw_kit: Mapping[str, Any], kit: _Kit, check_kit: bool
    ) -> None:
        self.event, self.cert, self.sc = body["event"], body["cert"], body["station_cert"]
        self.station: str = self.event["station"]
        self.raw_kit, self.trusted, self.check_kit = raw_kit, kit, check_kit
        self.lines: list[str] = body.get("cosignatures") or []
        self.proof: TlogProof | None = None
        self.note: Note | None = None
        self.cp: Checkpoint | None = None
        self.proof_error = ""
        try:
            self.proof = parse_proof(body["proof"])
            self.note = parse_note(self.proof.checkpoint)
            self.cp = parse_checkpoint_text(self.note.text)
        except LedgerError as exc:
            self.proof_error = exc.message
        self.times: list[int] = []

    def _checkpoint(self) -> tuple[Note, Checkpoint]:
        # later checks need the proof's checkpoint; without one they do not apply
        if self.note is None or self.cp is None:
            raise _Stop("Không có điểm kiểm tra để kiểm", "no checkpoint to check", None)
        return self.note, self.cp

    def kit(self) -> tuple[str, str]:
        # A hub kit is signed by the hub issuer (self-signed issuer certificate); a stand-alone
        # station's kit by the station key (its self-signed certificate, listed in the kit).
        if not self.check_kit:
            raise _Stop("Không kiểm chữ ký bộ khóa (theo yêu cầu)", "kit signature unchecked", None)
        issuer = self.raw_kit["issuer"]
        if issuer is not None:
            verify_certificate(issuer, issuer)
        stations = self.raw_kit["stations"]
        signers = [issuer] if issuer else [c for c in stations if c["issuer"] == c["key_id"]]
        for cert in signers:
            with contextlib.suppress(LedgerError):
                verify_record(dict(self.raw_kit), cert_public_key(cert))
                return f"Bộ khóa tin cậy do {cert['name']} ký", f"kit signed by {cert['name']}"
        raise _Stop("Chữ ký trên bộ khóa tin cậy không hợp lệ", "the trust kit's signature is bad")

    def station_cert(self) -> tuple[str, str]:
        sc, kid, station = self.sc, self.sc["key_id"], self.station
        stations, issuer = self.raw_kit["stations"], self.raw_kit["issuer"]
        listed = [c for c in stations if c["key_id"] == kid]
        if stations and not listed:
            vi = f"Khóa trạm {kid} không có trong bộ khóa tin cậy"
            raise _Stop(vi, f"station key {kid} is not listed in the trust kit")
        # Hub kit: the issuer signed the receipt's certificate, or (a receipt printed before
        # enrolment) it is self-signed and the kit lists an issuer-signed one of the same key.
        # Stand-alone kit: self-signed, and the kit lists the same station's certificate.
        vouched = any(
            c["public_key"] == sc["public_key"] and _place(c) == station and _signed(c, issuer or c)
            for c in listed
        )
        if _place(sc) == station and (
            (issuer is not None and _signed(sc, issuer)) or (_signed(sc, sc) and vouched)
        ):
            return f"Trạm {station} được bộ khóa xác nhận", f"station {station} trusted"
        vi = f"Chứng thư trạm {station} không được bộ khóa tin cậy xác nhận"
        raise _Stop(vi, f"the trust kit does not vouch for the certificate of station {station}")

    def officer_cert(self) -> tuple[str, str]:
        if _place(self.cert) != self.station:
            raise _Stop(
                f"Chứng thư cán bộ thuộc trạm {_place(self.cert)}, không phải {self.station}",
                f"the officer certificate is for station {_place(self.cert)}, not {self.station}",
            )
        verify_certificate(self.cert, self.sc)
        name = self.cert["name"]
        return f"Cán bộ {name} do trạm chứng nhận", f"officer {name} certified by the station"

    def event_signature(self) -> tuple[str, str]:
        verify_record(self.event, cert_public_key(self.cert))
        return "Chữ ký của cán bộ hợp lệ", "the officer's signature is valid"

    def inclusion_proof(self) -> tuple[str, str]:
        proof, cp, seq = self.proof, self.cp, self.event["seq"]
        if proof is None or cp is None:
            vi = f"Bằng chứng tlog-proof sai định dạng ({self.proof_error})"
            raise _Stop(vi, f"malformed tlog-proof: {self.proof_error}")
        if proof.index != seq:
            vi = f"Bằng chứng cho bản ghi {proof.index}, không phải bản ghi {seq}"
            raise _Stop(vi, f"the proof is for entry {proof.index}, not {seq}")
        leaf = leaf_hash(canonical(self.event))  # the leaf is the full signed event
        try:
            verify_inclusion(leaf, seq, cp.size, proof.hashes, cp.root)
        except ProofError as exc:
            vi = "Biên nhận không nằm trong sổ của điểm kiểm tra"
            raise _Stop(vi, f"the event is not in the checkpoint's tree: {exc}") from exc
        return f"Bản ghi {seq} nằm trong sổ cỡ {cp.size}", f"entry {seq} is in the log ({cp.size})"

    def checkpoint_signature(self) -> tuple[str, str]:
        note, cp = self._checkpoint()
        verify_note(note, [ed25519_verifier(cp.origin, cert_public_key(self.sc))])
        return "Điểm kiểm tra do khóa trạm ký", "checkpoint signed by the station key"

    def origin(self) -> tuple[str, str]:
        origin, kid = self._checkpoint()[1].origin, self.sc["key_id"]
        logs = [
            o.origin for o in self.trusted.origins if (o.station, o.key_id) == (self.station, kid)
        ]
        if origin not in logs:
            vi = f"Sổ {origin} không phải sổ của trạm {self.station} trong bộ khóa tin cậy"
            raise _Stop(vi, f"log {origin} is not the trust kit's log of station {self.station}")
        return f"Sổ {origin}", f"log {origin}"

    def revocation(self) -> tuple[str, str]:
        # "key K valid through size S of origin O": an officer key signs entries < S; a station
        # key signs checkpoints of size <= S (so entries < S), of that log only.
        seq, cp = self.event["seq"], self._checkpoint()[1]
        for rev in self.trusted.revocations:
            kid = rev.key_id
            if kid not in (self.sc["key_id"], self.cert["key_id"]):
                continue
            if rev.origin not in (None, cp.origin):
                vi = f"Khóa {kid} đã bị thu hồi (sổ {rev.origin})"
                raise _Stop(vi, f"key {kid} is revoked (log {rev.origin})")
            size = cp.size if kid == self.sc["key_id"] else seq + 1
            if size > rev.through:
                raise _Stop(
                    f"Khóa {kid} đã bị thu hồi, chỉ có hiệu lực với {rev.through} bản ghi đầu "
                    f"của sổ; biên nhận là bản ghi số {seq} (điểm kiểm tra cỡ {size})",
                    f"key {kid} is valid through size {rev.through} only; the receipt is entry "
                    f"{seq}, under a checkpoint of size {size}",
                )
        return "Khóa chưa bị thu hồi ở vị trí này", "no key revoked at this position"

    def hub_cosignature(self) -> tuple[str, str]:
        info, note = self.trusted.hub, self._checkpoint()[0]
        if info is None:
            raise _Stop("Bộ khóa không có máy chủ: không kiểm", "kit names no hub: unchecked", None)
        hub = info.name
        verifier = cosigner_verifier(hub, unb64url(info.cosigner, 32))
        sigs = list(note.signatures)
        if self.lines:  # cosignature lines added when the receipt was upgraded after sync
            sigs += parse_note(note.text + "\n" + "".join(f"{x}\n" for x in self.lines)).signatures
        ours = [s for s in sigs if s.name == hub]
        if not ours:
            raise _Stop("Chưa đồng bộ với máy chủ", "not yet synced (no hub cosignature)", None)
        for sig in ours:
            if sig.key_hash != verifier.key_hash or not verifier.check(note, sig):
                vi = f"Chữ ký xác nhận mang tên máy chủ {hub} không hợp lệ"
                raise _Stop(vi, f"a cosignature in the name of hub {hub} does not verify")
            self.times.append(cosignature_time(sig))
        when = _iso(min(self.times))
        return f"Máy chủ {hub} xác nhận lúc {when}", f"cosigned by {hub} at {when}"


def _signed(cert: Mapping[str, Any], by: Mapping[str, Any]) -> bool:
    try:
        verify_certificate(cert, by)
    except LedgerError:
        return False
    return True


def _kit_station_cert(receipt: Mapping[str, Any], kit: Any) -> Any:
    """For a QR receipt: the kit's certificate of the station key that certified the officer."""
    event, cert = receipt.get("event"), receipt.get("cert")
    stations = kit.get("stations") if isinstance(kit, Mapping) else None
    if not (isinstance(event, dict) and isinstance(cert, dict) and isinstance(stations, list)):
        return None
    for sc in stations:
        if isinstance(sc, dict) and (sc.get("key_id"), _place(sc)) == (
            cert.get("issuer"),
            event.get("station"),
        ):
            return sc
    return None


_NO_STATION_CERT = (
    "Biên nhận (mã QR) không kèm chứng thư trạm và bộ khóa tin cậy không có chứng thư của trạm",
    "the (QR) receipt has no station certificate and the trust kit has none for its station",
)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or '-'}: {first['msg']}"


def verify_receipt(
    receipt: Mapping[str, Any], kit: Mapping[str, Any], *, verify_kit_signature: bool = True
) -> ReceiptVerdict:
    """Verify a receipt offline against a trust kit; never raises on bad input."""
    body = dict(receipt) if isinstance(receipt, Mapping) else receipt
    found = _kit_station_cert(body, kit) if isinstance(body, dict) else None
    if found is not None and "station_cert" not in body:  # a QR receipt: the kit has it
        body["station_cert"] = found
    try:
        Receipt.model_validate(body)
    except ValidationError as exc:
        name, where = "schema", _first_error(exc)
        vi, en = f"Biên nhận sai cấu trúc ({where})", f"malformed receipt ({where})"
        if all(e["loc"] == ("station_cert",) and e["type"] == "missing" for e in exc.errors()):
            name, vi, en = "station-cert", *_NO_STATION_CERT
        return ReceiptVerdict(False, [ReceiptCheck(name, False, vi, en)], name)
    checks = [ReceiptCheck("schema", True, "Biên nhận đúng cấu trúc", "well-formed receipt")]
    event = body["event"]
    data = event["data"]
    verdict = ReceiptVerdict(
        False,
        checks,
        code=event["dossier"],
        station=event["station"],
        office=event["station"].rpartition("/")[0],
        index=event["seq"],
        received_at=data.get("received_at"),
        procedure={"code": data["procedure"]["code"], "name": data["procedure"]["name"]},
    )
    try:
        trusted = _Kit.model_validate(kit)
    except ValidationError as exc:
        where = _first_error(exc)
        vi, en = f"Bộ khóa tin cậy sai cấu trúc ({where})", f"malformed trust kit ({where})"
        checks.append(ReceiptCheck("kit", False, vi, en))
        verdict.reason = "kit"
        return verdict
    run = _Verification(body, kit, trusted, verify_kit_signature)
    for name, lead_vi in CHECKS.items():
        try:
            vi, en = getattr(run, name.replace("-", "_"))()
        except _Stop as stop:
            checks.append(ReceiptCheck(name, stop.ok, stop.vi, stop.en))
        except (LedgerError, CanonicalError, EncodingError) as exc:  # refusals, in English
            msg = exc.message if isinstance(exc, LedgerError) else str(exc)
            checks.append(ReceiptCheck(name, False, f"{lead_vi} ({msg})", f"{name}: {msg}"))
        else:
            checks.append(ReceiptCheck(name, True, vi, en))
    verdict.checkpoint_size = run.cp.size if run.cp else None
    if run.times:
        verdict.cosigned_at = min(run.times)
        verdict.not_after = _iso(verdict.cosigned_at)
    verdict.reason = next((c.name for c in checks if c.ok is False), None)
    verdict.genuine = verdict.reason is None
    return verdict
