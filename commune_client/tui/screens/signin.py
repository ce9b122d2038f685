"""Officer sign-in: pick the officer, type the passphrase (the key unlock runs in a worker)."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from commune_client.tui.i18n import t
from commune_client.tui.screens.base import error_text

__all__ = ["SignInScreen"]


class SignInScreen(ModalScreen[bool]):
    BINDINGS = [("escape", "quit_app", "Thoát")]

    def __init__(self, office_name: str, officers: list[dict[str, Any]]) -> None:
        super().__init__()
        self.office_name = office_name
        self.officers = officers  # read by the app in a worker: compose touches no disk

    def compose(self) -> ComposeResult:
        choices = [(o["name"], o["key_id"]) for o in self.officers]
        with Vertical(id="signin", classes="dialog"):
            yield Label(t("Đăng nhập cán bộ"), classes="dialog-title")
            yield Label(self.office_name, classes="muted")
            yield Select(
                choices,
                id="officer",
                allow_blank=False,
                prompt=t("Cán bộ"),
                value=choices[0][1] if choices else Select.BLANK,
            )
            yield Input(placeholder=t("Mật khẩu"), password=True, id="passphrase")
            yield Label("", id="signin-error", classes="error")
            yield Button(t("Đăng nhập"), variant="primary", id="sign-in")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    @on(Input.Submitted, "#passphrase")
    @on(Button.Pressed, "#sign-in")
    def submit(self) -> None:
        officer = self.query_one("#officer", Select).value
        passphrase = self.query_one("#passphrase", Input).value
        self.query_one("#signin-error", Label).update(t("Đang mở khóa…"))
        self.sign_in(str(officer), passphrase)

    @work(thread=True, exclusive=True)
    def sign_in(self, officer: str, passphrase: str) -> None:
        from commune_client.tui.app import CommuneApp

        app = self.app
        assert isinstance(app, CommuneApp)
        try:
            app.desk.sign_in(officer, passphrase)
        except Exception as exc:  # shown to the officer; the screen stays open
            self.app.call_from_thread(self._failed, error_text(exc))
            return
        self.app.call_from_thread(self.dismiss, True)

    def _failed(self, message: str) -> None:
        self.query_one("#signin-error", Label).update(message)
        field = self.query_one("#passphrase", Input)
        field.value = ""
        field.focus()

    def action_quit_app(self) -> None:
        self.app.exit()
