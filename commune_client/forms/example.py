"""A realistic Form 01 for the docs and the demo: `python -m commune_client.forms.example [PNG]`.

Renders the sample receipt (a birth registration at a commune centre, with a receipt-sized QR
payload) to PDF, rasterises every page with poppler's `pdftoppm` at 110 dpi and lays the pages
side by side in one PNG (default `docs/receipt-example.png`). Sample data only: never used in
production paths.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from commune_client.forms.context import FormContext
from commune_client.forms.receipt_form import receipt_pdf

__all__ = [
    "SAMPLE_CONTEXT",
    "render_pages",
    "sample_dossier",
    "sample_payload",
    "write_example_png",
]

SAMPLE_CONTEXT = FormContext(
    parent_agency="UBND TỈNH PHÚ THỌ",
    unit_name="TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG XÃ TÂN LẬP",
    office_code="000.00.17.H56",
    place="Tân Lập",
    officer_name="Trần Thị Thu Hằng",
)


def sample_dossier() -> dict[str, Any]:
    """A `Dossier` record (as `to_record` gives it) just after receipt."""
    return {
        "code": "000.00.17.H56-261123-0007",
        "station": "000.00.17.H56/1",
        "seq": 42,
        "procedure": {
            "code": "1.001193",
            "name": "Đăng ký khai sinh",
            "field": "Hộ tịch",
            "time_limit": 1,
            "time_unit": "working_days",
            "fee": 0,
            "on_the_spot": False,
        },
        "applicant": {
            "name": "Nguyễn Văn Đức",
            "kind": 1,
            "id_kind": 1,
            "id_number": "025089001234",
            "phone": "0912345678",
            "email": "nguyenvanduc@example.vn",
            "address": "Thôn Đồng Xuân, xã Tân Lập, tỉnh Phú Thọ",
        },
        "channel": "direct",
        "summary": "Đăng ký khai sinh cho con là Nguyễn Ngọc Ánh, sinh ngày 02/11/2026 tại "
        "Bệnh viện Đa khoa tỉnh Phú Thọ",
        "status": "received",
        "received_at": "2026-11-23T09:15:00+07:00",
        "due_at": "2026-11-25T09:15:00+07:00",
        "due_inputs": {
            "time_limit": 1,
            "time_unit": "working_days",
            "calendar_version": "vn-2026.1",
            "cutoff": "17:00",
            "office_hours": ["07:00-11:30", "13:30-17:00"],
        },
        "documents": [
            {"name": "Tờ khai đăng ký khai sinh (theo mẫu)", "originals": 1, "copies": 0},
            {"name": "Giấy chứng sinh", "originals": 1, "copies": 0},
            {"name": "Căn cước công dân của người đi đăng ký", "originals": 0, "copies": 1},
        ],
        "sets": 1,
        "fees": [],
        "return_via": "desk",
        "book_row": 128,
        "supplement_rounds": 0,
        "paused_seconds": 0,
        "conflicts": 0,
        "version": 1,
    }


def _b64(label: str, size: int = 32) -> str:
    digest = hashlib.sha512(label.encode()).digest()[:size]
    return base64.b64encode(digest).decode()


def sample_payload() -> str:
    """A receipt-shaped QR payload (~1.6 KB; DESIGN aims at < 1.8 KB): fake keys, real shape."""
    dossier = sample_dossier()
    data = {k: dossier[k] for k in ("procedure", "applicant", "documents", "received_at")}
    event = {
        "type": "commune.event/v1",
        "station": dossier["station"],
        "seq": dossier["seq"],
        "prev": _b64("prev"),
        "claimed_time": dossier["received_at"],
        "officer": _b64("officer", 8),
        "dossier": dossier["code"],
        "action": "receive",
        "data": {**data, "due_at": dossier["due_at"], "book_row": dossier["book_row"]},
        "sig": _b64("sig", 64),
    }
    origin = "hub.example.vn/office/000.00.17.H56/1/e0"
    proof = "\n".join(
        [
            "c2sp.org/tlog-proof@v1",
            f"index {dossier['seq']}",
            *(_b64(f"path{i}") for i in range(6)),
            "",
            origin,
            "43",
            _b64("root"),
            "",
            f"— {origin} {_b64('checkpoint', 68)}",
        ]
    )
    receipt = {"type": "commune.receipt/v1", "event": event, "proof": proof}
    return json.dumps(receipt, ensure_ascii=False, separators=(",", ":"))


def render_pages(pdf: bytes, *, dpi: int = 110) -> list[Image.Image]:
    """Rasterise every page with poppler's `pdftoppm` (RuntimeError if it is not installed)."""
    if shutil.which("pdftoppm") is None:
        raise RuntimeError("pdftoppm not found: apt-get install poppler-utils")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "form.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-gray", "-r", str(dpi), str(source), str(Path(tmp) / "page")],
            check=True,
        )
        pages = []
        for path in sorted(Path(tmp).glob("page-*.png")):
            with Image.open(path) as image:
                pages.append(image.convert("L"))
        return pages


def write_example_png(path: Path) -> Path:
    """Render the sample Form 01 and write all its pages side by side as one PNG."""
    pdf = receipt_pdf(SAMPLE_CONTEXT, sample_dossier(), sample_payload())
    pages = render_pages(pdf)
    gap = 12
    width = sum(page.width for page in pages) + gap * (len(pages) + 1)
    height = max(page.height for page in pages) + 2 * gap
    sheet = Image.new("L", (width, height), 150)
    x = gap
    for page in pages:
        sheet.paste(page, (x, gap))
        x += page.width + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG", optimize=True)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path("docs/receipt-example.png")
    write_example_png(target)
    print(f"{target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
