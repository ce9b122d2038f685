"""Field types: each accepts the pinned forms and refuses the rest with a clear message."""

from __future__ import annotations

import base64
import unicodedata
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import (
    MAX_SAFE_INT,
    Date,
    Dong,
    DossierCode,
    Email,
    HashB64,
    HourMinute,
    IdKind,
    KeyId,
    Name,
    OfficeCode,
    OfficeHours,
    Phone,
    ProcedureCode,
    PublicKeyB64,
    Reason,
    Rfc3339,
    SignatureB64,
    StationRef,
    Summary,
    check_id_number,
    nfc,
)


def ok(tp: Any, value: Any) -> Any:
    return TypeAdapter(tp).validate_python(value)


def refused(tp: Any, value: Any) -> str:
    """The first error message for `value`."""
    with pytest.raises(ValidationError) as info:
        TypeAdapter(tp).validate_python(value)
    return str(info.value.errors()[0]["msg"])


# Text ----------------------------------------------------------------------------------------

NFD_NAME = unicodedata.normalize("NFD", "Nguyễn Văn Đức")


def test_nfd_input_is_stored_as_nfc() -> None:
    assert NFD_NAME != "Nguyễn Văn Đức"
    assert ok(Name, NFD_NAME) == "Nguyễn Văn Đức"
    assert unicodedata.is_normalized("NFC", ok(Name, f"  {NFD_NAME}  "))
    assert nfc(" a ") == "a"


def test_text_lengths_count_nfc_characters() -> None:
    composed = "ễ" * 200
    assert ok(Name, unicodedata.normalize("NFD", composed)) == composed  # 400 code points as NFD
    assert "Tối đa 200 ký tự" in refused(Name, "x" * 201)
    assert "Tối đa 1000 ký tự" in refused(Summary, "y" * 1001)


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_text_refused(value: str) -> None:
    assert refused(Reason, value) == "Không được để trống"


def test_single_line_and_multiline_text() -> None:
    assert "một dòng" in refused(Name, "An\nBình")
    assert ok(Reason, "dòng 1\r\ndòng 2") == "dòng 1\ndòng 2"
    assert "điều khiển" in refused(Reason, "a\x00b")
    assert refused(Name, 42) == "Input should be a valid string"


# Times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["2026-03-02T08:30:00+07:00", "2026-03-02T01:30:00Z", "2024-02-29T23:59:59.123-05:00"],
)
def test_rfc3339_accepted_as_string(value: str) -> None:
    assert ok(Rfc3339, value) == value


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-02T08:30:00",  # no offset
        "2026-03-02T08:30+07:00",  # no seconds
        "2026-03-02 08:30:00+07:00",  # space
        "2026-03-02t08:30:00z",  # lower case
        "2026-03-02T24:00:00+07:00",
        "2026-03-02T08:30:00+0700",
        "2026-03-02",
    ],
)
def test_rfc3339_shape_refused(value: str) -> None:
    assert "RFC 3339" in refused(Rfc3339, value)


@pytest.mark.parametrize("value", ["2026-02-30T10:00:00+07:00", "2025-02-29T10:00:00Z"])
def test_rfc3339_impossible_date_refused(value: str) -> None:
    assert refused(Rfc3339, value) == f"Ngày giờ không tồn tại: {value}"


def test_dates() -> None:
    assert ok(Date, "2028-02-29") == "2028-02-29"
    assert refused(Date, "2026-02-30") == "Ngày không tồn tại: 2026-02-30"
    assert "YYYY-MM-DD" in refused(Date, "02/03/2026")
    assert "YYYY-MM-DD" in refused(Date, "2026-3-2")


def test_times_of_day() -> None:
    assert ok(HourMinute, "15:00") == "15:00"
    refused(HourMinute, "24:00")
    refused(HourMinute, "7:00")
    assert ok(OfficeHours, "07:00-11:30") == "07:00-11:30"
    assert "trước giờ kết thúc" in refused(OfficeHours, "13:30-11:30")


# Money and integers --------------------------------------------------------------------------


def test_money_is_integer_dong() -> None:
    assert ok(Dong, 0) == 0
    assert ok(Dong, MAX_SAFE_INT) == MAX_SAFE_INT
    assert "greater than or equal to 0" in refused(Dong, -1)
    refused(Dong, MAX_SAFE_INT + 1)
    for bad in (1000.0, 1000.5, "1000", True):
        assert refused(Dong, bad) == "Input should be a valid integer"


def test_literal_ints_are_strict() -> None:
    assert ok(IdKind, 2) == 2
    for bad in (1.0, True, "1"):
        assert refused(IdKind, bad) == "Phải là số nguyên"
    refused(IdKind, 4)


# Keys, signatures, hashes --------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_key_and_signature_encodings() -> None:
    key = b64url(bytes([255] * 32))
    assert len(key) == 43 and ok(PublicKeyB64, key) == key
    assert len(b64url(bytes(64))) == 86 and ok(SignatureB64, b64url(bytes(64)))
    refused(PublicKeyB64, key + "=")  # padding
    refused(PublicKeyB64, b64url(bytes(31)))  # short
    refused(PublicKeyB64, key[:-1] + "9")  # non-zero spare bits: a second spelling
    refused(PublicKeyB64, base64.b64encode(bytes([251] * 32)).decode().rstrip("="))  # "+/"
    refused(SignatureB64, b64url(bytes(64))[:-1] + "B")
    refused(SignatureB64, b64url(bytes(65)))


def test_hash_and_key_id() -> None:
    root = base64.b64encode(bytes([7] * 32)).decode()
    assert len(root) == 44 and ok(HashB64, root) == root
    refused(HashB64, root.rstrip("="))
    refused(HashB64, b64url(bytes([7] * 32)))
    assert ok(KeyId, "0123456789abcdef") == "0123456789abcdef"
    refused(KeyId, "0123456789ABCDEF")
    refused(KeyId, "0123456789abcde")


# Codes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["000.00.17.H56", "H56.14", "H15.50.05.13"])
def test_office_codes_are_opaque(code: str) -> None:
    assert ok(OfficeCode, code) == code


@pytest.mark.parametrize("code", ["H", "H56 14", "H56-14", "x" * 41, "Hà.56"])
def test_bad_office_codes(code: str) -> None:
    refused(OfficeCode, code)


def test_procedure_codes() -> None:
    assert ok(ProcedureCode, "1.010708.000.00.00.H56")
    refused(ProcedureCode, "1 001612")


@pytest.mark.parametrize("code", ["000.17.22.H56-210531-0001", "H15.50.05.13-261008-0975"])
def test_dossier_code(code: str) -> None:
    assert ok(DossierCode, code) == code


@pytest.mark.parametrize(
    "code",
    ["000.17.22.H56-210531", "H56-21053-0001", "H56-210531-001", "H56-210531-00001", "H56_210531"],
)
def test_dossier_code_shape_refused(code: str) -> None:
    assert refused(DossierCode, code).startswith("Mã hồ sơ phải có dạng")


@pytest.mark.parametrize("day", ["260230", "211301", "210500"])
def test_dossier_code_date_refused(day: str) -> None:
    assert refused(DossierCode, f"H56.14-{day}-0001") == f"Ngày trong mã hồ sơ không tồn tại: {day}"


def test_station_ref() -> None:
    assert ok(StationRef, "000.00.17.H56/99") == "000.00.17.H56/99"
    for bad in ("H56.14/0", "H56.14/100", "H56.14/01", "H56.14", "/1"):
        refused(StationRef, bad)


# People --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "number", "message"),
    [
        (1, "07930100012", "Số CCCD phải gồm 12 chữ số"),
        (1, "0793010001234", "Số CCCD phải gồm 12 chữ số"),
        (1, "07930100012a", "Số CCCD phải gồm 12 chữ số"),
        (2, "07930100012", "Số CMND phải gồm 9 chữ số"),
        (3, "C12", "Số hộ chiếu phải gồm 6 đến 20 chữ cái hoặc chữ số"),
        (3, "C1234-567", "Số hộ chiếu phải gồm 6 đến 20 chữ cái hoặc chữ số"),
    ],
)
def test_id_number_by_kind(kind: int, number: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_id_number(kind, number)


def test_id_number_accepted() -> None:
    assert check_id_number(1, "079301000123") == "079301000123"
    assert check_id_number(2, "123456789") == "123456789"
    assert check_id_number(3, "c1234567") == "C1234567"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("0912345678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("+84912345678", "0912345678"),
        ("+84 91 234 5678", "0912345678"),
        ("0258.3822.123", "02583822123"),  # landline: 11 digits
        ("+84 258 3822 123", "02583822123"),
    ],
)
def test_phone_normalised_to_zero_form(raw: str, stored: str) -> None:
    assert ok(Phone, raw) == stored


@pytest.mark.parametrize(
    "raw", ["912345678", "09123456789", "+840912345678", "84912345678", "+8491234567", "abc"]
)
def test_bad_phone(raw: str) -> None:
    assert refused(Phone, raw).startswith("Số điện thoại phải gồm 10 chữ số")


def test_email() -> None:
    assert ok(Email, " an.nguyen@khanhhoa.gov.vn ") == "an.nguyen@khanhhoa.gov.vn"
    for bad in ("an@", "@x.vn", "an@x", "an nguyen@x.vn", "an@x..vn", "ân@x.vn"):
        assert refused(Email, bad) == "Địa chỉ email không hợp lệ"
