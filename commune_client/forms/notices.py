"""Desk notices on A5: Form 02 (supplement request), Form 03 (refusal), apology and new date."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from commune_client.forms.context import FormContext
from commune_client.forms.pdf import A5, FormPDF, Signature
from commune_client.forms.text import BLANK, date_line, t, time_limit_vi, time_vi

__all__ = [
    "APOLOGY_TITLE",
    "REFUSAL_TITLE",
    "SUPPLEMENT_TITLE",
    "apology_pdf",
    "refusal_pdf",
    "supplement_request_pdf",
]

SUPPLEMENT_TITLE = "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ"
REFUSAL_TITLE = "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ"
APOLOGY_TITLE = "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ"


def _start(ctx: FormContext, dossier: Mapping[str, Any], title: str, at: str) -> FormPDF:
    code = t(dossier.get("code"))
    pdf = FormPDF(
        ctx,
        page=A5,
        title=title,
        created=at,
        footer=f"Mã hồ sơ {code}",
        continued=f"{title} - Mã hồ sơ {code}",
    )
    pdf.national_header(None, date_line(ctx.place, at))
    pdf.form_title(title)
    return pdf


def _who(dossier: Mapping[str, Any]) -> str:
    applicant: Mapping[str, Any] = dossier.get("applicant", {})
    return "Ông/Bà" if applicant.get("kind", 1) == 1 else "Quý cơ quan, tổ chức"


def _dossier_lines(pdf: FormPDF, dossier: Mapping[str, Any]) -> None:
    applicant: Mapping[str, Any] = dossier.get("applicant", {})
    procedure: Mapping[str, Any] = dossier.get("procedure", {})
    pdf.field("Tiếp nhận hồ sơ của", t(applicant.get("name")) or BLANK)
    pdf.field("Mã hồ sơ", t(dossier.get("code")))
    pdf.field("Nội dung yêu cầu giải quyết", t(procedure.get("name")) or BLANK)
    pdf.field("Thời gian nhận hồ sơ", time_vi(dossier.get("received_at")), bold_value=False)
    pdf.gap(0.5)


def _numbered(pdf: FormPDF, items: Sequence[str]) -> None:
    for i, item in enumerate(items, start=1):
        pdf.set_x(pdf.l_margin + 4)
        pdf.mcell(pdf.epw - 4, pdf.line_h, f"{i}. {t(item)}")


def supplement_request_pdf(
    ctx: FormContext,
    dossier: Mapping[str, Any],
    *,
    reason: str,
    documents: list[str],
    officer: str,
    at: str,
) -> bytes:
    """Form 02: what the applicant must supply (`documents`) and why; `at` is RFC 3339."""
    pdf = _start(ctx, dossier, SUPPLEMENT_TITLE, at)
    who = _who(dossier)
    _dossier_lines(pdf, dossier)
    pdf.paragraph(
        f"Sau khi xem xét thành phần hồ sơ, đề nghị {who} bổ sung, hoàn thiện hồ sơ gồm những "
        "nội dung sau:"
    )
    _numbered(pdf, documents or ["Theo lý do nêu dưới đây."])
    pdf.gap(0.3)
    pdf.field("Lý do", t(reason), bold_value=False)
    pdf.gap(0.3)
    pdf.paragraph(
        f"Thời gian bổ sung hồ sơ không tính vào thời hạn giải quyết. Trong quá trình hoàn thiện "
        f"hồ sơ, nếu có vướng mắc, {who} liên hệ với {t(officer)} tại {t(ctx.unit_name)} để được "
        "hướng dẫn."
    )
    pdf.paragraph("Xin trân trọng cảm ơn!")
    pdf.gap(0.8)
    pdf.signatures([None, Signature("NGƯỜI HƯỚNG DẪN", t(officer))])
    return bytes(pdf.output())


def refusal_pdf(
    ctx: FormContext, dossier: Mapping[str, Any], *, reason: str, officer: str, at: str
) -> bytes:
    """Form 03: the dossier is not accepted for processing, with the reason."""
    pdf = _start(ctx, dossier, REFUSAL_TITLE, at)
    who = _who(dossier)
    _dossier_lines(pdf, dossier)
    pdf.paragraph(
        f"Qua xem xét, {t(ctx.unit_name)} thông báo không tiếp nhận, giải quyết hồ sơ này với "
        "lý do cụ thể như sau:"
    )
    pdf.paragraph(t(reason), indent=4)
    pdf.gap(0.3)
    pdf.paragraph(f"Xin thông báo để {who} được biết và thực hiện./.")
    pdf.gap(0.8)
    pdf.signatures([None, Signature("NGƯỜI TIẾP NHẬN HỒ SƠ", t(officer))])
    return bytes(pdf.output())


def apology_pdf(
    ctx: FormContext,
    dossier: Mapping[str, Any],
    *,
    reason: str,
    new_due: str,
    officer: str,
    at: str,
) -> bytes:
    """The apology for a late dossier with the new appointment (`new_due`, RFC 3339)."""
    pdf = _start(ctx, dossier, APOLOGY_TITLE, at)
    applicant: Mapping[str, Any] = dossier.get("applicant", {})
    procedure: Mapping[str, Any] = dossier.get("procedure", {})
    who = _who(dossier)
    unit = t(ctx.unit_name)
    pdf.bold()
    pdf.mcell(0, pdf.line_h, f"Kính gửi: {who} {t(applicant.get('name'))}", align="C")
    pdf.regular()
    pdf.gap(0.5)
    limit = time_limit_vi(int(procedure.get("time_limit", 0)), str(procedure.get("time_unit")))
    pdf.paragraph(
        f"Ngày {time_vi(dossier.get('received_at')).split('ngày ')[-1]}, {unit} tiếp nhận giải "
        f"quyết hồ sơ của {who}, mã hồ sơ {t(dossier.get('code'))}, về việc: "
        f"{t(procedure.get('name'))}. Thời hạn giải quyết theo quy định: {limit}; thời gian hẹn "
        f"trả kết quả: {time_vi(dossier.get('due_at'))}."
    )
    pdf.gap(0.3)
    pdf.paragraph(
        f"Tuy nhiên, đến nay hồ sơ của {who} chưa được giải quyết xong đúng hẹn ghi trên Giấy "
        "tiếp nhận hồ sơ và hẹn trả kết quả."
    )
    pdf.field("Lý do", t(reason), bold_value=False)
    pdf.gap(0.3)
    pdf.paragraph(
        f"Sự chậm trễ này đã gây phiền hà, tốn kém chi phí, công sức của {who}. {unit} xin lỗi "
        f"{who} và hẹn lại thời gian trả kết quả vào:"
    )
    pdf.bold()
    pdf.mcell(0, pdf.line_h, time_vi(new_due), align="C")
    pdf.regular()
    pdf.gap(0.3)
    pdf.paragraph(f"Xin trân trọng cảm ơn sự hợp tác của {who}./.")
    pdf.gap(0.8)
    pdf.signatures([None, Signature("ĐẠI DIỆN ĐƠN VỊ", t(officer))])
    return bytes(pdf.output())
