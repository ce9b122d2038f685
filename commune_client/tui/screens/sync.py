"""Sync (F5): what this station would send to the hub, and what the hub refused.

The hub and the sync agent do not exist yet, so this screen only reports the truth: the log's
origin and size, the latest signed checkpoint, whether a hub is configured, how many entries
wait to be sent, and the (empty) quarantine. "Đồng bộ ngay" never pretends to sync.

For the sync agent to plug in: `show_progress(done, total, detail)` reveals the progress bar
(entries, bytes, ETA go in `detail`), `hide_progress()` hides it again, `show_quarantine(rows)`
fills the table of refused entries, and `action_sync_now` is where a sync run starts."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Static

from commune_client.station import Station
from commune_client.tui.i18n import get_language, t
from commune_client.tui.screens.base import CommuneScreen

__all__ = ["SyncScreen", "SyncStatus", "sync_status"]


@dataclass(frozen=True)
class SyncStatus:
    origin: str
    station: str
    office_name: str
    log_size: int
    checkpoint_size: int | None
    hub: str | None
    last_sync: str | None
    waiting: int


def sync_status(station: Station) -> SyncStatus:
    store = station.store
    size = store.size()
    checkpoint = store.latest_checkpoint()
    return SyncStatus(
        origin=station.info.origin,
        station=station.info.ref,
        office_name=station.info.office_name,
        log_size=size,
        checkpoint_size=checkpoint[0] if checkpoint else None,
        hub=store.meta("hub"),
        last_sync=store.meta("last_sync"),
        # No sync agent yet: nothing has been sent, so the whole log waits for the hub.
        waiting=size,
    )


def not_configured() -> str:
    return t(
        "Chưa cấu hình máy chủ đồng bộ. Dùng `commune enroll --server URL --token TOKEN` "
        "khi có mạng."
    )


class SyncScreen(CommuneScreen):
    DEFAULT_CSS = """
    SyncScreen #sync { padding: 0 1; }
    SyncScreen .section { text-style: bold; margin-top: 1; }
    SyncScreen #sync-info { height: auto; }
    SyncScreen #sync-progress-box { height: auto; display: none; }
    SyncScreen #sync-progress-box.-active { display: block; }
    SyncScreen #quarantine { height: auto; max-height: 8; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.status: SyncStatus | None = None
        self._quarantine: list[tuple[str, str]] = []

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The language this composition shows: `on_screen_resume` recomposes when it differs
        # (the app recomposes the current screen on F8 without updating it).
        self._language = get_language()
        self._bind_keys()
        yield Header()
        with Vertical(id="sync"):
            yield Label(t("Trạng thái đồng bộ"), classes="section")
            yield Static(self._info(), id="sync-info", markup=False)
            with Vertical(id="sync-progress-box"):
                yield Label("", id="sync-progress-detail")
                yield ProgressBar(id="sync-progress", show_eta=True)
            yield Label(t("Bản ghi bị cách ly (máy chủ từ chối)"), classes="section")
            table: DataTable[str] = DataTable(id="quarantine", cursor_type="row")
            table.add_column(t("Bản ghi"), key="entry", width=16)
            table.add_column(t("Lý do"), key="reason")
            for entry, reason in self._quarantine:
                table.add_row(entry, reason)
            yield table
            yield Label(self._quarantine_note(), id="quarantine-note", classes="muted")
        yield Footer()

    def _bind_keys(self) -> None:
        self._bindings.key_to_bindings["f6"] = [Binding("f6", "sync_now", t("Đồng bộ ngay"))]
        self.refresh_bindings()

    def _info(self) -> str:
        s = self.status
        if s is None:
            return "…"
        checkpoint = (
            t("{size} bản ghi", size=s.checkpoint_size)
            if s.checkpoint_size is not None
            else t("chưa có")
        )
        hub = (
            t("Máy chủ đồng bộ: chưa cấu hình (trạm độc lập)")
            if s.hub is None
            else t("Máy chủ đồng bộ: {hub}", hub=s.hub)
        )
        return "\n".join(
            (
                t("Trạm: {station} — {office}", station=s.station, office=s.office_name),
                t("Nguồn nhật ký: {origin}", origin=s.origin),
                t("Số bản ghi trong nhật ký: {size}", size=s.log_size),
                t("Điểm chốt (checkpoint) mới nhất: {checkpoint}", checkpoint=checkpoint),
                hub,
                t("Bản ghi chờ gửi: {count}", count=s.waiting),
                t("Lần đồng bộ gần nhất: {at}", at=s.last_sync or t("chưa đồng bộ")),
            )
        )

    def _quarantine_note(self) -> str:
        if self._quarantine:
            return t("{count} bản ghi bị cách ly.", count=len(self._quarantine))
        return t("Không có bản ghi nào bị cách ly.")

    # -- data -------------------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="sync")
    def reload(self) -> None:
        try:
            status = self.call(sync_status, self.desk.open())
        except Exception as exc:  # shown to the officer; the screen stays
            self.notify_error(exc)
            return
        self.app.call_from_thread(self._show, status)

    def _show(self, status: SyncStatus) -> None:
        self.status = status
        with suppress(NoMatches):  # mid-recompose: `recompose` paints when it is done
            self._paint()

    def _paint(self) -> None:
        self.query_one("#sync-info", Static).update(self._info())

    async def recompose(self) -> None:
        """After a language switch: new widgets, showing the status already read."""
        await super().recompose()
        self._paint()

    # -- hooks for the sync agent -----------------------------------------------------------
    def show_progress(self, done: int, total: int, detail: str = "") -> None:
        """Entries sent so far out of `total`; `detail` carries bytes and the ETA."""
        self.query_one("#sync-progress-box").add_class("-active")
        self.query_one("#sync-progress", ProgressBar).update(total=total, progress=done)
        self.query_one("#sync-progress-detail", Label).update(detail)

    def hide_progress(self) -> None:
        self.query_one("#sync-progress-box").remove_class("-active")

    def show_quarantine(self, rows: Iterable[tuple[str, str]]) -> None:
        """(entry, reason) pairs of entries the hub refused."""
        self._quarantine = list(rows)
        table = self.query_one("#quarantine", DataTable)
        table.clear()
        for entry, reason in self._quarantine:
            table.add_row(entry, reason)
        self.query_one("#quarantine-note", Label).update(self._quarantine_note())

    # -- actions ----------------------------------------------------------------------------
    def action_sync_now(self) -> None:
        self.check_hub()

    @work(thread=True, exclusive=True, group="sync-now")
    def check_hub(self) -> None:
        try:
            hub = self.call(lambda: self.desk.open().store.meta("hub"))
        except Exception as exc:
            self.notify_error(exc)
            return
        # A known hub but no sync agent in this version: say so, sync nothing.
        message = (
            not_configured()
            if hub is None
            else t("Phiên bản này chưa có tác nhân đồng bộ (máy chủ {hub}).", hub=hub)
        )
        self.app.call_from_thread(self.notify, message, severity="warning", timeout=10)
