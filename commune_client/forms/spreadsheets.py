"""Spreadsheets (openpyxl): the tracking book "Sổ theo dõi hồ sơ" and report Biểu 06 (II.06a).

Dates are written as text (`dd/mm/yyyy HH:MM`) so they read the same in every spreadsheet
program and locale; counts are integers.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from commune_client.forms.context import FormContext
from commune_client.forms.text import date_line, datetime_vi, parse_time, status_vi, t

__all__ = [
    "BOOK_HEADINGS",
    "BOOK_TITLE",
    "REPORT_COLUMNS",
    "REPORT_TITLE",
    "report_xlsx",
    "tracking_book_xlsx",
]

BOOK_TITLE: Final = "SỔ THEO DÕI HỒ SƠ"
REPORT_TITLE: Final = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"

FONT_NAME: Final = "Times New Roman"
THIN: Final = Side(style="thin", color="000000")
BOX: Final = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEAD_FILL: Final = PatternFill("solid", fgColor="E8E8E8")
CENTER: Final = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT: Final = Alignment(horizontal="left", vertical="center", wrap_text=True)
RIGHT: Final = Alignment(horizontal="right", vertical="center")

BOOK_HEADINGS: Final = (
    ("STT", 6),
    ("Mã hồ sơ", 26),
    ("Tên TTHC", 32),
    ("Chủ hồ sơ", 24),
    ("Số CCCD", 15),
    ("Địa chỉ", 32),
    ("Số điện thoại", 14),
    ("Ngày nhận", 17),
    ("Ngày hẹn trả", 17),
    ("Ngày chuyển/kết quả", 17),
    ("Ngày trả kết quả", 17),
    ("Trạng thái", 20),
    ("Ghi chú", 30),
)
"""Tracking book columns and their widths (characters)."""

REPORT_GROUPS: Final = (
    ("Số hồ sơ nhận giải quyết", "received"),
    ("Số hồ sơ đã giải quyết", "resolved"),
    ("Số hồ sơ đang giải quyết", "pending"),
)
REPORT_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("received", "total", "Tổng số"),
    ("received", "online", "Trong kỳ: Trực tuyến"),
    ("received", "direct_or_postal", "Trong kỳ: Trực tiếp, dịch vụ bưu chính"),
    ("received", "carried_over", "Từ kỳ trước"),
    ("resolved", "total", "Tổng số"),
    ("resolved", "early", "Trả trước hạn"),
    ("resolved", "on_time", "Trả đúng hạn"),
    ("resolved", "late", "Trả quá hạn"),
    ("pending", "total", "Tổng số"),
    ("pending", "within_deadline", "Chưa đến hạn"),
    ("pending", "overdue", "Quá hạn"),
)
"""Biểu 06 count columns after STT and Lĩnh vực: (group, key, heading); then "Rút hồ sơ"."""


def _font(*, bold: bool = False, size: float = 12, italic: bool = False) -> Font:
    return Font(name=FONT_NAME, bold=bold, size=size, italic=italic)


def _put(
    ws: Any,
    row: int,
    col: int,
    value: object,
    *,
    bold: bool = False,
    size: float = 12,
    italic: bool = False,
    align: Alignment = LEFT,
    box: bool = False,
    fill: PatternFill | None = None,
    to_col: int | None = None,
    to_row: int | None = None,
) -> None:
    """Write one (possibly merged) cell with its style; borders go on every merged cell."""
    last_row, last_col = to_row or row, to_col or col
    if (last_row, last_col) != (row, col):
        ws.merge_cells(start_row=row, start_column=col, end_row=last_row, end_column=last_col)
    cell = ws.cell(row=row, column=col, value=value)
    cell.font = _font(bold=bold, size=size, italic=italic)
    cell.alignment = align
    for r in range(row, last_row + 1):
        for c in range(col, last_col + 1):
            if box:
                ws.cell(row=r, column=c).border = BOX
            if fill is not None:
                ws.cell(row=r, column=c).fill = fill


def _unit_header(ws: Any, ctx: FormContext, width: int) -> None:
    """Rows 1-2: parent agency and unit (left), the national name and motto (right)."""
    half = max(2, width // 2 - 1)
    _put(ws, 1, 1, t(ctx.parent_agency).upper(), align=CENTER, to_col=half)
    _put(ws, 2, 1, t(ctx.unit_name).upper(), bold=True, align=CENTER, to_col=half)
    _put(
        ws, 1, half + 2, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, align=CENTER, to_col=width
    )
    _put(ws, 2, half + 2, "Độc lập - Tự do - Hạnh phúc", bold=True, align=CENTER, to_col=width)


def _save(wb: Workbook, created: dt.datetime | None) -> bytes:
    wb.properties.creator = "commune-ledger"
    if created is not None:
        naive = created.astimezone(dt.UTC).replace(tzinfo=None)
        wb.properties.created = naive
        wb.properties.modified = naive
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Tracking book


def _book_note(dossier: Mapping[str, Any]) -> str:
    notes: list[str] = []
    if dossier.get("note"):
        notes.append(t(dossier["note"]))
    if dossier.get("handling_office"):
        notes.append(f"Chuyển liên thông: {t(dossier['handling_office'])}")
    rounds = int(dossier.get("supplement_rounds", 0) or 0)
    if rounds:
        notes.append(f"Bổ sung hồ sơ {rounds} lần")
    for key, label in (
        ("refused_at", "Từ chối"),
        ("withdrawn_at", "Rút hồ sơ"),
        ("stopped_at", "Dừng giải quyết"),
    ):
        if dossier.get(key):
            notes.append(f"{label} {datetime_vi(dossier[key])}")
    if dossier.get("return_via") == "post":
        notes.append("Trả qua bưu chính")
    return "; ".join(notes)


def _book_row(i: int, dossier: Mapping[str, Any]) -> list[object]:
    procedure: Mapping[str, Any] = dossier.get("procedure", {})
    applicant: Mapping[str, Any] = dossier.get("applicant", {})
    moved = dossier.get("transferred_at") or dossier.get("resolved_at")
    return [
        dossier.get("book_row") or i,
        t(dossier.get("code")),
        t(procedure.get("name")),
        t(applicant.get("name")),
        t(applicant.get("id_number")),
        t(applicant.get("address")),
        t(applicant.get("phone")),
        datetime_vi(dossier.get("received_at")),
        datetime_vi(dossier.get("due_at")),
        datetime_vi(moved),
        datetime_vi(dossier.get("returned_at")),
        status_vi(str(dossier.get("status", ""))),
        _book_note(dossier),
    ]


def tracking_book_xlsx(ctx: FormContext, dossiers: Sequence[Mapping[str, Any]]) -> bytes:
    """The tracking book: one row per dossier (in the order given), header frozen.

    STT is the dossier's `book_row` when it has one (its row number on Form 01), else its
    position. "Ngày chuyển/kết quả" is `transferred_at` if the mapping has it, else
    `resolved_at`. A dossier mapping may carry an extra `note` for the Ghi chú column.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = "Sổ theo dõi hồ sơ"
    width = len(BOOK_HEADINGS)
    _unit_header(ws, ctx, width)
    _put(ws, 4, 1, BOOK_TITLE, bold=True, size=14, align=CENTER, to_col=width)
    _put(
        ws,
        5,
        1,
        f"Mã đơn vị: {t(ctx.office_code)} - Số hồ sơ: {len(dossiers)}",
        italic=True,
        align=CENTER,
        to_col=width,
    )
    head = 6
    for col, (heading, chars) in enumerate(BOOK_HEADINGS, start=1):
        _put(ws, head, col, heading, bold=True, align=CENTER, box=True, fill=HEAD_FILL)
        ws.column_dimensions[get_column_letter(col)].width = chars
    ws.row_dimensions[head].height = 32
    for i, dossier in enumerate(dossiers, start=1):
        for col, value in enumerate(_book_row(i, dossier), start=1):
            align = CENTER if col in (1, 8, 9, 10, 11) else LEFT
            _put(ws, head + i, col, value, align=align, box=True)
    ws.freeze_panes = ws.cell(row=head + 1, column=3)
    ws.print_title_rows = f"{head}:{head}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    times = [str(d["received_at"]) for d in dossiers if d.get("received_at")]
    return _save(wb, max((parse_time(x) for x in times), default=None))


# ---------------------------------------------------------------------------------------------
# Report Biểu 06 (II.06a)


def _day(value: str) -> dt.date:
    """A period bound: `YYYY-MM-DD` or an RFC 3339 time (its date in Vietnam)."""
    if len(value) == 10:
        return dt.date.fromisoformat(value)
    return parse_time(value).date()


def _count(group: Mapping[str, Any], section: str, key: str) -> int:
    part = group.get(section) or {}
    return int(part.get(key, 0) or 0) if isinstance(part, Mapping) else 0


def _report_values(group: Mapping[str, Any]) -> list[int]:
    values = [_count(group, section, key) for section, key, _ in REPORT_COLUMNS]
    return [*values, int(group.get("withdrawn", 0) or 0)]


def report_xlsx(
    ctx: FormContext, report: Mapping[str, Any], *, period_from: str, period_to: str
) -> bytes:
    """Biểu 06 (II.06a): received, resolved, pending and withdrawn dossiers by field and in total.

    `report` is `{"total": Group, "by_field": [{"field": str, **Group}]}`, Group being
    `{"received": {total, online, direct_or_postal, carried_over}, "resolved": {total, early,
    on_time, late}, "pending": {total, within_deadline, overdue}, "withdrawn": int}`. The
    "Tổng cộng" row is `report["total"]` as given (not re-added here); without a "total" key the
    report's own top-level "received", "resolved", "pending", "withdrawn" are the total. Period
    bounds are dates (`YYYY-MM-DD`) or RFC 3339 times.
    """
    start, end = _day(period_from), _day(period_to)
    wb = Workbook()
    ws = wb.active
    ws.title = "Biểu 06 (II.06a)"
    width = 2 + len(REPORT_COLUMNS) + 1
    _unit_header(ws, ctx, width)
    _put(ws, 3, width - 2, "Biểu số II.06a", italic=True, align=RIGHT, to_col=width)
    _put(ws, 4, 1, REPORT_TITLE, bold=True, size=14, align=CENTER, to_col=width)
    _put(
        ws,
        5,
        1,
        f"Kỳ báo cáo: từ ngày {start:%d/%m/%Y} đến ngày {end:%d/%m/%Y}",
        align=CENTER,
        to_col=width,
    )
    _put(ws, 6, 1, "Đơn vị tính: Số hồ sơ", italic=True, size=11, align=RIGHT, to_col=width)

    top, sub = 7, 8
    head = {"bold": True, "align": CENTER, "box": True, "fill": HEAD_FILL}
    _put(ws, top, 1, "STT", to_row=sub, **head)
    _put(ws, top, 2, "Lĩnh vực", to_row=sub, **head)
    col = 3
    for title, section in REPORT_GROUPS:
        span = sum(1 for s, _, _ in REPORT_COLUMNS if s == section)
        _put(ws, top, col, title, to_col=col + span - 1, **head)
        col += span
    _put(ws, top, width, "Rút hồ sơ", to_row=sub, **head)
    for i, (_, _, label) in enumerate(REPORT_COLUMNS, start=3):
        _put(ws, sub, i, label, **head)
    numbers = sub + 1
    for i in range(1, width + 1):
        _put(ws, numbers, i, f"({i})", italic=True, size=10, align=CENTER, box=True)

    row = numbers + 1
    fields: Sequence[Mapping[str, Any]] = report.get("by_field") or []
    for i, group in enumerate(fields, start=1):
        _report_row(ws, row, i, t(group.get("field")), _report_values(group), bold=False)
        row += 1
    # The total group, or the report itself when it carries the total's counts at the top level
    # (as `commune_client.reports.bieu06` returns it).
    total: Mapping[str, Any] = report.get("total") or report
    _report_row(ws, row, None, "Tổng cộng", _report_values(total), bold=True)

    sign = row + 2
    _put(ws, sign, width - 5, date_line(ctx.place, end), italic=True, align=CENTER, to_col=width)
    _put(ws, sign + 1, 1, "NGƯỜI LẬP BIỂU", bold=True, align=CENTER, to_col=4)
    _put(ws, sign + 1, width - 5, "THỦ TRƯỞNG ĐƠN VỊ", bold=True, align=CENTER, to_col=width)
    _put(ws, sign + 2, 1, "(Ký, ghi rõ họ tên)", italic=True, align=CENTER, to_col=4)
    _put(
        ws,
        sign + 2,
        width - 5,
        "(Ký, ghi rõ họ tên, đóng dấu)",
        italic=True,
        align=CENTER,
        to_col=width,
    )
    _put(ws, sign + 6, 1, t(ctx.officer_name), bold=True, align=CENTER, to_col=4)

    widths = [6, 30, *([12] * len(REPORT_COLUMNS)), 10]
    for i, chars in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = chars
    ws.row_dimensions[top].height = 32
    ws.row_dimensions[sub].height = 64
    ws.freeze_panes = ws.cell(row=numbers + 1, column=3)
    ws.print_title_rows = f"{top}:{numbers}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    created = dt.datetime.combine(end, dt.time(17, 0), tzinfo=dt.UTC)
    return _save(wb, created)


def _report_row(
    ws: Any, row: int, number: int | None, label: str, values: Iterable[int], *, bold: bool
) -> None:
    _put(ws, row, 1, number, bold=bold, align=CENTER, box=True)
    _put(ws, row, 2, label, bold=bold, align=LEFT, box=True)
    for col, value in enumerate(values, start=3):
        _put(ws, row, col, value, bold=bold, align=RIGHT, box=True)
