"""Shared field types of the data contract, and `to_record`.

Every type here validates on input and keeps a JSON-native Python value (str, int, bool), so a
record's canonical bytes never depend on how a datetime or a float happens to serialise:

- text is NFC-normalised and stripped (`Text`); the length-bounded kinds (`Name`, `Label`,
  `Summary`, `Reason`) say in Vietnamese what is wrong, because officers read these messages;
- times stay RFC 3339 strings with seconds and an explicit offset (`Rfc3339`), dates `YYYY-MM-DD`
  (`Date`); impossible calendar dates are refused;
- money is integer dong (`Dong`), and every integer is strict: `1.0`, `"1"` and `true` are not
  integers in a record;
- keys, signatures and hashes are checked by pattern and length, including the unused low bits of
  the last base64 character, so each value has exactly one spelling. (`ledger.encoding` decodes
  them; schemas may not import ledger, so the checks are repeated here as regexes.)

Identifier formats (office, dossier and procedure codes) are opaque strings checked for shape
only; the hierarchy of an agency code is never parsed from the string (DOMAIN "Agency codes").
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = [
    "MAX_SAFE_INT",
    "Address",
    "ApplicantKind",
    "Count",
    "Date",
    "Dong",
    "DossierCode",
    "Email",
    "HashB64",
    "HourMinute",
    "IdKind",
    "KeyId",
    "Label",
    "Name",
    "NoteSignatureB64",
    "OfficeCode",
    "OfficeHours",
    "Origin",
    "Phone",
    "PositiveDong",
    "ProcedureCode",
    "PublicKeyB64",
    "Rating",
    "RawText",
    "Reason",
    "Record",
    "Rfc3339",
    "Sha256Hex",
    "SignatureB64",
    "SignedRecord",
    "StationNumber",
    "StationRef",
    "Summary",
    "Text",
    "TextRule",
    "TimeUnit",
    "Version",
    "check_id_number",
    "nfc",
    "normalise_phone",
    "to_record",
]

MAX_SAFE_INT = 2**53 - 1  # the largest integer every JSON reader keeps exactly (RFC 8785 / I-JSON)


def _error(code: str, message: str, **context: Any) -> PydanticCustomError:
    # Messages are templates: `{name}` is filled from context, so literal braces must not appear.
    return PydanticCustomError(code, message, context or None)


# --------------------------------------------------------------------------------------------
# Text


def nfc(value: str) -> str:
    """NFC-normalise and strip surrounding whitespace (DOMAIN "Text": store text in NFC)."""
    return unicodedata.normalize("NFC", value).strip()


Text = Annotated[StrictStr, AfterValidator(nfc)]
"""Any text: NFC, stripped, no length rule (use the bounded kinds below for record fields)."""

_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps \t and \n
_CONTROL_SINGLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class TextRule:
    """Annotated marker: NFC + strip, then length bounds and line rules with Vietnamese messages.

    Lengths count characters after NFC (what the officer sees), not bytes.
    """

    min_length: int = 1
    max_length: int = 200
    multiline: bool = False

    def check(self, value: str) -> str:
        text = nfc(value)
        if self.multiline:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if len(text) < self.min_length:
            raise _error("text_empty", "Không được để trống")
        if len(text) > self.max_length:
            raise _error(
                "text_too_long",
                "Tối đa {max_length} ký tự (hiện có {length})",
                max_length=self.max_length,
                length=len(text),
            )
        control = _CONTROL_MULTILINE if self.multiline else _CONTROL_SINGLE
        if control.search(text) is not None:
            message = "Có ký tự điều khiển không hợp lệ"
            if not self.multiline:
                message = "Chỉ được viết trên một dòng, không có ký tự điều khiển"
            raise _error("text_control", message)
        return text

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["minLength"] = self.min_length
        out["maxLength"] = self.max_length
        return out


Name = Annotated[StrictStr, TextRule(1, 200)]
"""A person's, office's or station's name: one line, 1..200 characters."""

Label = Annotated[StrictStr, TextRule(1, 500)]
"""A procedure, document, fee or field name, a job title: one line, 1..500 characters."""

Address = Annotated[StrictStr, TextRule(1, 500)]

Summary = Annotated[StrictStr, TextRule(1, 1000, multiline=True)]
"""Request summary (the portal's TrichYeuHoSo is at most 1000 characters)."""

Reason = Annotated[StrictStr, TextRule(1, 2000, multiline=True)]
"""A reason, note or result text: required non-empty wherever the field is present."""

RawText = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64 * 1024)]
"""Signed-note text (checkpoints, proofs): kept byte for byte, never normalised or stripped."""


# --------------------------------------------------------------------------------------------
# Times


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_rfc3339(value: str) -> str:
    if _RFC3339.fullmatch(value) is None:
        raise _error(
            "rfc3339",
            "Thời gian phải theo RFC 3339, có giây và múi giờ, ví dụ 2026-03-02T08:30:00+07:00",
        )
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _error("rfc3339_date", "Ngày giờ không tồn tại: {value}", value=value) from None
    if parsed.tzinfo is None:  # unreachable with the pattern above; kept as the stated rule
        raise _error("rfc3339", "Thời gian phải có múi giờ (Z hoặc +07:00)")
    return value


def _check_date(value: str) -> str:
    if _DATE.fullmatch(value) is None:
        raise _error("date", "Ngày phải có dạng YYYY-MM-DD, ví dụ 2026-03-02")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise _error("date_invalid", "Ngày không tồn tại: {value}", value=value) from None
    return value


Rfc3339 = Annotated[
    StrictStr,
    AfterValidator(_check_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": f"^{_RFC3339.pattern}$"}),
]
"""An instant as written: RFC 3339, uppercase T, seconds, `Z` or `+HH:MM`; kept as the string."""

Date = Annotated[
    StrictStr,
    AfterValidator(_check_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}),
]

_HHMM = r"(?:[01]\d|2[0-3]):[0-5]\d"


def _check_hours(value: str) -> str:
    start, _, end = value.partition("-")
    if not start < end:  # same-width HH:MM strings compare like times
        raise _error("office_hours", "Giờ bắt đầu phải trước giờ kết thúc: {value}", value=value)
    return value


HourMinute = Annotated[StrictStr, StringConstraints(pattern=f"^{_HHMM}$")]
"""A time of day `HH:MM` (24 h), e.g. a cut-off hour `17:00`."""

OfficeHours = Annotated[
    StrictStr,
    StringConstraints(pattern=f"^{_HHMM}-{_HHMM}$"),
    AfterValidator(_check_hours),
]
"""One block of office hours `HH:MM-HH:MM`, e.g. `07:00-11:30`."""

TimeUnit = Literal["working_days", "calendar_days", "working_hours"]


# --------------------------------------------------------------------------------------------
# Numbers


Count = Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INT)]
"""A non-negative integer (sizes, indexes, counters)."""

Dong = Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INT)]
"""Money: integer dong, never a float."""

PositiveDong = Annotated[StrictInt, Field(ge=1, le=MAX_SAFE_INT)]

StationNumber = Annotated[StrictInt, Field(ge=1, le=99)]


def _exact_int(value: Any) -> Any:
    # Literal[1, 2, 3] alone accepts 1.0 and True (they compare equal); records take real ints.
    if isinstance(value, bool | float | str):
        raise _error("int_type", "Phải là số nguyên")
    return value


ApplicantKind = Annotated[Literal[1, 2, 3, 4], BeforeValidator(_exact_int)]
"""Applicant kind (LoaiDoiTuong): 1 citizen, 2 business, 3 state agency, 4 other."""

Rating = Annotated[Literal[1, 2, 3], BeforeValidator(_exact_int)]
"""Satisfaction: 1 very satisfied, 2 satisfied, 3 not satisfied."""

IdKind = Annotated[Literal[1, 2, 3], BeforeValidator(_exact_int)]
"""Identity document kind: 1 = CCCD (12 digits), 2 = CMND (9 digits), 3 = passport.

Kinds 1 and 2 are the portal's (DOMAIN "ID kind"); 3 (passport, 6-20 letters or digits) is our
addition for foreign and overseas applicants, mapped by the portal adapter as it sees fit.
"""


# --------------------------------------------------------------------------------------------
# Keys, signatures, hashes (DESIGN section 3)

# The last character of a base64 text carries bits past the end of the data; they must be zero
# so one value has one spelling. 32 bytes -> 43 chars (2 spare bits), 64 bytes -> 86 (4 bits).
_B64URL_32 = r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"
_B64URL_64 = r"^[A-Za-z0-9_-]{85}[AQgw]$"
_B64_32 = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
_B64_64 = r"^[A-Za-z0-9+/]{85}[AQgw]==$"

PublicKeyB64 = Annotated[StrictStr, StringConstraints(pattern=_B64URL_32)]
"""Raw 32-byte Ed25519 public key, base64url without padding (43 characters)."""

SignatureB64 = Annotated[StrictStr, StringConstraints(pattern=_B64URL_64)]
"""64-byte Ed25519 signature, base64url without padding (86 characters)."""

KeyId = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
"""First 16 lowercase hex characters of SHA-256 of the raw public key."""

HashB64 = Annotated[StrictStr, StringConstraints(pattern=_B64_32)]
"""32-byte SHA-256 hash (Merkle roots), standard base64 with padding (44 characters)."""

NoteSignatureB64 = Annotated[StrictStr, StringConstraints(pattern=_B64_64)]
"""64-byte Ed25519 signature in standard base64 with padding (88 characters), as in notes."""

Sha256Hex = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""SHA-256 of a blob (a scan), lowercase hex: the content address of attachments."""


# --------------------------------------------------------------------------------------------
# Codes

_OFFICE = r"[A-Za-z0-9.]{2,40}"

OfficeCode = Annotated[StrictStr, StringConstraints(pattern=f"^{_OFFICE}$")]
"""Agency / office code (mã định danh), e.g. `000.00.17.H56` or `H56.14`: opaque."""

ProcedureCode = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9A-Za-z.]{1,40}$")]
"""Procedure code (mã TTHC), e.g. `1.001612` or `1.010708.000.00.00.H56`."""

StationRef = Annotated[StrictStr, StringConstraints(pattern=f"^{_OFFICE}/[1-9][0-9]?$")]
"""`<office code>/<station number>`, station 1..99 without leading zero, e.g. `H56.14/1`."""

Origin = Annotated[StrictStr, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$")]
"""A log origin (checkpoint first line): printable ASCII without spaces, e.g.
`hub.example/office/H56.14/1/e0`."""

Version = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,40}$")]
"""A version tag of pushed data (calendar, catalogue), e.g. `2026.2` or `vn-2026-r3`."""

_OFFICE_RE = re.compile(_OFFICE)


def _check_dossier_code(value: str) -> str:
    parts = value.rsplit("-", 2)
    shape = "Mã hồ sơ phải có dạng <mã đơn vị>-<yyMMdd>-<4 chữ số>, ví dụ 000.17.22.H56-210531-0001"
    if len(parts) != 3:
        raise _error("dossier_code", shape)
    agency, day, number = parts
    if (
        _OFFICE_RE.fullmatch(agency) is None
        or re.fullmatch(r"\d{6}", day) is None
        or re.fullmatch(r"\d{4}", number) is None
    ):
        raise _error("dossier_code", shape)
    try:
        dt.date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError:
        raise _error(
            "dossier_code_date", "Ngày trong mã hồ sơ không tồn tại: {day}", day=day
        ) from None
    return value


DossierCode = Annotated[
    StrictStr,
    AfterValidator(_check_dossier_code),
    WithJsonSchema({"type": "string", "pattern": rf"^{_OFFICE}-\d{{6}}-\d{{4}}$"}),
]
"""Dossier code `{agency}-{yyMMdd}-{NNNN}` (DOMAIN "Dossier code"), split on the last two hyphens;
the date part must be a real date."""


# --------------------------------------------------------------------------------------------
# People


_ID_RULES: dict[int, tuple[re.Pattern[str], str]] = {
    1: (re.compile(r"\d{12}"), "Số CCCD phải gồm 12 chữ số"),
    2: (re.compile(r"\d{9}"), "Số CMND phải gồm 9 chữ số"),
    3: (re.compile(r"[A-Z0-9]{6,20}"), "Số hộ chiếu phải gồm 6 đến 20 chữ cái hoặc chữ số"),
}


def check_id_number(kind: int, number: str) -> str:
    """Validate an identity number for its kind; passports are upper-cased. Raises ValueError.

    kind 1 = CCCD (12 digits), 2 = CMND (9 digits), 3 = passport (6-20 letters or digits).
    """
    rule = _ID_RULES.get(kind)
    if rule is None:
        raise _error("id_kind", "Loại giấy tờ không hợp lệ: {kind}", kind=kind)
    pattern, message = rule
    value = number.strip().upper() if kind == 3 else number.strip()
    if pattern.fullmatch(value) is None:
        raise _error("id_number", message)
    return value


_PHONE_SEPARATORS = re.compile(r"[\s.()-]")


def normalise_phone(value: str) -> str:
    """A Vietnamese phone number in its 0-form: `0912345678` from `+84 912 345 678` too.

    Mobiles are 10 digits (0 + 9); landlines are 11 (02 + area + number), so those are accepted
    as well. Spaces, dots, hyphens and brackets between digits are dropped.
    """
    digits = _PHONE_SEPARATORS.sub("", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
        if digits.startswith("00"):  # "+840..." is not a number
            digits = ""
    if re.fullmatch(r"0\d{9}|02\d{9}", digits) is not None:
        return digits
    raise _error(
        "phone",
        "Số điện thoại phải gồm 10 chữ số bắt đầu bằng 0, hoặc +84 và 9 chữ số",
    )


Phone = Annotated[
    StrictStr,
    AfterValidator(normalise_phone),
    WithJsonSchema({"type": "string", "pattern": r"^(?:0\d{9}|02\d{9})$"}),
]
"""Vietnamese phone number stored in its 0-form: 10 digits (11 for a landline `02...`)."""

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def _check_email(value: str) -> str:
    text = value.strip()
    if len(text) > 254 or _EMAIL.fullmatch(text) is None:
        raise _error("email", "Địa chỉ email không hợp lệ")
    return text


Email = Annotated[
    StrictStr,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]


# --------------------------------------------------------------------------------------------
# Records


class Record(BaseModel):
    """Base of every record: unknown fields are an error (v1), instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class SignedRecord(Record):
    """A record whose canonical bytes are signed: some optional fields are always written.

    `to_record` omits absent optional fields, but the fields named in `keep_null` are part of the
    record's fixed shape (e.g. an event's `beacon`, a certificate's `office`), so they are written
    as `null` rather than left out: the signed bytes do not depend on how the writer was called.
    """

    keep_null: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.keep_null:
            data.setdefault(name, None)
        return data


def to_record(model: BaseModel) -> dict[str, Any]:
    """The JSON object of a record: JSON types only, aliases, absent optional fields omitted."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data
