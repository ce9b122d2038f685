"""The receipt shown right after a dossier is received: the code in large type, applicant,
procedure, received and due times, the QR drawn in the terminal, and three actions:

- F7 "In biên nhận": writes Form 01 to `<data_dir>/receipts/<code>.pdf` in a worker thread,
  then hands it to the system without waiting (`os.startfile` on Windows; `xdg-open` on a
  desktop, i.e. when DISPLAY or WAYLAND_DISPLAY is set; otherwise `lp` if installed), and
  tells the officer where the file is. Opening never blocks and never crashes the app.
- F6 "Tiếp nhận hồ sơ mới": closes the receipt for the next citizen (dismisses with "new").
- Escape: closes it (dismisses with "close").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label

from commune_client.deadlines import format_vn, parse_rfc3339
from commune_client.printing import write_form
from commune_client.receipts import qr_payload
from commune_client.tui.i18n import t
from commune_client.tui.opener import hand_to_system
from commune_client.tui.widgets.qr import QrPanel

if TYPE_CHECKING:
    from commune_client.tui.app import CommuneApp

__all__ = ["ReceiptPreview", "hand_to_system", "id_kind_label"]


def id_kind_label(kind: int) -> str:
    if kind == 1:
        return "CCCD"
    if kind == 2:
        return "CMND"
    return t("Hộ chiếu")


class ReceiptPreview(ModalScreen[str]):
    """The receipt of `result` (what `desk.receive` returned)."""

    DEFAULT_CSS = """
    ReceiptPreview {
        align: center middle;
    }
    ReceiptPreview #receipt {
        width: 110;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $success;
        background: $panel;
        padding: 0 1;
    }
    ReceiptPreview #receipt-title {
        text-style: bold;
        color: $success;
    }
    ReceiptPreview #receipt-code {
        width: 100%;
        border: heavy $success;
        text-align: center;
        text-style: bold;
        color: $text;
    }
    ReceiptPreview #receipt-due {
        text-style: bold;
    }
    ReceiptPreview #receipt-actions {
        height: auto;
        margin: 1 0 0 0;
    }
    ReceiptPreview #receipt-actions Button {
        margin-right: 1;
    }
    """

    BINDINGS = [
        Binding("f7", "print_receipt", "In biên nhận"),
        Binding("f6", "new_dossier", "Tiếp nhận hồ sơ mới"),
        Binding("escape", "close", "Đóng"),
    ]

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.result = result
        self.code = str(result["code"])
        self.payload = qr_payload(result["receipt"])
        self.printed: Path | None = None
        self._bindings.key_to_bindings["f7"] = [Binding("f7", "print_receipt", t("In biên nhận"))]
        self._bindings.key_to_bindings["f6"] = [
            Binding("f6", "new_dossier", t("Tiếp nhận hồ sơ mới"))
        ]
        self._bindings.key_to_bindings["escape"] = [Binding("escape", "close", t("Đóng"))]

    def compose(self) -> ComposeResult:
        data = self.result["receipt"]["event"]["data"]
        applicant, procedure = data["applicant"], data["procedure"]
        due_at = self.result.get("due_at") or data.get("due_at")
        with VerticalScroll(id="receipt"):
            yield Label(t("Đã tiếp nhận hồ sơ — biên nhận"), id="receipt-title")
            yield Label(self.code, id="receipt-code")
            yield Label(
                t(
                    "Người nộp: {name} — {kind} {number}",
                    name=applicant["name"],
                    kind=id_kind_label(int(applicant["id_kind"])),
                    number=applicant["id_number"],
                ),
                markup=False,
            )
            yield Label(
                t("Thủ tục: {code} {name}", code=procedure["code"], name=procedure["name"]),
                markup=False,
            )
            yield Label(
                t("Tiếp nhận: {at}", at=format_vn(parse_rfc3339(data["received_at"]))),
                id="receipt-received",
            )
            yield Label(
                t("Hẹn trả: {due}", due=format_vn(parse_rfc3339(due_at)))
                if due_at
                else t("Hẹn trả: không có"),
                id="receipt-due",
            )
            with Horizontal(id="receipt-actions"):
                yield Button(t("In biên nhận (F7)"), variant="primary", id="print")
                yield Button(t("Hồ sơ mới (F6)"), id="new")
                yield Button(t("Đóng (Esc)"), id="close")
            yield QrPanel(self.payload, collapsed=self.app.size.width < 120, id="qr")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#print", Button).focus()

    @property
    def commune(self) -> CommuneApp:
        return cast("CommuneApp", self.app)

    # -- actions --------------------------------------------------------------------------------
    @on(Button.Pressed, "#print")
    def action_print_receipt(self) -> None:
        self.notify(t("Đang tạo tệp biên nhận…"), timeout=3)
        self._print()

    @work(thread=True, exclusive=True, group="print")
    def _print(self) -> None:
        from commune_client.tui.screens.base import error_text

        desk = self.commune.desk
        path = desk.data_dir / "receipts" / f"{self.code}.pdf"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            desk.call(write_form, desk.open(), self.code, "receipt", path)
        except Exception as exc:  # shown to the officer; the receipt stays on screen
            self.app.call_from_thread(self.notify, error_text(exc), severity="error", timeout=8)
            return
        how = hand_to_system(path)
        self.app.call_from_thread(self._printed, path, how)

    def _printed(self, path: Path, how: str) -> None:
        self.printed = path
        if how == "opened":
            message = t("Đã tạo và mở biên nhận: {path}", path=str(path))
        elif how == "printed":
            message = t("Đã gửi biên nhận tới máy in: {path}", path=str(path))
        else:
            message = t("Đã lưu biên nhận: {path}", path=str(path))
        self.notify(message, timeout=10, markup=False)

    @on(Button.Pressed, "#new")
    def action_new_dossier(self) -> None:
        self.dismiss("new")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss("close")
