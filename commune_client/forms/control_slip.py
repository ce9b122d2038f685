"""The control slip: "Phiếu kiểm soát quá trình giải quyết hồ sơ" (A4), one row per hand-off."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from commune_client.forms.context import FormContext
from commune_client.forms.pdf import A4, FormPDF
from commune_client.forms.text import BLANK, parse_time, status_vi, t, time_vi, timeliness_vi

__all__ = ["CONTROL_SLIP_TITLE", "control_slip_pdf"]

CONTROL_SLIP_TITLE = "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ"
HEADINGS = (
    "STT",
    "Bước xử lý",
    "Tên cơ quan/bộ phận giao - nhận",
    "Thời gian giao, nhận",
    "Kết quả",
    "Ghi chú",
)


def _two_lines(value: str | None) -> str:
    """`09 giờ 15 phút` / `ngày 23/11/2026` on two lines (the column is narrow)."""
    return time_vi(value).replace(", ngày", "\nngày")


def control_slip_pdf(
    ctx: FormContext, dossier: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> bytes:
    """The dossier's hand-offs, each with its time, its due time and whether it was on time.

    A row: `{"step", "from", "to", "at", "due", "timeliness", "note"}`; `due`, `timeliness`
    ("early" | "on_time" | "late") and `note` may be None or absent.
    """
    procedure: Mapping[str, Any] = dossier.get("procedure", {})
    applicant: Mapping[str, Any] = dossier.get("applicant", {})
    code = t(dossier.get("code"))
    received = str(dossier["received_at"])
    times = [str(row["at"]) for row in rows if row.get("at")]
    created = max([received, *times], key=parse_time)

    pdf = FormPDF(
        ctx,
        page=A4,
        title=CONTROL_SLIP_TITLE,
        created=created,
        footer=f"Mã hồ sơ {code}",
        continued=f"{CONTROL_SLIP_TITLE} - Mã hồ sơ {code}",
        size=10,
    )
    pdf.national_header(None, None)
    pdf.form_title(CONTROL_SLIP_TITLE, "(Kèm theo Giấy tiếp nhận hồ sơ và hẹn trả kết quả)")
    pdf.field("Mã hồ sơ", code)
    pdf.field("Chủ hồ sơ", t(applicant.get("name")) or BLANK)
    pdf.field("Thủ tục hành chính", t(procedure.get("name")) or BLANK)
    pdf.field("Thời gian nhận hồ sơ", time_vi(received))
    pdf.field("Thời gian hẹn trả kết quả", time_vi(dossier.get("due_at")))
    pdf.field("Cơ quan tiếp nhận", f"{t(ctx.unit_name)} ({t(ctx.office_code)})", bold_value=False)
    if dossier.get("handling_office"):
        pdf.field("Cơ quan đang giải quyết", t(dossier["handling_office"]), bold_value=False)
    if dossier.get("status"):
        pdf.field("Trạng thái", status_vi(str(dossier["status"])), bold_value=False)
    pdf.gap(0.6)

    body = []
    for i, row in enumerate(rows, start=1):
        when = _two_lines(row.get("at"))
        if row.get("due"):
            when += f"\n(Hạn: {_two_lines(row['due'])})"
        body.append(
            [
                str(i),
                t(row.get("step")),
                f"Giao: {t(row.get('from')) or BLANK}\nNhận: {t(row.get('to')) or BLANK}",
                when,
                timeliness_vi(row.get("timeliness")),
                t(row.get("note")),
            ]
        )
    if not body:
        body.append(["", "", "(Chưa có bước giao, nhận nào)", "", "", ""])
    pdf.table_of(
        HEADINGS,
        body,
        widths=(11, 28, 52, 40, 19, 24),
        align=("C", "L", "L", "L", "C", "L"),
    )
    return bytes(pdf.output())
