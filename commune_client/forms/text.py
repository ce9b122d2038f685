"""Wording helpers shared by the forms: times, time limits, statuses, money, in Vietnamese.

Times in records are RFC 3339 strings (normally with +07:00). People read them in Vietnam's time
zone (UTC+7, no daylight saving), so every helper converts to it first.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from schemas.dossier import STATUS_LABEL_VI, DossierStatus

__all__ = [
    "BLANK",
    "VN_TZ",
    "date_line",
    "date_vi",
    "datetime_vi",
    "id_label",
    "money_vi",
    "parse_time",
    "return_via_vi",
    "status_vi",
    "t",
    "time_limit_vi",
    "time_vi",
    "timeliness_vi",
]

VN_TZ: Final = dt.timezone(dt.timedelta(hours=7), "ICT")
"""Asia/Ho_Chi_Minh: UTC+7 all year."""

BLANK: Final = "................"
"""Printed where a value is unknown, to be filled in by hand."""

TIMELINESS_VI: Final[dict[str, str]] = {
    "early": "Trước hạn",
    "on_time": "Đúng hạn",
    "late": "Quá hạn",
}

RETURN_VIA_VI: Final[dict[str, str]] = {
    "desk": "Bộ phận một cửa",
    "post": "Dịch vụ bưu chính",
}

ID_LABEL_VI: Final[dict[int, str]] = {1: "Số CCCD", 2: "Số CMND", 3: "Số hộ chiếu"}


def t(value: object) -> str:
    """Text for printing: `str`, NFC (precomposed Vietnamese letters have glyphs), no None."""
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value))


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 string as an aware datetime in Vietnam's time zone (naive: taken as +07)."""
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=VN_TZ)
    return parsed.astimezone(VN_TZ)


def time_vi(value: str | None) -> str:
    """`2026-11-23T09:15:00+07:00` -> `09 giờ 15 phút, ngày 23/11/2026` (BLANK when absent)."""
    if not value:
        return BLANK
    when = parse_time(value)
    return f"{when:%H} giờ {when:%M} phút, ngày {when:%d/%m/%Y}"


def date_vi(value: str | None) -> str:
    """`dd/mm/yyyy` ("" when absent)."""
    if not value:
        return ""
    return f"{parse_time(value):%d/%m/%Y}"


def datetime_vi(value: str | None) -> str:
    """`dd/mm/yyyy HH:MM` ("" when absent): the spreadsheets' date columns."""
    if not value:
        return ""
    return f"{parse_time(value):%d/%m/%Y %H:%M}"


def date_line(place: str, value: str | dt.date) -> str:
    """`Tân Lập, ngày 23 tháng 11 năm 2026`.

    Administrative style (Decree 30/2020): days below 10 and months below 3 take a leading zero.
    """
    when = value if isinstance(value, dt.date) else parse_time(value)
    month = f"{when.month:02d}" if when.month < 3 else str(when.month)
    day = f"ngày {when.day:02d} tháng {month} năm {when.year}"
    return f"{t(place)}, {day}" if t(place).strip() else day[0].upper() + day[1:]


def time_limit_vi(limit: int, unit: str) -> str:
    """The legal time limit: `1 ngày làm việc`, `15 ngày`, `4 giờ làm việc`, `Giải quyết ngay`."""
    if limit == 0:
        return "Giải quyết ngay"
    words = {
        "working_days": "ngày làm việc",
        "calendar_days": "ngày",
        "working_hours": "giờ làm việc",
    }
    return f"{limit} {words.get(unit, unit)}"


def status_vi(status: str) -> str:
    """The Vietnamese label of a local dossier status (the raw value if unknown)."""
    try:
        return STATUS_LABEL_VI[DossierStatus(status)]
    except ValueError:
        return t(status)


def timeliness_vi(value: str | None) -> str:
    """`early` / `on_time` / `late` -> `Trước hạn` / `Đúng hạn` / `Quá hạn` ("" when None)."""
    if value is None:
        return ""
    return TIMELINESS_VI.get(value, t(value))


def return_via_vi(value: str | None) -> str:
    """Where the result is collected: `Bộ phận một cửa` or `Dịch vụ bưu chính`."""
    return RETURN_VIA_VI.get(value or "desk", t(value))


def id_label(applicant: Mapping[str, Any]) -> str:
    """`Số CCCD` / `Số CMND` / `Số hộ chiếu`, from the applicant's `id_kind`."""
    kind = applicant.get("id_kind", 1)
    return ID_LABEL_VI.get(kind if isinstance(kind, int) else 1, "Số giấy tờ tùy thân")


def money_vi(amount: int) -> str:
    """`8000` -> `8.000 đồng` (Vietnamese digit grouping)."""
    return f"{amount:,} đồng".replace(",", ".")
