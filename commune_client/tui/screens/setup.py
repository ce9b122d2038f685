"""First run: create a stand-alone office (or, once the hub exists, enrol with it)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from commune_client.tui.i18n import t
from commune_client.tui.screens.base import error_text

__all__ = ["SetupScreen"]


class SetupScreen(ModalScreen[bool]):
    BINDINGS = [("escape", "quit_app", "Thoát")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="setup", classes="dialog"):
            yield Label(t("Khởi tạo trạm tiếp nhận"), classes="dialog-title")
            yield Label(
                t("Trạm độc lập: làm việc không cần mạng; đăng ký với máy chủ sau."),
                classes="muted",
            )
            with Vertical():
                yield Input(placeholder=t("Mã đơn vị (ví dụ 000.00.17.H56)"), id="office")
                yield Input(placeholder=t("Tên đơn vị"), id="office-name")
                yield Input(placeholder=t("Họ tên cán bộ"), id="officer")
                yield Input(placeholder=t("Mật khẩu"), password=True, id="pass1")
                yield Input(placeholder=t("Nhập lại mật khẩu"), password=True, id="pass2")
                yield Checkbox(t("Nạp danh mục thủ tục mẫu"), value=True, id="demo")
            yield Label("", id="setup-error", classes="error")
            yield Button(t("Khởi tạo"), variant="primary", id="create")

    @on(Button.Pressed, "#create")
    def create(self) -> None:
        values = {
            name: self.query_one(f"#{name}", Input).value.strip()
            for name in ("office", "office-name", "officer")
        }
        p1 = self.query_one("#pass1", Input).value
        p2 = self.query_one("#pass2", Input).value
        error = self.query_one("#setup-error", Label)
        if not all(values.values()):
            error.update(t("Cần nhập đủ mã đơn vị, tên đơn vị và họ tên cán bộ"))
            return
        if len(p1) < 6:
            error.update(t("Mật khẩu cần ít nhất 6 ký tự"))
            return
        if p1 != p2:
            error.update(t("Hai lần nhập mật khẩu không khớp"))
            return
        error.update(t("Đang tạo khóa và sổ…"))
        self.run_setup(values, p1, self.query_one("#demo", Checkbox).value)

    @work(thread=True, exclusive=True)
    def run_setup(self, values: dict[str, str], passphrase: str, demo: bool) -> None:
        from commune_client.tui.app import CommuneApp

        app = self.app
        assert isinstance(app, CommuneApp)
        try:
            station = app.desk.create(
                office=values["office"],
                office_name=values["office-name"],
                officer_name=values["officer"],
                passphrase=passphrase,
            )
            if demo:
                from commune_client.catalog import demo_catalog
                from commune_client.procedures import save_catalog

                app.desk.call(save_catalog, station.store, demo_catalog())
        except Exception as exc:  # shown to the officer; nothing else happens
            self.app.call_from_thread(self.query_one("#setup-error", Label).update, error_text(exc))
            return
        self.app.call_from_thread(self.dismiss, True)

    def action_quit_app(self) -> None:
        self.app.exit()
