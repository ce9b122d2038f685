"""Records other than events: valid examples round-trip, bad ones are refused."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from schemas import (
    PORTAL_CHANNEL,
    PORTAL_RETURN_VIA,
    PORTAL_STATUS,
    PROCEDURE_LIST_ADAPTER,
    STATUS_LABEL_VI,
    Applicant,
    Batch,
    Catalog,
    Certificate,
    Checkpoint,
    Cosignature,
    Dossier,
    DossierDocument,
    DossierStatus,
    DueInputs,
    Fee,
    Finding,
    Office,
    Officer,
    Procedure,
    Receipt,
    Representative,
    Station,
    to_record,
)

Record = dict[str, Any]
ROOT = base64.b64encode(bytes(range(32))).decode()
NOTE_SIG = base64.b64encode(bytes(range(64))).decode()
CHECKPOINT_NOTE = f"hub.example/office/H56.14/1/e0\n4\n{ROOT}\n\n\u2014 hub.example AAAA\n"


def round_trip(model: type[BaseModel], record: Record) -> BaseModel:
    parsed = model.model_validate(record)
    again = model.model_validate(to_record(parsed))
    assert again == parsed
    assert to_record(again) == to_record(parsed)
    return parsed


def errors(model: type[BaseModel], record: Record) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(record)
    return [str(e["msg"]) for e in info.value.errors()]


# Offices and certificates --------------------------------------------------------------------


def test_office_station_officer_round_trip() -> None:
    office = round_trip(
        Office,
        {"code": "H56.14", "name": "Xã Diên Khánh", "parent": "H56", "province_prefix": "H56"},
    )
    assert to_record(round_trip(Office, {"code": "H56.14", "name": "Xã"})) == {
        "code": "H56.14",
        "name": "Xã",
    }
    assert isinstance(office, Office)
    round_trip(
        Station,
        {
            "office": "H56.14",
            "number": 2,
            "name": "Điểm tiếp nhận Diên Lạc",
            "origin": "hub.example/office/H56.14/2/e0",
            "epoch": 0,
        },
    )
    round_trip(
        Officer,
        {"key_id": "0123456789abcdef", "name": "Lê Văn Cường", "office": "H56.14", "station": 1},
    )
    errors(Office, {"code": "H56.14", "name": "Xã", "province_prefix": "h56"})


def test_certificate_round_trip_keeps_office_and_station(make_cert: Callable[..., Record]) -> None:
    for role in ("officer", "station", "issuer"):
        record = make_cert(role)
        assert to_record(round_trip(Certificate, record)) == record
    issuer = to_record(Certificate.model_validate(make_cert("issuer")))
    assert issuer["office"] is None and issuer["station"] is None  # written as null, not omitted


def test_certificate_place_must_fit_role(make_cert: Callable[..., Record]) -> None:
    assert "không gắn với đơn vị" in errors(Certificate, {**make_cert("issuer"), "station": 1})[0]
    assert "phải ghi mã đơn vị" in errors(Certificate, {**make_cert("officer"), "office": None})[0]
    errors(Certificate, {**make_cert(), "role": "admin"})
    errors(Certificate, {**make_cert(), "type": "commune.event/v1"})
    office_missing = make_cert()
    del office_missing["office"]
    assert errors(Certificate, office_missing) == ["Field required"]


def test_unknown_field_refused(make_cert: Callable[..., Record]) -> None:
    assert errors(Certificate, {**make_cert(), "admin": True}) == ["Extra inputs are not permitted"]
    assert errors(Fee, {"name": "Lệ phí", "amount": 1, "vat": 0}) == [
        "Extra inputs are not permitted"
    ]


def test_records_are_frozen(make_cert: Callable[..., Record]) -> None:
    cert = Certificate.model_validate(make_cert())
    with pytest.raises(ValidationError):
        cert.__setattr__("name", "Khác")


# Catalogue -----------------------------------------------------------------------------------

PROCEDURE: Record = {
    "code": "1.001612",
    "name": "Đăng ký khai sinh",
    "field": "Hộ tịch",
    "time_limit": 0,
    "time_unit": "working_days",
    "fee": 0,
    "documents": [{"name": "Tờ khai", "originals": 1, "copies": 0}],
    "on_the_spot": True,
}


def test_procedure_import_ignores_unknown_keys() -> None:
    parsed = Procedure.model_validate({**PROCEDURE, "cutoff": "15:00", "legacy_id": 7})
    assert parsed.cutoff == "15:00"
    assert "legacy_id" not in to_record(parsed)
    round_trip(Procedure, PROCEDURE)
    procedures = PROCEDURE_LIST_ADAPTER.validate_python([PROCEDURE, {**PROCEDURE, "code": "2.1"}])
    assert [p.code for p in procedures] == ["1.001612", "2.1"]
    assert parsed.ref().time_limit == 0


@pytest.mark.parametrize(
    "change",
    [
        {"time_unit": "days"},
        {"fee": -1},
        {"fee": 12.5},
        {"time_limit": "3"},
        {"on_the_spot": "yes"},
        {"cutoff": "25:00"},
        {"documents": [{"name": "Tờ khai", "originals": -1, "copies": 0}]},
        {"code": "1 001612"},
    ],
)
def test_bad_procedure(change: Record) -> None:
    errors(Procedure, {**PROCEDURE, **change})


def test_catalog_codes_unique() -> None:
    round_trip(Catalog, {"version": "2026.1", "procedures": [PROCEDURE]})
    assert errors(Catalog, {"version": "2026.1", "procedures": [PROCEDURE, PROCEDURE]}) == [
        "Mã thủ tục bị trùng trong danh mục: 1.001612"
    ]


# People and papers ---------------------------------------------------------------------------


def test_applicant_round_trip(applicant: Record) -> None:
    full = {
        **applicant,
        "phone": "+84 912 345 678",
        "email": "binh@example.vn",
        "address": "Thôn Phú Ân Nam, xã Diên Khánh",
        "birth_date": "1990-05-01",
    }
    parsed = round_trip(Applicant, full)
    assert isinstance(parsed, Applicant) and parsed.phone == "0912345678"
    assert round_trip(Applicant, {"name": "An", "id_number": "079301000123"}) == Applicant(
        name="An", kind=1, id_kind=1, id_number="079301000123"
    )


def test_applicant_name_is_nfc(applicant: Record) -> None:
    nfd = unicodedata.normalize("NFD", "Trần Thị Bình")
    parsed = Applicant.model_validate({**applicant, "name": nfd})
    assert parsed.name == "Trần Thị Bình" and to_record(parsed)["name"] == "Trần Thị Bình"


@pytest.mark.parametrize(
    ("id_kind", "id_number", "message"),
    [
        (1, "123456789", "Số CCCD phải gồm 12 chữ số"),
        (2, "079301000123", "Số CMND phải gồm 9 chữ số"),
        (3, "AB", "Số hộ chiếu phải gồm 6 đến 20 chữ cái hoặc chữ số"),
    ],
)
def test_applicant_id_number_checked_by_kind(
    applicant: Record, id_kind: int, id_number: str, message: str
) -> None:
    record = {**applicant, "id_kind": id_kind, "id_number": id_number}
    assert errors(Applicant, record) == [message]
    assert errors(Representative, {"name": "An", "id_kind": id_kind, "id_number": id_number}) == [
        message
    ]


def test_applicant_bad_fields(applicant: Record) -> None:
    assert errors(Applicant, {**applicant, "phone": "12345"})[0].startswith("Số điện thoại")
    assert errors(Applicant, {**applicant, "birth_date": "1990-02-30"}) == [
        "Ngày không tồn tại: 1990-02-30"
    ]
    assert errors(Applicant, {**applicant, "kind": 5}) == ["Input should be 1, 2, 3 or 4"]
    # an invalid id_kind is reported once, not again through the id_number rule
    assert errors(Applicant, {**applicant, "id_kind": 9}) == ["Input should be 1, 2 or 3"]


def test_passport_number_upper_cased() -> None:
    rep = Representative.model_validate(
        {"name": "John Smith", "id_kind": 3, "id_number": "c123456"}
    )
    assert rep.id_number == "C123456"


def test_documents_and_fees() -> None:
    round_trip(DossierDocument, {"name": "Giấy chứng sinh", "originals": 1, "copies": 2})
    round_trip(DossierDocument, {"name": "Bản quét", "blob": "ab" * 32})
    errors(DossierDocument, {"name": "Bản quét", "blob": "AB" * 32})
    round_trip(Fee, {"name": "Lệ phí", "code": "LP01", "amount": 8000})
    assert errors(Fee, {"name": "Lệ phí", "amount": -5})[0].startswith("Input should be greater")
    assert errors(Fee, {"name": "Lệ phí", "amount": 8000.0}) == ["Input should be a valid integer"]


def test_due_inputs(due_inputs: Record) -> None:
    round_trip(DueInputs, due_inputs)
    errors(DueInputs, {**due_inputs, "office_hours": []})
    assert errors(DueInputs, {**due_inputs, "office_hours": ["13:30-17:00", "07:00-11:30"]}) == [
        "Các khung giờ làm việc phải theo thứ tự, không chồng lấn"
    ]


# Dossier state -------------------------------------------------------------------------------


def test_portal_status_mapping_is_complete() -> None:
    assert set(PORTAL_STATUS) == set(DossierStatus) == set(STATUS_LABEL_VI)
    assert set(PORTAL_STATUS.values()) == set(range(1, 11))
    assert PORTAL_STATUS[DossierStatus.RETURNED] == 10
    assert PORTAL_STATUS[DossierStatus.SUPPLEMENT_REQUESTED] == 5
    assert PORTAL_CHANNEL == {"direct": 1, "online": 2, "postal": 3}
    assert PORTAL_RETURN_VIA == {"desk": 0, "post": 1}


def test_dossier_round_trip(receive: Record) -> None:
    record = {
        "code": "H56.14-260302-0001",
        "station": "H56.14/1",
        "seq": 5,
        "procedure": receive["procedure"],
        "applicant": receive["applicant"],
        "channel": "direct",
        "status": "supplement_requested",
        "received_at": receive["received_at"],
        "due_at": receive["due_at"],
        "due_inputs": receive["due_inputs"],
        "supplement_rounds": 1,
        "paused_seconds": 3600,
        "version": 2,
    }
    dossier = round_trip(Dossier, record)
    assert isinstance(dossier, Dossier) and dossier.status is DossierStatus.SUPPLEMENT_REQUESTED
    assert to_record(dossier)["status"] == "supplement_requested"
    assert "due_at" not in to_record(dossier.model_copy(update={"due_at": None}))
    errors(Dossier, {**record, "status": "lost"})
    errors(Dossier, {**record, "version": 0})


# Checkpoints, receipts, batches, findings ----------------------------------------------------


def test_checkpoint_and_cosignature() -> None:
    round_trip(Checkpoint, {"origin": "hub.example/office/H56.14/1/e0", "size": 4, "root": ROOT})
    round_trip(
        Checkpoint,
        {"origin": "o", "size": 0, "root": ROOT, "extensions": ["ext 1"]},
    )
    errors(Checkpoint, {"origin": "has space", "size": 1, "root": ROOT})
    errors(Checkpoint, {"origin": "o", "size": -1, "root": ROOT})
    errors(Checkpoint, {"origin": "o", "size": 1, "root": ROOT, "extensions": ["a\nb"]})
    round_trip(
        Cosignature,
        {
            "name": "hub.example",
            "key_hash_hex": "0a1b2c3d",
            "time": 1772415000,
            "signature": NOTE_SIG,
        },
    )
    errors(Cosignature, {"name": "hub.example", "time": 1.5, "signature": NOTE_SIG})


def receipt(make_event: Callable[..., Record], make_cert: Callable[..., Record]) -> Record:
    return {
        "type": "commune.receipt/v1",
        "event": make_event("receive"),
        "cert": make_cert("officer"),
        "station_cert": make_cert("station", "1122334455667788"),
        "proof": f"c2sp.org/tlog-proof@v1\nindex 3\n{ROOT}\n\n{CHECKPOINT_NOTE}",
    }


def test_receipt_round_trip(
    make_event: Callable[..., Record], make_cert: Callable[..., Record]
) -> None:
    record = receipt(make_event, make_cert)
    assert to_record(round_trip(Receipt, record)) == record
    with_cosig = {**record, "cosignatures": ["\u2014 hub.example AAAAAAAA"]}
    round_trip(Receipt, with_cosig)
    errors(Receipt, {**record, "cosignatures": ["hub.example AAAA"]})


def test_receipt_needs_a_receive_event_and_matching_certs(
    make_event: Callable[..., Record], make_cert: Callable[..., Record]
) -> None:
    record = receipt(make_event, make_cert)
    errors(Receipt, {**record, "event": make_event("refuse")})
    assert errors(Receipt, {**record, "cert": make_cert("officer", "ffffffffffffffff")}) == [
        "Chứng thư cán bộ không khớp với người ký biên nhận"
    ]
    other_station = {**make_cert("station", "1122334455667788"), "station": 2}
    assert errors(Receipt, {**record, "station_cert": other_station}) == [
        "Chứng thư trạm không khớp với trạm đã ghi biên nhận"
    ]


def test_batch(make_event: Callable[..., Record]) -> None:
    entries = [make_event("refuse", seq=3), make_event("rate", seq=4)]
    record = {
        "type": "commune.batch/v1",
        "station": "H56.14/1",
        "origin": "hub.example/office/H56.14/1/e0",
        "from": 3,
        "to": 5,
        "entries": entries,
        "checkpoint": CHECKPOINT_NOTE,
    }
    batch = round_trip(Batch, record)
    assert isinstance(batch, Batch) and batch.from_ == 3
    assert to_record(batch) == record  # "from", and entries untouched
    assert (
        Batch(station="H56.14/1", origin="o", from_=0, to=0, entries=[], checkpoint="x\n").from_
        == 0
    )
    assert errors(Batch, {**record, "to": 6}) == ["Lô [3, 6) phải có 3 bản ghi, nhận được 2"]
    errors(Batch, {**record, "to": 2})


def test_finding() -> None:
    record = {
        "severity": "error",
        "code": "bad-signature",
        "index": 7,
        "message_en": "Entry 7 has a bad signature",
        "message_vi": "Bản ghi 7 có chữ ký không hợp lệ",
        "detail": {"key_id": "0123456789abcdef"},
    }
    round_trip(Finding, record)
    parsed = Finding.model_validate({**record, "index": None, "detail": {}})
    assert "index" not in to_record(parsed)
    errors(Finding, {**record, "code": "Bad Signature"})
    errors(Finding, {**record, "severity": "fatal"})
