"""The simulator's validation of calls, field by field as docs/portal.md's tables say.

Every failure raises `PortalError(code, message)`; the caller turns it into the answer and
writes nothing (calls are all-or-nothing). Order of checks inside an object: unknown keys (1),
then missing or empty required keys (2), then each field's value in table order (3, 7, nested).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
RECEPTION: Final = "Tiếp nhận hồ sơ"
MAX_DOSSIERS: Final = 50
MAX_ROWS: Final = 10

_DATE14 = re.compile(r"[0-9]{14}")
_DATE8 = re.compile(r"[0-9]{8}")
_CODE_TAIL = re.compile(r"([0-9]{6})-[0-9]{4,}")


class PortalError(Exception):
    """A refusal with the portal's `error_code` and a Vietnamese message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def answer(self) -> dict[str, Any]:
        return {"error_code": str(self.code), "message": self.message}


def unknown_field(name: str) -> PortalError:
    return PortalError(1, f"Trường không hợp lệ: {name}")


def missing(name: str) -> PortalError:
    return PortalError(2, f"Thiếu trường bắt buộc: {name}")


def bad_date(name: str) -> PortalError:
    return PortalError(3, f"Ngày không hợp lệ: {name}")


def bad_value(name: str, why: str = "") -> PortalError:
    return PortalError(7, f"Giá trị không hợp lệ: {name}" + (f" ({why})" if why else ""))


Kind = Literal["str", "int", "date", "url", "list"]


@dataclass(frozen=True)
class Field:
    kind: Kind
    required: bool = False
    nonempty: bool = False  # "" (or []) is refused as missing (error 2)
    lo: int = INT64_MIN
    hi: int = INT64_MAX
    maxlen: int | None = None
    item: Mapping[str, Field] | None = None


def _s(required: bool = False, nonempty: bool = False, maxlen: int | None = None) -> Field:
    return Field("str", required, nonempty, maxlen=maxlen)


def _i(lo: int, hi: int = INT64_MAX) -> Field:
    return Field("int", True, lo=lo, hi=hi)


def _d(nonempty: bool = False) -> Field:
    return Field("date", True, nonempty)


def _items(**fields: Field) -> Field:
    return Field("list", True, item=fields)


# Inside list items every key is required but strings and dates may be "" (decision, see the
# page's "Simulator decisions").
_ITEM_STR = _s(required=True)

DOSSIER: Final[Mapping[str, Field]] = {
    "MaHoSo": _s(True, True),
    "MaTTHC": _s(True, True),
    "TenTTHC": _s(True, True),
    "MaLinhVuc": _s(),
    "TenLinhVuc": _s(),
    "KenhThucHien": _i(1, 3),
    "ChuHoSo": _s(True, True, 200),
    "LoaiDoiTuong": _i(1, 4),
    "SoGiayToChuHoSo": _s(True, True),
    "SoDienThoai": _s(),
    "Email": _s(),
    "DiaChi": _s(),
    "TrichYeuHoSo": _s(maxlen=1000),
    "NgayNopHoSo": _d(),
    "NgayTiepNhan": _d(nonempty=True),
    "NgayHenTra": _d(),
    "NgayTra": _d(),
    "NgayKetThucXuLy": _d(),
    "NgayTuChoi": _d(),
    "TrangThaiHoSo": _i(1, 10),
    "HinhThuc": _i(0, 1),
    "DonViXuLy": _s(True, True),
    "GhiChu": _s(maxlen=2000),
    "HoSoCoThanhPhanSoHoa": _i(0, 1),
    "DinhDanhCHS": _items(LoaiDinhDanh=_i(1, 2), SoDinhDanh=_ITEM_STR),
    "TaiLieuNop": _items(
        TepDinhKemId=_ITEM_STR,
        TenTepDinhKem=_ITEM_STR,
        MaThanhPhanHoSo=_ITEM_STR,
        DuongDanTaiTepTin=Field("url", True),
        DuocSoHoa=_i(0, 1),
    ),
    "DanhSachLePhi": _items(
        TenPhiLePhi=_ITEM_STR, MaPhiLePhi=_ITEM_STR, HinhThucThu=_i(1, 2), Gia=_i(0)
    ),
    "DanhSachHoSoBoSung": _items(
        HoSoBoSungId=_ITEM_STR,
        NoiDungBoSung=_ITEM_STR,
        NgayYeuCauBoSung=_d(),
        NgayTiepNhanBoSung=_d(),
        NgayHenTraMoi=_d(),
    ),
    "DanhSachGiayToKetQua": _items(
        GiayToId=_ITEM_STR, TenGiayTo=_ITEM_STR, DuongDanTepTinKetQua=_ITEM_STR
    ),
}

ROW: Final[Mapping[str, Field]] = {
    "MaHoSo": _s(True, True),
    "NguoiXuLy": _s(True, maxlen=50),
    "ChucDanh": _s(True),
    "ThoiDiemXuLy": _d(nonempty=True),
    "PhongBanXuLy": _s(True),
    "NoiDungXuLy": _s(True, True),
    "TrangThai": _i(1, 10),
    "NgayBatDau": _d(),
    "NgayKetThucTheoQuyDinh": _d(),
}


def is_moment(text: str) -> bool:
    """`yyyyMMddHHmmss` naming a real moment (Feb 30 or 24:00 are not)."""
    if not _DATE14.fullmatch(text):
        return False
    try:
        datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
        )
    except ValueError:
        return False
    return True


def parse_day(text: object, name: str) -> str:
    """A `yyyyMMdd` request parameter (DoiSoatHoSo)."""
    if text is None or text == "":
        raise missing(name)
    if not isinstance(text, str):
        raise bad_value(name)
    if not _DATE8.fullmatch(text):
        raise bad_date(name)
    try:
        date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise bad_date(name) from None
    return text


def check_text(value: object, name: str) -> str:
    """A JSON string that can be stored as UTF-8 (no lone surrogates)."""
    if not isinstance(value, str):
        raise bad_value(name, "phải là chuỗi")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_value(name, "ký tự không hợp lệ") from None
    return value


def check_int(value: object, name: str, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    # bool is an int subclass in Python but not a JSON integer; strings and floats are refused.
    if type(value) is not int:
        raise bad_value(name, "phải là số nguyên")
    if not lo <= value <= hi:
        raise bad_value(name, f"ngoài khoảng {lo}-{hi}")
    return value


def _is_http_url(text: str) -> bool:
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def validate_object(obj: object, spec: Mapping[str, Field], path: str = "") -> dict[str, Any]:
    """Check one object against `spec`; `path` prefixes names in messages (`TaiLieuNop[0].`)."""
    if not isinstance(obj, dict):
        raise bad_value(path.rstrip(".") or "data", "phải là đối tượng")
    for key in obj:
        if key not in spec:
            raise unknown_field(path + str(key))
    for name, field in spec.items():
        value = obj.get(name)
        if field.required and (value is None or (field.nonempty and value in ("", []))):
            raise missing(path + name)
    for name, field in spec.items():
        value = obj.get(name)
        if value is not None:
            _check_value(value, field, path + name)
    return obj


def _check_value(value: object, field: Field, name: str) -> None:
    if field.kind == "int":
        check_int(value, name, field.lo, field.hi)
    elif field.kind == "str":
        text = check_text(value, name)
        if field.maxlen is not None and len(text) > field.maxlen:
            raise bad_value(name, f"dài quá {field.maxlen} ký tự")
    elif field.kind == "date":
        text = check_text(value, name)
        if text and not is_moment(text):
            raise bad_date(name)
    elif field.kind == "url":
        text = check_text(value, name)
        if text and not _is_http_url(text):
            raise bad_value(name, "phải là địa chỉ http(s) tuyệt đối")
    else:
        if not isinstance(value, list):
            raise bad_value(name, "phải là danh sách")
        assert field.item is not None
        for index, item in enumerate(value):
            validate_object(item, field.item, f"{name}[{index}].")


def check_madonvi(value: object, province: str) -> str:
    """`madonvi` must carry the province code as one of its dot-separated parts (error 4)."""
    if value is None or value == "":
        raise missing("madonvi")
    text = check_text(value, "madonvi")
    if province not in text.split("."):
        raise PortalError(4, f"Mã đơn vị không thuộc tỉnh {province}: {text}")
    return text


def agency_of(code: str) -> str | None:
    parts = code.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[0] else None


def check_code(code: str, madonvi: str, name: str = "MaHoSo") -> str:
    """`{agency}-{yyMMdd}-{nnnn}` whose agency part is `madonvi` (4) and whose tail is sane (7)."""
    agency = agency_of(code)
    if agency is None:
        raise bad_value(name, "phải có dạng {mã đơn vị}-{yyMMdd}-{số thứ tự}")
    if agency != madonvi:
        raise PortalError(4, f"Mã hồ sơ {code} không thuộc đơn vị {madonvi}")
    tail = _CODE_TAIL.fullmatch(code[len(agency) + 1 :])
    if tail is None or not is_moment("20" + tail.group(1) + "000000"):
        raise bad_value(name, "phải có dạng {mã đơn vị}-{yyMMdd}-{số thứ tự}")
    return code


def validate_dossier(record: object, madonvi: str) -> dict[str, Any]:
    checked = validate_object(record, DOSSIER)
    check_code(checked["MaHoSo"], madonvi)
    return checked


def validate_row(row: object, madonvi: str) -> dict[str, Any]:
    checked = validate_object(row, ROW)
    check_code(checked["MaHoSo"], madonvi)
    return checked


def is_reception(row: Mapping[str, Any]) -> bool:
    """The first row a dossier gets: "Tiếp nhận hồ sơ" with status 2 (compared in NFC)."""
    content = unicodedata.normalize("NFC", str(row.get("NoiDungXuLy", "")))
    return content == RECEPTION and row.get("TrangThai") == 2
