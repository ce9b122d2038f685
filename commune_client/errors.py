"""Errors the office app shows to officers: a Vietnamese title and message, never a traceback."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ledger.errors import LedgerError

__all__ = [
    "BadInput",
    "CommuneError",
    "NotFound",
    "NotInitialized",
    "TransitionRefused",
    "from_validation",
]


class CommuneError(LedgerError):
    title = "Lỗi"


class NotInitialized(CommuneError):
    title = "Chưa khởi tạo"


class BadInput(CommuneError):
    title = "Dữ liệu không hợp lệ"


class NotFound(CommuneError):
    title = "Không tìm thấy"


class TransitionRefused(CommuneError):
    title = "Thao tác không hợp lệ"


_FIELD_VI = {
    "name": "họ tên",
    "id_number": "số giấy tờ",
    "id_kind": "loại giấy tờ",
    "phone": "số điện thoại",
    "email": "thư điện tử",
    "address": "địa chỉ",
    "summary": "trích yếu",
    "documents": "giấy tờ",
    "reason": "lý do",
    "to": "đơn vị nhận",
    "new_due": "ngày hẹn mới",
    "amount": "số tiền",
    "rating": "mức đánh giá",
    "via": "hình thức trả",
    "channel": "kênh nộp",
    "applicant": "người nộp",
    "originals": "số bản chính",
    "copies": "số bản sao",
    "kind": "loại đối tượng",
}
_TYPE_VI = {
    "missing": "thiếu thông tin bắt buộc",
    "string_too_long": "quá dài",
    "string_too_short": "không được để trống",
    "int_parsing": "phải là số nguyên",
    "int_type": "phải là số nguyên",
    "greater_than_equal": "phải không âm",
    "greater_than": "phải lớn hơn 0",
    "less_than_equal": "quá lớn",
    "literal_error": "giá trị không hợp lệ",
    "extra_forbidden": "trường không được phép",
    "string_pattern_mismatch": "sai định dạng",
}


def from_validation(exc: ValidationError, cls: type[CommuneError] = BadInput) -> CommuneError:
    """A pydantic error as one Vietnamese line: `số giấy tờ: Số CCCD phải gồm 12 chữ số`."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
        field = _FIELD_VI.get(loc[-1], loc[-1]) if loc else ""
        msg = err["msg"]
        if err["type"] in _TYPE_VI:
            msg = _TYPE_VI[err["type"]]
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        parts.append(f"{field}: {msg}" if field else msg)
    return cls("; ".join(parts) or "dữ liệu không hợp lệ")


def detail(exc: CommuneError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "title": exc.title, "detail": exc.message}
