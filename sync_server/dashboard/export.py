"""Biểu 06 for the whole province (or a cluster of offices) as an xlsx workbook: one row per
office and the total, then the total by field. Numbers from `queries.province_bieu06`."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from schemas.reports import Bieu06

__all__ = ["bieu06_xlsx"]

HEADERS = (
    "Mã đơn vị",
    "Tên đơn vị",
    "Tiếp nhận: tổng",
    "Trực tuyến",
    "Trực tiếp, BCCI",
    "Kỳ trước chuyển qua",
    "Đã giải quyết: tổng",
    "Trước hạn",
    "Đúng hạn",
    "Quá hạn",
    "Đang giải quyết: tổng",
    "Trong hạn",
    "Quá hạn ",
    "Rút hồ sơ",
    "Dừng",
    "Từ chối",
    "Tỷ lệ đúng hạn (%)",
)


def _cells(report: Bieu06 | Any) -> list[Any]:
    rec, res, pen = report["received"], report["resolved"], report["pending"]
    rate = report.get("on_time_rate")
    return [
        rec["total"], rec["online"], rec["direct_or_postal"], rec["carried_over"],
        res["total"], res["early"], res["on_time"], res["late"],
        pen["total"], pen["within_deadline"], pen["overdue"],
        report["withdrawn"], report["stopped"], report["refused"],
        None if rate is None else round(100 * rate, 2),
    ]  # fmt: skip


def bieu06_xlsx(
    total: Bieu06, per_office: Sequence[tuple[dict[str, Any], Bieu06]], title: str
) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Biểu 06"
    period = total["period"]
    ws.append([f"{title}: Biểu 06 từ {period['from']} đến {period['to']}"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(list(HEADERS))
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for office, report in per_office:
        ws.append([office["code"], office["name"], *_cells(report)])
    ws.append(["", "Tổng cộng", *_cells(total)])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 32
    ws.freeze_panes = "C3"
    fields = wb.create_sheet("Theo lĩnh vực")
    fields.append(["Lĩnh vực", *HEADERS[2:-1]])
    for cell in fields[1]:
        cell.font = Font(bold=True)
    for group in total["by_field"]:
        fields.append([group["field"], *_cells({**group, "on_time_rate": None})[:-1]])
    fields.column_dimensions["A"].width = 40
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
