"""Form 01: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả" (receipt and appointment), A5 portrait."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from commune_client.forms.context import FormContext
from commune_client.forms.pdf import A5, FormPDF, Signature
from commune_client.forms.qr import MAX_MODULE_MM, MIN_MODULE_MM, QUIET_ZONE, make_qr
from commune_client.forms.text import (
    BLANK,
    date_line,
    id_label,
    money_vi,
    parse_time,
    t,
    time_limit_vi,
    time_vi,
)

__all__ = ["RECEIPT_TITLE", "receipt_pdf"]

RECEIPT_TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
QR_CAPTION = "Quét mã để kiểm tra biên nhận"
QR_NOTE = "Biên nhận có chữ ký số của cán bộ tiếp nhận"
CHECKED, UNCHECKED = "\u2612", "\u2610"  # ☒ ☐
BETWEEN_SIDE_MM = 38.0
"""Width of the column between the two signatures that can hold a small QR code."""


def _book_numbers(dossier: Mapping[str, Any]) -> tuple[str, str, str]:
    """(Số, Quyển số, Số thứ tự): the code's daily sequence, the book (default: the year), row."""
    code = t(dossier.get("code"))
    number = code.rsplit("-", 1)[1] if code.count("-") >= 2 else BLANK
    book = dossier.get("book") or f"{parse_time(dossier['received_at']).year}"
    row = dossier.get("book_row")
    return number, t(book), (str(row) if row is not None else BLANK)


def _fees(dossier: Mapping[str, Any]) -> str:
    fees = dossier.get("fees") or []
    if fees:
        total = sum(int(fee.get("amount", 0)) for fee in fees)
        parts = "; ".join(
            f"{t(fee.get('name'))}: {money_vi(int(fee.get('amount', 0)))}" for fee in fees
        )
        return money_vi(total) if len(fees) == 1 else f"{money_vi(total)} ({parts})"
    fee = int(dossier.get("procedure", {}).get("fee", 0))
    return money_vi(fee) if fee else "Không thu"


def _due(dossier: Mapping[str, Any]) -> str:
    due = dossier.get("due_at")
    if due:
        return time_vi(due)
    if int(dossier.get("procedure", {}).get("time_limit", 1)) == 0:
        return "Trả kết quả ngay"
    return BLANK


def receipt_pdf(ctx: FormContext, dossier: Mapping[str, Any], qr_payload: str) -> bytes:
    """Form 01 for a received dossier, with the receipt's QR code; A5 portrait, PDF bytes.

    `dossier` is a `schemas.dossier.Dossier` record (as `to_record` gives it); `qr_payload` is the
    receipt text the QR code carries. ValueError if the payload does not fit one QR code.
    """
    symbol = make_qr(qr_payload)  # fail before drawing anything
    procedure: Mapping[str, Any] = dossier.get("procedure", {})
    applicant: Mapping[str, Any] = dossier.get("applicant", {})
    code = t(dossier.get("code"))
    received = str(dossier["received_at"])

    pdf = FormPDF(
        ctx,
        page=A5,
        title=RECEIPT_TITLE,
        created=received,
        footer=f"Mã hồ sơ {code}",
        continued=f"{RECEIPT_TITLE} - Mã hồ sơ {code}",
    )
    pdf.national_header(None, date_line(ctx.place, received))
    pdf.form_title(RECEIPT_TITLE)
    pdf.bold(pdf.body_size + 0.5)
    pdf.mcell(0, pdf.line_h, f"Mã hồ sơ: {code}", align="C")
    pdf.regular()
    number, book, row = _book_numbers(dossier)
    pdf.mcell(0, pdf.line_h, f"Số: {number}    Quyển số: {book}    Số thứ tự: {row}", align="C")
    pdf.gap(0.8)

    pdf.paragraph("Tiếp nhận hồ sơ của:", bold=True, align="L")
    who = "Ông/Bà" if applicant.get("kind", 1) == 1 else "Tổ chức"
    pdf.field(who, t(applicant.get("name")))
    pdf.field(id_label(applicant), t(applicant.get("id_number")) or BLANK)
    pdf.field("Địa chỉ", t(applicant.get("address")) or BLANK, bold_value=False)
    pdf.fields(
        ("Số điện thoại", t(applicant.get("phone")) or BLANK),
        ("Email", t(applicant.get("email")) or BLANK),
    )
    representative = dossier.get("representative")
    if representative:
        pdf.field(
            "Người được ủy quyền",
            f"{t(representative.get('name'))}, {id_label(representative)}: "
            f"{t(representative.get('id_number'))}",
        )
    pdf.field("Nội dung yêu cầu giải quyết", t(procedure.get("name")))
    pdf.field(
        "Mã thủ tục",
        f"{t(procedure.get('code'))} - Lĩnh vực: {t(procedure.get('field'))}",
        bold_value=False,
    )
    if dossier.get("summary"):
        pdf.field("Trích yếu", t(dossier["summary"]), bold_value=False)
    pdf.gap(0.4)

    pdf.paragraph("1. Thành phần hồ sơ nộp gồm:", align="L")
    documents = dossier.get("documents") or []
    rows = [
        [str(i), t(doc.get("name")), str(doc.get("originals", 0)), str(doc.get("copies", 0))]
        for i, doc in enumerate(documents, start=1)
    ] or [["", "(Không có giấy tờ kèm theo)", "", ""]]
    pdf.table_of(
        ["STT", "Tên giấy tờ", "Bản chính", "Bản sao"],
        rows,
        widths=(10, 78, 19, 19),
        align=("C", "L", "C", "C"),
    )
    limit = time_limit_vi(int(procedure.get("time_limit", 0)), str(procedure.get("time_unit")))
    pdf.field("2. Số lượng hồ sơ", f"{int(dossier.get('sets', 1)):02d} bộ")
    pdf.field("3. Thời gian giải quyết hồ sơ theo quy định", limit)
    pdf.field("4. Thời gian nhận hồ sơ", time_vi(received))
    pdf.field("5. Thời gian trả kết quả giải quyết hồ sơ", _due(dossier))
    post = dossier.get("return_via") == "post"
    pdf.field(
        "6. Đăng ký nhận kết quả tại",
        f"{UNCHECKED if post else CHECKED} Bộ phận một cửa    "
        f"{CHECKED if post else UNCHECKED} Dịch vụ bưu chính",
        bold_value=False,
    )
    pdf.field("7. Phí, lệ phí", _fees(dossier), bold_value=False)
    pdf.gap(0.8)

    signatures = [
        Signature("NGƯỜI NỘP HỒ SƠ", t(applicant.get("name"))),
        Signature("NGƯỜI TIẾP NHẬN HỒ SƠ", t(ctx.officer_name)),
    ]
    if not _qr_between_signatures(pdf, signatures, symbol.matrix):
        pdf.signatures(signatures)
        _qr_block(pdf, symbol.matrix, symbol.module_mm, code)
    return bytes(pdf.output())


def _qr_between_signatures(
    pdf: FormPDF, signatures: list[Signature], matrix: tuple[tuple[int, ...], ...]
) -> bool:
    """A small code fits between the two signatures: draw it there, keeping a one-page receipt.

    False (nothing drawn) when the code would need modules under 0.5 mm or the page is too full.
    """
    modules = len(matrix) + 2 * QUIET_ZONE
    module = min(MAX_MODULE_MM, math.floor(BETWEEN_SIDE_MM / modules * 100) / 100)
    if module < MIN_MODULE_MM:
        return False
    side = modules * module
    caption = 6.5
    caption_h = caption * 0.45 * 4 + 1
    if pdf.will_page_break(max(side + caption_h, pdf.line_h * 4 + 15)):
        return False
    column = (pdf.epw - BETWEEN_SIDE_MM) / 2
    y = pdf.signatures(
        [signatures[0], None, signatures[1]],
        columns=[(0, column), (column, BETWEEN_SIDE_MM), (column + BETWEEN_SIDE_MM, column)],
    )
    bottom = pdf.get_y()
    x = pdf.l_margin + column + (BETWEEN_SIDE_MM - side) / 2
    pdf.qr_code(matrix, x + QUIET_ZONE * module, y + QUIET_ZONE * module, module)
    pdf.set_xy(pdf.l_margin + column, y + side + 0.5)
    pdf.bold(caption)
    fit = (BETWEEN_SIDE_MM - 2 * pdf.c_margin) / pdf.get_string_width(QR_CAPTION)
    pdf.bold(max(5.5, min(caption, caption * fit)))
    pdf.mcell(BETWEEN_SIDE_MM, caption * 0.45, QR_CAPTION, align="C")
    pdf.regular(caption)
    pdf.mcell(BETWEEN_SIDE_MM, caption * 0.45, QR_NOTE, align="C")
    pdf.regular()
    pdf.set_xy(pdf.l_margin, max(bottom, pdf.get_y()))
    return True


def _qr_block(pdf: FormPDF, matrix: tuple[tuple[int, ...], ...], module: float, code: str) -> None:
    """The QR code with its captions: beside a small code, below a large one.

    Drawn as large as the room left on the page allows (up to 1 mm a module: larger modules scan
    more easily); when not even `module` fits under the signatures, on a page of its own.
    """
    modules = len(matrix) + 2 * QUIET_ZONE
    caption_h = pdf.line_h * 3.2

    def largest(room: float) -> float:
        """The largest module (0.05 mm steps, at most 1 mm) that fits `room` mm of height."""
        side = min(pdf.epw, room - caption_h)
        return min(MAX_MODULE_MM, math.floor(side / modules * 20) / 20)

    here = largest(pdf.page_break_trigger - pdf.get_y())
    if here < module:
        pdf.add_page()
        here = largest(pdf.page_break_trigger - pdf.get_y())
    module = max(module, here)
    side = modules * module
    beside = pdf.epw - side >= 48
    y = pdf.get_y()
    x = pdf.l_margin if beside else pdf.l_margin + (pdf.epw - side) / 2
    quiet = QUIET_ZONE * module
    pdf.qr_code(matrix, x + quiet, y + quiet, module)
    if beside:
        text_x, text_w = x + side + 2, pdf.epw - side - 2
        pdf.set_xy(text_x, y + side / 2 - pdf.line_h * 1.6)
        align = "L"
    else:
        text_x, text_w = pdf.l_margin, pdf.epw
        pdf.set_xy(text_x, y + side + 0.5)
        align = "C"
    pdf.bold()
    pdf.mcell(text_w, pdf.line_h, QR_CAPTION, align=align)
    pdf.regular(pdf.body_size - 1.5)
    pdf.mcell(text_w, pdf.line_h * 0.9, QR_NOTE, align=align)
    pdf.mcell(text_w, pdf.line_h * 0.9, f"Mã hồ sơ: {code}", align=align)
    pdf.regular()
    pdf.set_y(max(pdf.get_y(), y + side))
