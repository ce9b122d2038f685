"""One lifecycle action as a form (a modal screen) with exactly the fields that action needs.
Input is checked here first (Vietnamese messages, nothing written); then `desk.act` runs in a
worker, and a refused transition is shown in the form, which stays open. On success the form
closes with the dossier's new state."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, TextArea

from commune_client.desk import act
from commune_client.tui.i18n import t
from commune_client.tui.screens.base import error_text

if TYPE_CHECKING:
    from commune_client.tui.app import CommuneApp

__all__ = ["ACTION_TITLE", "REASON_LABEL", "ActionForm", "split_documents"]

ACTION_TITLE = {
    "receive": "Tiếp nhận hồ sơ",
    "request-supplement": "Yêu cầu bổ sung",
    "supplement": "Nhận bổ sung",
    "refuse": "Từ chối tiếp nhận hồ sơ",
    "transfer": "Chuyển liên thông",
    "accept": "Nhận xử lý",
    "request-payment": "Yêu cầu nộp phí, thuế",
    "pay": "Thu phí, lệ phí",
    "stop": "Dừng giải quyết hồ sơ",
    "withdraw": "Rút hồ sơ",
    "reschedule": "Hẹn lại ngày trả",
    "resolve": "Hoàn thành giải quyết",
    "return": "Trả kết quả",
    "rate": "Ghi nhận đánh giá",
}
REQUIRED_REASON = {"request-supplement", "refuse", "stop", "reschedule"}
REASON_LABEL = {
    "request-supplement": "Lý do yêu cầu bổ sung",
    "refuse": "Lý do từ chối",
    "stop": "Lý do dừng giải quyết",
    "reschedule": "Lý do xin lỗi, hẹn lại",
    "supplement": "Ghi chú (không bắt buộc)",
    "accept": "Ghi chú (không bắt buộc)",
    "transfer": "Lý do chuyển (không bắt buộc)",
    "withdraw": "Lý do rút hồ sơ (không bắt buộc)",
    "request-payment": "Nội dung khoản thu (không bắt buộc)",
    "resolve": "Kết quả giải quyết (không bắt buộc)",
}
RATINGS = ["Rất hài lòng", "Hài lòng", "Không hài lòng"]  # rating 1, 2, 3
VIA = {"desk": "Trả tại bộ phận một cửa", "post": "Trả qua dịch vụ bưu chính"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def split_documents(text: str) -> list[str]:
    """Document names from a comma- or line-separated list."""
    return [part.strip() for part in re.split(r"[,\n;]", text) if part.strip()]


class ActionForm(ModalScreen[dict[str, Any] | None]):
    """`ActionForm(code, action, amount=..., via=...)`: dismissed with the new dossier state, or
    None when cancelled."""

    DEFAULT_CSS = """
    ActionForm { align: center middle; }
    ActionForm > VerticalScroll {
        width: 70; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; padding: 0 2; background: $panel;
    }
    ActionForm .form-title { text-style: bold; margin-top: 1; }
    ActionForm .field-label { margin-top: 1; }
    ActionForm TextArea { height: 4; }
    ActionForm RadioSet { width: 100%; }
    ActionForm #form-error { color: $error; height: auto; margin-top: 1; }
    ActionForm #form-buttons { height: auto; margin: 1 0; }
    ActionForm #form-buttons Button { width: 1fr; margin-right: 1; }
    """
    BINDINGS = [("escape", "cancel", "Hủy")]

    def __init__(
        self, code: str, action: str, *, amount: int | None = None, via: str = "desk"
    ) -> None:
        super().__init__()
        self.code = code
        self.action = action
        self._amount = amount
        self._via = via

    def compose(self) -> ComposeResult:
        a = self.action
        with VerticalScroll():
            yield Label(t(ACTION_TITLE.get(a, a)), classes="form-title")
            yield Label(t("Hồ sơ {code}", code=self.code), classes="muted")
            if a == "transfer":
                yield Label(t("Mã đơn vị nhận (ví dụ H56.14)"), classes="field-label")
                yield Input(id="to")
            if a == "reschedule":
                yield Label(t("Ngày hẹn trả mới (YYYY-MM-DD)"), classes="field-label")
                yield Input(placeholder="2026-12-01", id="new-due")
            if a in ("request-payment", "pay"):
                yield Label(t("Số tiền (đồng)"), classes="field-label")
                yield Input(str(self._amount or ""), type="integer", id="amount")
            if a in REASON_LABEL:
                yield Label(t(REASON_LABEL[a]), classes="field-label")
                yield Input(id="reason")
            if a in ("request-supplement", "supplement"):
                label = (
                    "Giấy tờ cần bổ sung (mỗi dòng một loại, hoặc cách nhau dấu phẩy)"
                    if a == "request-supplement"
                    else "Giấy tờ đã nhận bổ sung"
                )
                yield Label(t(label), classes="field-label")
                yield TextArea(id="documents")
            if a == "rate":
                yield Label(t("Mức độ hài lòng"), classes="field-label")
                with RadioSet(id="rating"):
                    for label in RATINGS:
                        yield RadioButton(t(label))
            if a == "return":
                yield Label(t("Hình thức trả kết quả"), classes="field-label")
                with RadioSet(id="via"):
                    for key, label in VIA.items():
                        yield RadioButton(t(label), value=key == self._via)
            yield Label("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button(t("Ghi nhận"), variant="primary", id="submit")
                yield Button(t("Hủy"), id="cancel")

    def on_mount(self) -> None:
        for field in self.query("Input, TextArea, RadioSet"):
            field.focus()
            break

    # -- reading the fields ---------------------------------------------------------------------
    def _text(self, selector: str) -> str:
        found = self.query(selector)
        if not found:
            return ""
        widget = found.first()
        value = widget.text if isinstance(widget, TextArea) else cast(Input, widget).value
        return value.strip()

    def values(self) -> dict[str, Any]:
        """The keyword arguments of `desk.act`; raises ValueError with a Vietnamese message."""
        a = self.action
        out: dict[str, Any] = {}
        reason = self._text("#reason")
        if a in REQUIRED_REASON and not reason:
            raise ValueError(t("Cần nhập {what}", what=t(REASON_LABEL[a]).lower()))
        if reason:
            out["reason"] = reason
        if a == "transfer":
            out["to"] = self._text("#to")
            if not out["to"]:
                raise ValueError(t("Cần nhập mã đơn vị nhận hồ sơ"))
        if a == "reschedule":
            out["new_due"] = self._text("#new-due")
            if not _DATE.fullmatch(out["new_due"]):
                raise ValueError(t("Ngày hẹn trả mới phải có dạng YYYY-MM-DD, ví dụ 2026-12-01"))
        if a in ("request-payment", "pay"):
            amount = self._text("#amount")
            if not amount.isdigit() or int(amount) <= 0:
                raise ValueError(t("Số tiền phải là số nguyên dương (đồng)"))
            out["amount"] = int(amount)
        if a in ("request-supplement", "supplement"):
            documents = split_documents(self._text("#documents"))
            if documents:
                out["documents"] = documents
        if a == "rate":
            index = self.query_one("#rating", RadioSet).pressed_index
            if index < 0:
                raise ValueError(t("Chọn mức độ hài lòng"))
            out["rating"] = index + 1
        if a == "return":
            index = self.query_one("#via", RadioSet).pressed_index
            out["via"] = list(VIA)[max(index, 0)]
        return out

    # -- submitting -----------------------------------------------------------------------------
    @on(Button.Pressed, "#submit")
    @on(Input.Submitted)
    def submit(self) -> None:
        error = self.query_one("#form-error", Label)
        try:
            values = self.values()
        except ValueError as exc:
            error.update(str(exc))
            return
        error.update(t("Đang ghi…"))
        self.query_one("#submit", Button).disabled = True
        self._act(values)

    @work(thread=True, exclusive=True, group="action-form")
    def _act(self, values: dict[str, Any]) -> None:
        desk = cast("CommuneApp", self.app).desk
        try:
            state = desk.call(
                act, desk.require_session(), self.code, self.action, now=desk.now(), **values
            )
        except Exception as exc:  # shown in the form, which stays open
            self.app.call_from_thread(self._failed, error_text(exc))
            return
        self.app.call_from_thread(self.dismiss, state)

    def _failed(self, message: str) -> None:
        self.query_one("#form-error", Label).update(message)
        self.query_one("#submit", Button).disabled = False

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
