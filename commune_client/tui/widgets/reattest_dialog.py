"""F4 on the Intake screen of a replacement PC (a station's epoch >= 1): re-attest a receipt
the lost PC issued after its last synced checkpoint (`commune_client.reattest`).

The officer scans the QR code of the citizen's old receipt (a scanner types its text into the
field) or pastes the receipt; F6 checks it against the station's trust kit in a worker and, if
it is one of the lost PC's, records the same dossier in this PC's log and closes with the
result, which the Intake screen shows as a new receipt. Anything else is refused in a line
under the field, and the field keeps what was typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label

from commune_client.reattest import reattest
from commune_client.tui.i18n import t
from commune_client.tui.screens.base import error_text
from ledger.errors import ReceiptError
from ledger.receipt import parse_receipt_input

if TYPE_CHECKING:
    from commune_client.tui.app import CommuneApp

__all__ = ["ReattestDialog"]


class ReattestDialog(ModalScreen[dict[str, Any] | None]):
    DEFAULT_CSS = """
    ReattestDialog { align: center middle; }
    ReattestDialog #reattest {
        width: 78; max-width: 100%; height: auto; border: round $warning;
        background: $panel; padding: 0 1;
    }
    ReattestDialog #reattest-title { text-style: bold; color: $warning; }
    ReattestDialog #reattest-status { color: $text-muted; }
    ReattestDialog #reattest-status.error { color: $error; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._busy = False

    def compose(self) -> ComposeResult:
        self._bindings.key_to_bindings["f6"] = [Binding("f6", "confirm", t("Xác nhận lại"))]
        self._bindings.key_to_bindings["escape"] = [Binding("escape", "cancel", t("Đóng"))]
        with Vertical(id="reattest"):
            yield Label(t("Xác nhận lại biên nhận của máy cũ"), id="reattest-title")
            yield Label(t("Quét mã QR trên biên nhận cũ (hoặc dán nội dung biên nhận), rồi F6."))
            yield Input(id="receipt-text", placeholder="CLR1.…", compact=True)
            yield Label("", id="reattest-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#receipt-text", Input).focus()

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#reattest-status", Label)
        status.update(text)
        status.set_class(error, "error")

    @on(Input.Submitted, "#receipt-text")
    def action_confirm(self) -> None:
        text = self.query_one("#receipt-text", Input).value.strip()
        if self._busy:
            return
        if not text:
            self._status(t("Chưa có nội dung biên nhận"), error=True)
            return
        self._busy = True
        self._status(t("Đang kiểm tra biên nhận…"))
        self._run(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="reattest")
    def _run(self, text: str) -> None:
        desk = cast("CommuneApp", self.app).desk
        try:
            receipt = parse_receipt_input(text)
            session = desk.require_session()
            result = desk.call(reattest, session, receipt, now=desk.now())
        except ReceiptError as exc:
            self.app.call_from_thread(self._failed, exc.message_vi)
            return
        except Exception as exc:  # shown to the officer in Vietnamese; nothing was written
            self.app.call_from_thread(self._failed, error_text(exc))
            return
        self.app.call_from_thread(self.dismiss, result)

    def _failed(self, message: str) -> None:
        self._busy = False
        self._status(t("Không xác nhận lại được: {error}", error=message), error=True)
