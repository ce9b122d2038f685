"""commune_client.forms: Form 01/02/03, apology, control slip (PDF) and the spreadsheets.

The PDF checks read the documents back with poppler (`pdftotext`, `pdfinfo`, `pdftoppm`): the
text layer must hold the exact Vietnamese strings, which proves that the bundled font has the
glyphs and that the ToUnicode map is right. `make test` installs poppler-utils.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import segno
from PIL import Image

from commune_client.forms import (
    FormContext,
    apology_pdf,
    control_slip_pdf,
    receipt_pdf,
    refusal_pdf,
    report_xlsx,
    supplement_request_pdf,
    tracking_book_xlsx,
)
from commune_client.forms.example import (
    SAMPLE_CONTEXT,
    sample_dossier,
    sample_payload,
    write_example_png,
)
from commune_client.forms.pdf import FONT_DIR
from commune_client.forms.qr import MIN_MODULE_MM, QUIET_ZONE, make_qr
from commune_client.forms.text import date_line, datetime_vi, time_limit_vi, time_vi
from schemas.dossier import Dossier
from schemas.types import to_record

ROOT = Path(__file__).resolve().parents[2]
MM = 72 / 25.4  # points per mm
GLYPHS = "Đ ư ơ ằ ẫ ệ ổ ữ ỹ"

CTX: FormContext = SAMPLE_CONTEXT


# ---------------------------------------------------------------------------------- helpers


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: apt-get install poppler-utils (`make test` installs it)")
    return path


def _write(pdf: bytes, tmp_path: Path, name: str = "form.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(pdf)
    return path


def pdf_text(pdf: bytes, tmp_path: Path, *, pages: tuple[int, int] | None = None) -> str:
    source = _write(pdf, tmp_path)
    args = [_tool("pdftotext"), "-enc", "UTF-8"]
    if pages:
        args += ["-f", str(pages[0]), "-l", str(pages[1])]
    out = subprocess.run([*args, str(source), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def pdf_info(pdf: bytes, tmp_path: Path) -> dict[str, str]:
    source = _write(pdf, tmp_path)
    out = subprocess.run([_tool("pdfinfo"), str(source)], capture_output=True, check=True)
    info = {}
    for line in out.stdout.decode("utf-8").splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def page_size_mm(pdf: bytes, tmp_path: Path) -> tuple[float, float]:
    size = pdf_info(pdf, tmp_path)["Page size"]  # "419.53 x 595.28 pts (A5)"
    width, height = re.findall(r"[\d.]+", size)[:2]
    return float(width) / MM, float(height) / MM


def pages(pdf: bytes, tmp_path: Path) -> int:
    return int(pdf_info(pdf, tmp_path)["Pages"])


def content_streams(pdf: bytes) -> list[bytes]:
    """The pages' decompressed content streams, in page order (fpdf2 writes pages first)."""
    out = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            data = zlib.decompress(raw)
        except zlib.error:
            data = raw
        if data.startswith(b"2 J"):  # fpdf2 opens every page's content with the line cap
            out.append(data)
    return out


RECT = re.compile(rb"(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) re")


QR_PATH = re.compile(rb" -2\.8346 0 [\d.]+ cm (.*?) f Q", re.S)  # a filled path, in mm


def qr_rects(pdf: bytes) -> tuple[int, list[tuple[float, float, float, float]]]:
    """(page number, module rectangles in mm from the top left) of the QR code's filled path."""
    for page, stream in enumerate(content_streams(pdf), start=1):
        path = QR_PATH.search(stream)
        if path is not None:
            rects = [
                (float(a), float(b), float(c), float(d)) for a, b, c, d in RECT.findall(path[1])
            ]
            return page, rects
    raise AssertionError("no QR code path in the PDF")


def words(pdf: bytes, tmp_path: Path, page: int) -> list[tuple[float, float, float, float, str]]:
    """Word boxes (x0, y0, x1, y1 in mm from the top left) of one page, from pdftotext -bbox."""
    source = _write(pdf, tmp_path)
    out = subprocess.run(
        [_tool("pdftotext"), "-bbox", "-f", str(page), "-l", str(page), str(source), "-"],
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
    return [
        (float(a) / MM, float(b) / MM, float(c) / MM, float(d) / MM, text)
        for a, b, c, d, text in re.findall(pattern, out)
    ]


def dossier(**changes: Any) -> dict[str, Any]:
    """The sample dossier with changes, validated as a `Dossier` record (what others pass)."""
    data = {**sample_dossier(), **changes}
    return to_record(Dossier.model_validate(data))


# ------------------------------------------------------------------------------------- font


def test_fonts_and_licence_are_bundled() -> None:
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LICENSE-DejaVu.txt"):
        assert (FONT_DIR / name).is_file(), name
    licence = (FONT_DIR / "LICENSE-DejaVu.txt").read_text(encoding="utf-8")
    assert "Bitstream" in licence and "Permission is hereby granted" in licence


def test_every_vietnamese_glyph_is_in_the_text_layer(tmp_path: Path) -> None:
    record = dossier(summary=f"Kiểm tra chữ: {GLYPHS} ĐƯƠẰẪỆỔỮỸ")
    text = pdf_text(receipt_pdf(CTX, record, "x"), tmp_path)
    assert GLYPHS in text
    assert "ĐƯƠẰẪỆỔỮỸ" in text
    fonts = subprocess.run(
        [_tool("pdffonts"), str(tmp_path / "form.pdf")], capture_output=True, check=True
    ).stdout.decode()
    assert "DejaVuSansBook" in fonts and "DejaVuSansBold" in fonts
    assert all(" yes yes yes " in line for line in fonts.splitlines()[2:]), fonts  # embedded


# ------------------------------------------------------------------------------- Form 01


def test_receipt_text_layer_has_the_form(tmp_path: Path) -> None:
    pdf = receipt_pdf(CTX, sample_dossier(), sample_payload())
    text = pdf_text(pdf, tmp_path)
    for expected in [
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "UBND TỈNH PHÚ THỌ",
        "Tân Lập, ngày 23 tháng 11 năm 2026",
        "Mã hồ sơ: 000.00.17.H56-261123-0007",
        "Số: 0007",
        "Quyển số: 2026",
        "Số thứ tự: 128",
        "Nguyễn Văn Đức",
        "Số CCCD: 025089001234",
        "Thôn Đồng Xuân, xã Tân Lập, tỉnh Phú Thọ",
        "0912345678",
        "nguyenvanduc@example.vn",
        "Đăng ký khai sinh",
        "Nguyễn Ngọc Ánh",
        "STT",
        "Tên giấy tờ",
        "Bản sao",
        "Giấy chứng sinh",
        "Căn cước công dân của người đi đăng ký",
        "01 bộ",
        "1 ngày làm việc",
        "09 giờ 15 phút, ngày 23/11/2026",
        "09 giờ 15 phút, ngày 25/11/2026",
        "Bộ phận một cửa",
        "Dịch vụ bưu chính",
        "NGƯỜI TIẾP NHẬN HỒ SƠ",
        "(Ký, ghi rõ họ tên)",
        "Trần Thị Thu Hằng",
        "Quét mã để kiểm tra biên nhận",
        "Biên nhận có chữ ký số của cán bộ tiếp nhận",
    ]:
        assert expected in text, expected
    assert "Bản chính" in text.replace("\n", " ")  # the heading wraps in its narrow column
    assert "\u2612 Bộ phận một cửa" in text  # ☒ the desk, ☐ the post
    assert "\u2610 Dịch vụ bưu chính" in text


def test_receipt_variants(tmp_path: Path) -> None:
    record = dossier(
        return_via="post",
        representative={"name": "Lê Thị Hường", "id_kind": 1, "id_number": "001190012345"},
        procedure={**sample_dossier()["procedure"], "time_limit": 0, "fee": 2000},
        fees=[{"name": "Lệ phí chứng thực", "amount": 2000}],
        due_at=None,
    )
    text = pdf_text(receipt_pdf(CTX, record, "x"), tmp_path)
    assert "\u2612 Dịch vụ bưu chính" in text
    assert "Lê Thị Hường" in text
    assert "Giải quyết ngay" in text and "Trả kết quả ngay" in text
    assert "2.000 đồng" in text


def test_receipt_is_a5_portrait(tmp_path: Path) -> None:
    pdf = receipt_pdf(CTX, sample_dossier(), sample_payload())
    width, height = page_size_mm(pdf, tmp_path)
    assert abs(width - 148) < 0.3 and abs(height - 210) < 0.3
    assert b"/MediaBox [0 0 419.53 595.28]" in pdf


def test_pdfs_are_deterministic(tmp_path: Path) -> None:
    first = receipt_pdf(CTX, sample_dossier(), sample_payload())
    assert first == receipt_pdf(CTX, sample_dossier(), sample_payload())
    info = pdf_info(first, tmp_path)
    assert info["CreationDate"].startswith("Mon Nov 23 ")  # from received_at, not the clock
    later = dossier(received_at="2026-11-24T08:00:00+07:00", due_at="2026-11-25T08:00:00+07:00")
    assert receipt_pdf(CTX, later, sample_payload()) != first
    at = "2026-11-23T10:00:00+07:00"
    notice = refusal_pdf(CTX, sample_dossier(), reason="Không đủ điều kiện", officer="A", at=at)
    assert notice == refusal_pdf(
        CTX, sample_dossier(), reason="Không đủ điều kiện", officer="A", at=at
    )
    rows = [{"step": "Tiếp nhận", "from": "A", "to": "B", "at": at}]
    assert control_slip_pdf(CTX, sample_dossier(), rows) == control_slip_pdf(
        CTX, sample_dossier(), rows
    )


def test_receipt_renders_to_a_readable_png(tmp_path: Path) -> None:
    source = _write(receipt_pdf(CTX, sample_dossier(), sample_payload()), tmp_path)
    subprocess.run(
        [_tool("pdftoppm"), "-png", "-r", "110", "-singlefile", str(source), str(tmp_path / "p")],
        check=True,
    )
    png = tmp_path / "p.png"
    assert png.is_file() and png.stat().st_size > 20_000
    with Image.open(png) as image:
        assert (
            abs(image.width - 148 / 25.4 * 110) <= 2 and abs(image.height - 210 / 25.4 * 110) <= 2
        )
        gray = image.convert("L")
        dark = sum(gray.histogram()[:128])
    assert 0.01 < dark / (gray.width * gray.height) < 0.5  # text, not blank, not a black page


def test_docs_example_png(tmp_path: Path) -> None:
    png = write_example_png(tmp_path / "example.png")
    assert 20_000 < png.stat().st_size < 300_000
    with Image.open(png) as image:
        assert image.width > image.height  # the pages side by side
    docs = ROOT / "docs" / "receipt-example.png"
    assert docs.is_file() and docs.stat().st_size < 300_000, (
        "python -m commune_client.forms.example"
    )


def test_long_text_and_fifteen_documents_flow(tmp_path: Path) -> None:
    names = [
        f"Giấy tờ số {i}: bản kê khai chi tiết thông tin về nhân thân, nơi cư trú"
        for i in range(1, 16)
    ]
    summary = " ".join(
        ["Đề nghị xác nhận hộ gia đình làm nông nghiệp có mức sống trung bình."] * 12
    )
    record = dossier(
        documents=[{"name": name, "originals": 1, "copies": i % 3} for i, name in enumerate(names)],
        summary=summary[:1000],
        sets=2,
    )
    pdf = receipt_pdf(CTX, record, sample_payload())
    assert pages(pdf, tmp_path) <= 3
    text = " ".join(pdf_text(pdf, tmp_path).split())
    for i in range(1, 16):
        assert f"Giấy tờ số {i}:" in text
    assert "02 bộ" in text
    assert text.count("mức sống trung bình.") == 12  # wrapped, nothing cut off


# ------------------------------------------------------------------------------------- QR


def test_qr_matches_segno_and_is_printable(tmp_path: Path) -> None:
    payload = sample_payload()
    symbol = segno.make(payload, error="m", micro=False)
    assert isinstance(symbol.version, int) and symbol.version <= 40 and symbol.error == "M"
    ours = make_qr(payload)
    assert (ours.version, ours.error) == (symbol.version, "M")

    pdf = receipt_pdf(CTX, sample_dossier(), payload)
    page, rects = qr_rects(pdf)
    assert len(rects) > 500  # the modules are drawn as vector rectangles
    module = rects[0][3]
    assert module >= MIN_MODULE_MM
    assert all(abs(h - module) < 1e-6 for *_, h in rects)
    dark = sum(w * h for _, _, w, h in rects) / module**2
    assert round(dark) == sum(sum(1 for cell in row if cell) for row in symbol.matrix)
    x0 = min(x for x, *_ in rects)
    y0 = min(y for _, y, *_ in rects)
    x1 = max(x + w for x, _, w, _ in rects)
    y1 = max(y + h for _, y, _, h in rects)
    assert abs((x1 - x0) / module - symbol.symbol_size(border=0)[0]) < 1e-3
    quiet = QUIET_ZONE * module
    width, height = page_size_mm(pdf, tmp_path)
    assert x0 - quiet >= 0 and y0 - quiet >= 0 and x1 + quiet <= width and y1 + quiet <= height
    for wx0, wy0, wx1, wy1, word in words(pdf, tmp_path, page):
        apart = wx1 <= x0 - quiet or wx0 >= x1 + quiet or wy1 <= y0 - quiet or wy0 >= y1 + quiet
        assert apart, f"{word!r} lies in the QR code's quiet zone"


@pytest.mark.parametrize("size", [1, 40, 200, 800, 1600, 2331, 2332, 2953])
def test_qr_levels_and_module_size(size: int) -> None:
    symbol = make_qr("a" * size)  # byte mode, like a JSON receipt
    assert symbol.module_mm >= MIN_MODULE_MM
    if size > 2331:  # more than a version 40 code holds at level M
        assert symbol.error == "L"
    else:
        assert symbol.error in ("M", "Q", "H")  # segno raises the level when it is free


def test_short_payload_fits_on_one_page(tmp_path: Path) -> None:
    """A small code goes between the two signatures, so a short receipt stays on one page."""
    record = dossier(documents=[{"name": "Tờ khai", "originals": 1, "copies": 0}], summary=None)
    payload = "https://hub.example.vn/r/000.00.17.H56-261123-0007"
    pdf = receipt_pdf(CTX, record, payload)
    assert pages(pdf, tmp_path) == 1
    page, rects = qr_rects(pdf)
    module = rects[0][3]
    assert page == 1 and module >= MIN_MODULE_MM
    dark = sum(w * h for _, _, w, h in rects) / module**2
    matrix = segno.make(payload, error="m", micro=False).matrix
    assert round(dark) == sum(sum(1 for cell in row if cell) for row in matrix)
    x0 = min(x for x, *_ in rects)
    x1 = max(x + w for x, _, w, _ in rects)
    y0 = min(y for _, y, *_ in rects)
    y1 = max(y + h for _, y, _, h in rects)
    quiet = QUIET_ZONE * module
    for wx0, wy0, wx1, wy1, word in words(pdf, tmp_path, page):
        apart = wx1 <= x0 - quiet or wx0 >= x1 + quiet or wy1 <= y0 - quiet or wy0 >= y1 + quiet
        assert apart, f"{word!r} lies in the QR code's quiet zone"
    text = pdf_text(pdf, tmp_path)
    assert "Quét mã để kiểm tra biên nhận" in text and "Trần Thị Thu Hằng" in text


def test_too_long_payload_raises() -> None:
    with pytest.raises(ValueError, match="QR"):
        receipt_pdf(CTX, sample_dossier(), "x" * 4000)
    with pytest.raises(ValueError, match="QR"):
        make_qr("")


# --------------------------------------------------------------------------------- notices


def test_supplement_request(tmp_path: Path) -> None:
    pdf = supplement_request_pdf(
        CTX,
        sample_dossier(),
        reason="Giấy chứng sinh bị tẩy xóa, không đọc được ngày sinh.",
        documents=["Giấy chứng sinh (bản chính) cấp lại", "Tờ khai có đủ chữ ký"],
        officer="Trần Thị Thu Hằng",
        at="2026-11-23T09:40:00+07:00",
    )
    assert page_size_mm(pdf, tmp_path) == pytest.approx((148, 210), abs=0.3)
    text = pdf_text(pdf, tmp_path)
    for expected in [
        "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
        "Nguyễn Văn Đức",
        "Đăng ký khai sinh",
        "000.00.17.H56-261123-0007",
        "1. Giấy chứng sinh (bản chính) cấp lại",
        "2. Tờ khai có đủ chữ ký",
        "Giấy chứng sinh bị tẩy xóa",
        "Tân Lập, ngày 23 tháng 11 năm 2026",
        "Trần Thị Thu Hằng",
    ]:
        assert expected in text, expected


def test_refusal(tmp_path: Path) -> None:
    reason = "Hồ sơ không thuộc thẩm quyền giải quyết của xã."
    pdf = refusal_pdf(
        CTX, sample_dossier(), reason=reason, officer="Lê Văn Ổn", at="2026-11-23T09:40:00+07:00"
    )
    text = pdf_text(pdf, tmp_path)
    for expected in [
        "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
        reason,
        "Lê Văn Ổn",
        "Nguyễn Văn Đức",
    ]:
        assert expected in text, expected


def test_apology(tmp_path: Path) -> None:
    pdf = apology_pdf(
        CTX,
        sample_dossier(),
        reason="Phần mềm hộ tịch gián đoạn kết nối.",
        new_due="2026-11-25T15:00:00+07:00",
        officer="Phạm Quốc Bảo",
        at="2026-11-24T08:00:00+07:00",
    )
    text = pdf_text(pdf, tmp_path)
    for expected in [
        "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
        "Kính gửi: Ông/Bà Nguyễn Văn Đức",
        "Phần mềm hộ tịch gián đoạn kết nối.",
        "15 giờ 00 phút, ngày 25/11/2026",
        "Tân Lập, ngày 24 tháng 11 năm 2026",
        "Phạm Quốc Bảo",
    ]:
        assert expected in text, expected


# ---------------------------------------------------------------------------- control slip


def test_control_slip(tmp_path: Path) -> None:
    rows: list[Mapping[str, Any]] = [
        {
            "step": "Tiếp nhận hồ sơ",
            "from": "Bộ phận một cửa",
            "to": "Công chức Tư pháp - Hộ tịch",
            "at": "2026-11-23T10:02:00+07:00",
            "due": "2026-11-23T11:15:00+07:00",
            "timeliness": "early",
            "note": "",
        },
        {
            "step": "Trình ký",
            "from": "Công chức Tư pháp - Hộ tịch",
            "to": "Phó Chủ tịch UBND xã",
            "at": "2026-11-24T08:30:00+07:00",
            "due": "2026-11-24T08:00:00+07:00",
            "timeliness": "late",
            "note": "Chờ xác minh với bệnh viện",
        },
        {
            "step": "Trả kết quả",
            "from": "Văn phòng UBND xã",
            "to": "Bộ phận một cửa",
            "at": "2026-11-24T09:10:00+07:00",
            "due": "2026-11-24T09:15:00+07:00",
            "timeliness": "on_time",
            "note": None,
        },
        {
            "step": "Lưu hồ sơ",
            "from": "Bộ phận một cửa",
            "to": "Lưu trữ",
            "at": "2026-11-24T10:00:00+07:00",
            "due": None,
            "timeliness": None,
            "note": "Đã số hóa",
        },
    ]
    pdf = control_slip_pdf(CTX, sample_dossier(), rows)
    assert page_size_mm(pdf, tmp_path) == pytest.approx((210, 297), abs=0.3)
    text = pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    for expected in [
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
        "Tên cơ quan/bộ phận giao",
        "Thời gian giao,",
        "Kết quả",
        "Trước hạn",
        "Quá hạn",
        "Đúng hạn",
        "Giao: Công chức Tư pháp",  # pdftotext drops a hyphen that ends a line
        "Nhận: Phó Chủ tịch UBND xã",
        "08 giờ 30 phút",
        "ngày 24/11/2026",
        "Chờ xác minh với bệnh viện",
        "Nguyễn Văn Đức",
        "Đã tiếp nhận",
    ]:
        assert expected in text or expected in flat, expected
    many = control_slip_pdf(CTX, sample_dossier(), rows * 12)
    assert pages(many, tmp_path) >= 2  # rows break across pages with the headings repeated
    assert pdf_text(many, tmp_path).count("Tên cơ quan/bộ phận giao") == pages(many, tmp_path)


# ---------------------------------------------------------------------------- spreadsheets


def test_tracking_book() -> None:
    dossiers = [
        sample_dossier(),
        dossier(
            code="000.00.17.H56-261123-0008",
            book_row=129,
            status="returned",
            resolved_at="2026-11-24T08:45:00+07:00",
            returned_at="2026-11-24T10:00:00+07:00",
            supplement_rounds=1,
        ),
        dossier(
            code="000.00.17.H56-261123-0009",
            book_row=None,
            status="refused",
            refused_at="2026-11-23T10:00:00+07:00",
        ),
    ]
    wb = openpyxl.load_workbook(io.BytesIO(tracking_book_xlsx(CTX, dossiers)))
    ws = wb.active
    values = list(ws.iter_rows(values_only=True))
    assert values[0][0] == "UBND TỈNH PHÚ THỌ"
    assert values[1][0] == "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG XÃ TÂN LẬP"
    assert values[3][0] == "SỔ THEO DÕI HỒ SƠ"
    header = values[5]
    assert header == (
        "STT",
        "Mã hồ sơ",
        "Tên TTHC",
        "Chủ hồ sơ",
        "Số CCCD",
        "Địa chỉ",
        "Số điện thoại",
        "Ngày nhận",
        "Ngày hẹn trả",
        "Ngày chuyển/kết quả",
        "Ngày trả kết quả",
        "Trạng thái",
        "Ghi chú",
    )
    body = values[6:]
    assert len(body) == 3 and ws.max_row == 6 + 3
    first, second, third = body
    assert first[:5] == (
        128,
        "000.00.17.H56-261123-0007",
        "Đăng ký khai sinh",
        "Nguyễn Văn Đức",
        "025089001234",
    )
    assert first[7:9] == ("23/11/2026 09:15", "25/11/2026 09:15")
    assert first[11] == "Đã tiếp nhận"
    assert second[9:12] == ("24/11/2026 08:45", "24/11/2026 10:00", "Đã trả kết quả")
    assert "Bổ sung hồ sơ 1 lần" in second[12]
    assert (
        third[0] == 3
        and third[11] == "Từ chối tiếp nhận"
        and "Từ chối 23/11/2026 10:00" in third[12]
    )
    assert ws.freeze_panes == "C7"
    assert ws.column_dimensions["B"].width >= 20 and ws.column_dimensions["F"].width >= 20


def _group(n: int) -> dict[str, Any]:
    return {
        "received": {"total": n + 3, "online": n, "direct_or_postal": 2, "carried_over": 1},
        "resolved": {"total": n, "early": n - 2, "on_time": 1, "late": 1},
        "pending": {"total": 3, "within_deadline": 2, "overdue": 1},
        "withdrawn": 1,
    }


def test_report_bieu_06() -> None:
    report = {
        "total": _group(30),
        "by_field": [{"field": "Hộ tịch", **_group(20)}, {"field": "Chứng thực", **_group(10)}],
    }
    data = report_xlsx(CTX, report, period_from="2026-10-01", period_to="2026-12-31T23:59:59+07:00")
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    cells = {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
    texts = set(cells.values())
    assert "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH" in texts
    assert "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG XÃ TÂN LẬP" in texts
    assert "Kỳ báo cáo: từ ngày 01/10/2026 đến ngày 31/12/2026" in texts
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A7:A8", "B7:B8", "C7:F7", "G7:J7", "K7:M7", "N7:N8"} <= merged
    assert (cells["A7"], cells["B7"], cells["N7"]) == ("STT", "Lĩnh vực", "Rút hồ sơ")
    assert cells["C7"] == "Số hồ sơ nhận giải quyết"
    assert cells["G7"] == "Số hồ sơ đã giải quyết"
    assert cells["K7"] == "Số hồ sơ đang giải quyết"
    sub = [ws.cell(row=8, column=c).value for c in range(3, 14)]
    assert sub == [
        "Tổng số",
        "Trong kỳ: Trực tuyến",
        "Trong kỳ: Trực tiếp, dịch vụ bưu chính",
        "Từ kỳ trước",
        "Tổng số",
        "Trả trước hạn",
        "Trả đúng hạn",
        "Trả quá hạn",
        "Tổng số",
        "Chưa đến hạn",
        "Quá hạn",
    ]
    rows = {ws.cell(row=r, column=2).value: r for r in range(10, ws.max_row + 1)}
    assert list(rows)[:3] == ["Hộ tịch", "Chứng thực", "Tổng cộng"]
    total = [ws.cell(row=rows["Tổng cộng"], column=c).value for c in range(3, 15)]
    assert total == [33, 30, 2, 1, 30, 28, 1, 1, 3, 2, 1, 1]
    assert ws.cell(row=rows["Hộ tịch"], column=1).value == 1
    assert ws.cell(row=rows["Tổng cộng"], column=2).font.bold

    flat = {**_group(30), "by_field": report["by_field"], "period": {"from": "2026-10-01"}}
    data = report_xlsx(CTX, flat, period_from="2026-10-01", period_to="2026-12-31")
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    last = [ws.cell(row=rows["Tổng cộng"], column=c).value for c in range(2, 15)]
    assert last == ["Tổng cộng", *total]  # the total's counts at the top level work too


def test_sparse_context_and_dossier_still_render(tmp_path: Path) -> None:
    """An office that has not set its names yet, a dossier with only the required fields."""
    ctx = FormContext(
        parent_agency="",
        unit_name="UBND XÃ TÂN LẬP",
        office_code="H56.14",
        place="",
        officer_name="",
    )
    record = dossier(
        applicant={"name": "Hà Thị Ỹ", "id_number": "025089001234"},
        documents=[],
        summary=None,
        book_row=None,
        due_at=None,
    )
    text = pdf_text(receipt_pdf(ctx, record, "x"), tmp_path)
    assert "Ngày 23 tháng 11 năm 2026" in text and "Hà Thị Ỹ" in text
    assert "(Không có giấy tờ kèm theo)" in text
    rows = [{"step": "Tiếp nhận", "from": "", "to": "", "at": "2026-11-23T09:15:00+07:00"}]
    assert "Tiếp nhận" in pdf_text(control_slip_pdf(ctx, record, rows), tmp_path)
    empty = " ".join(pdf_text(control_slip_pdf(ctx, record, []), tmp_path).split())
    assert "(Chưa có bước giao, nhận nào)" in empty
    assert tracking_book_xlsx(ctx, []) and report_xlsx(
        ctx, {"total": {}, "by_field": []}, period_from="2026-01-01", period_to="2026-03-31"
    )


# ------------------------------------------------------------------------------ wording


def test_wording_helpers() -> None:
    assert time_vi("2026-11-23T09:15:00+07:00") == "09 giờ 15 phút, ngày 23/11/2026"
    assert time_vi("2026-11-23T02:15:00Z") == "09 giờ 15 phút, ngày 23/11/2026"  # shown in +07
    assert datetime_vi("2026-11-23T09:15:00+07:00") == "23/11/2026 09:15"
    assert date_line("Tân Lập", "2026-02-05T08:00:00+07:00") == "Tân Lập, ngày 05 tháng 02 năm 2026"
    assert date_line("Tân Lập", "2026-11-23T08:00:00+07:00") == "Tân Lập, ngày 23 tháng 11 năm 2026"
    assert date_line("", "2026-11-23T08:00:00+07:00") == "Ngày 23 tháng 11 năm 2026"
    assert time_limit_vi(1, "working_days") == "1 ngày làm việc"
    assert time_limit_vi(15, "calendar_days") == "15 ngày"
    assert time_limit_vi(4, "working_hours") == "4 giờ làm việc"
    assert time_limit_vi(0, "working_days") == "Giải quyết ngay"
