"""`commune tui`: the officer's app. Screens are Textual modes switched with function keys
(Windows Terminal passes F-keys through; bare ctrl-letters it may eat): F1 Today, F2 Intake,
F3 Dossiers, F4 Reports, F5 Sync, F8 language, F9 switch officer, F10 quit. Every disk or
network call runs in a worker thread through `DeskClient`; the UI thread never blocks."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding

from commune_client.tui.client import DeskClient
from commune_client.tui.i18n import get_language, set_language, t

__all__ = ["CommuneApp", "run"]

NAV = [
    ("f1", "today", "Hôm nay"),
    ("f2", "intake", "Tiếp nhận"),
    ("f3", "dossiers", "Hồ sơ"),
    ("f4", "reports", "Báo cáo"),
    ("f5", "sync", "Đồng bộ"),
]


class CommuneApp(App[None]):
    CSS_PATH = "commune.tcss"
    TITLE = "Một cửa — commune-ledger"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", show=False, priority=True)]

    def __init__(self, data_dir: Path, *, language: str | None = None) -> None:
        super().__init__()
        self.desk = DeskClient(data_dir)
        set_language(language or os.environ.get("COMMUNE_LANG") or "vi")
        self._modes_ready = False

    # -- modes --------------------------------------------------------------------------------
    def _install_modes(self) -> None:
        from commune_client.tui.screens.dossiers import DossiersScreen
        from commune_client.tui.screens.intake import IntakeScreen
        from commune_client.tui.screens.reports import ReportsScreen
        from commune_client.tui.screens.sync import SyncScreen
        from commune_client.tui.screens.today import TodayScreen

        factories: dict[str, Any] = {
            "today": TodayScreen,
            "intake": IntakeScreen,
            "dossiers": DossiersScreen,
            "reports": ReportsScreen,
            "sync": SyncScreen,
        }
        for name, factory in factories.items():
            self.add_mode(name, factory)
        self._modes_ready = True

    def _bind_keys(self) -> None:
        # App.bind adds a binding without replacing an earlier one for the same key, and the
        # footer shows the first: drop ours before binding them again in the new language.
        for key in (*(k for k, _, _ in NAV), "f8", "f9", "f10"):
            self._bindings.key_to_bindings.pop(key, None)
        for key, mode, label in NAV:
            self.bind(key, f"goto('{mode}')", description=t(label))
        self.bind(
            "f8",
            "toggle_language",
            description=t("English") if get_language() == "vi" else "Tiếng Việt",
        )
        self.bind("f9", "switch_officer", description=t("Đổi cán bộ"))
        self.bind("f10", "quit", description=t("Thoát"))
        self.refresh_bindings()

    def on_mount(self) -> None:
        self.title = t("Một cửa — sổ hồ sơ có chữ ký số")
        if self.desk.initialised:
            self._show_sign_in()
        else:
            from commune_client.tui.screens.setup import SetupScreen

            self.push_screen(SetupScreen(), self._after_setup)

    def _after_setup(self, _: object = None) -> None:
        self._show_sign_in()

    def _show_sign_in(self) -> None:
        self._open_station()

    @work(thread=True, exclusive=True, group="open-station")
    def _open_station(self) -> None:
        # Opening applies pending migrations (seconds on a large station after an upgrade):
        # never on the UI thread.
        station = self.desk.open()
        officers = [o for o in self.desk.call(station.officers) if o["active"]]
        self.call_from_thread(self._push_sign_in, station.info.office_name, officers)

    def _push_sign_in(self, office_name: str, officers: list[dict[str, Any]]) -> None:
        from commune_client.tui.screens.signin import SignInScreen

        self.push_screen(SignInScreen(office_name, officers), self._after_sign_in)

    def _after_sign_in(self, _: object = None) -> None:
        if self.desk.session is None:
            return
        self.sub_title = self.desk.session.officer_name
        if not self._modes_ready:
            self._install_modes()
            # Everything alive now (the schema models, widgets, CSS) lives as long as the app.
            # Freezing it keeps the collector from walking it on every full pass: those passes
            # froze the UI for 100-150 ms on some keystrokes (bench/tui.py).
            gc.collect()
            gc.freeze()
        self._bind_keys()
        self.switch_mode("today")

    # -- actions --------------------------------------------------------------------------------
    def action_goto(self, mode: str) -> None:
        if self._modes_ready and self.desk.session is not None:
            self.switch_mode(mode)

    def open_dossiers(self, **filters: Any) -> None:
        """Show the dossiers list with filters (status=, overdue=, due_today=, search=...):
        the Today screen's shortcuts land here."""
        if not self._modes_ready:
            return
        self.switch_mode("dossiers")
        show_filter = getattr(self.screen, "show_filter", None)
        if show_filter is not None:
            show_filter(**filters)

    def action_switch_officer(self) -> None:
        self.desk.sign_out()
        self._show_sign_in()

    def action_toggle_language(self) -> None:
        set_language("en" if get_language() == "vi" else "vi")
        self.title = t("Một cửa — sổ hồ sơ có chữ ký số")
        self._bind_keys()
        # The current screen recomposes now; other screens when they are next shown
        # (`CommuneScreen.on_screen_resume`).
        self.screen.refresh(recompose=True)
        if hasattr(self.screen, "_language"):
            self.screen._language = get_language()

    def on_unmount(self) -> None:
        self.desk.close()


def run(data_dir: Path, language: str | None = None) -> None:
    CommuneApp(data_dir, language=language).run()
