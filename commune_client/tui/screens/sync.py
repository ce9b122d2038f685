"""Sync (F5): the station's log, its hub, what waits to be sent, and what was refused.

F6 ("Đồng bộ ngay") runs `commune_client.sync.sync` in a worker thread, on a connection of its
own (so the other screens keep working during a slow upload): the progress bar shows entries
sent, bytes and the ETA; the result is a notice in Vietnamese (the problem, if any), the
quarantine table lists what the hub would not act on and the feed items this station refused,
and a warning says when the PC's clock differs from the hub's by more than 2 minutes. A
stand-alone station (no hub) is told how to enrol and nothing is sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Static

from commune_client.station import Session, Station
from commune_client.sync import (
    CLOCK_WARN_SECONDS,
    SyncProgress,
    SyncReport,
    hub_info,
    quarantine_rows,
    sync,
)
from commune_client.tui.i18n import get_language, t
from commune_client.tui.screens.base import CommuneScreen

__all__ = ["SyncScreen", "SyncStatus", "run_sync", "sync_status"]

ProgressFn = Callable[[SyncProgress], None]


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
    clock_offset: int | None = None
    quarantine: tuple[tuple[str, str], ...] = ()


def sync_status(station: Station) -> SyncStatus:
    store = station.store
    size = store.size()
    checkpoint = store.latest_checkpoint()
    hub = hub_info(store)
    offset = store.meta("hub_clock_offset")
    rows = tuple(
        (
            f"#{q['seq']}" if q["source"] == "hub" else f"{q['station']} #{q['seq']}",
            f"{q['reason_vi']}" + (f" — {q['dossier']}" if q["dossier"] else ""),
        )
        for q in quarantine_rows(station)
    )
    return SyncStatus(
        origin=station.info.origin,
        station=station.info.ref,
        office_name=station.info.office_name,
        log_size=size,
        checkpoint_size=checkpoint[0] if checkpoint else None,
        hub=f"{hub.name} ({hub.url})" if hub else None,
        last_sync=store.meta("last_sync"),
        # what the hub has not acknowledged yet (all of it on a station that never synced)
        waiting=size - int(store.meta("hub_accepted") or 0),
        clock_offset=int(offset) if offset is not None else None,
        quarantine=rows,
    )


def run_sync(data_dir: Path, session: Session, progress: ProgressFn) -> SyncReport:
    """One sync run on a connection of its own (a worker thread; the desk's connection stays
    free for the other screens), with the signed-in officer's keys."""
    import httpx

    station = Station.open(data_dir)
    try:
        own = Session(station, session.officer, session.station_key, session.officer_name)
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0)) as client:
            return sync(station, own, client=client, progress=progress)
    finally:
        station.close()


def clock_warning(offset: int | None) -> str | None:
    if offset is None or abs(offset) <= CLOCK_WARN_SECONDS:
        return None
    minutes = round(abs(offset) / 60)
    if offset > 0:
        return t("⚠ Đồng hồ máy tính nhanh hơn giờ máy chủ {minutes} phút", minutes=minutes)
    return t("⚠ Đồng hồ máy tính chậm hơn giờ máy chủ {minutes} phút", minutes=minutes)


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
                *filter(None, [clock_warning(s.clock_offset)]),
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
        self._quarantine = list(status.quarantine)
        with suppress(NoMatches):  # mid-recompose: `recompose` paints when it is done
            self._paint()
            self.show_quarantine(self._quarantine)

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
        self.sync_now()

    @work(thread=True, exclusive=True, group="sync-now")
    def sync_now(self) -> None:
        try:
            hub = self.call(lambda: hub_info(self.desk.open().store))
            session = self.desk.require_session()
        except Exception as exc:
            self.notify_error(exc)
            return
        if hub is None:
            self.app.call_from_thread(self.notify, not_configured(), severity="warning", timeout=10)
            return
        self.app.call_from_thread(self.show_progress, 0, 1, t("Đang kết nối {hub}…", hub=hub.url))

        def progress(p: SyncProgress) -> None:
            self.app.call_from_thread(self.show_progress, p.done, max(p.total, 1), p.text())

        try:
            report = run_sync(self.desk.data_dir, session, progress)
        except Exception as exc:  # shown to the officer; the screen stays
            self.app.call_from_thread(self.hide_progress)
            self.notify_error(exc)
            return
        self.app.call_from_thread(self._after_sync, report)

    def _after_sync(self, report: SyncReport) -> None:
        self.hide_progress()
        if report.problem is not None:
            self.notify(report.message, severity="error", timeout=15)
        elif report.quarantined:
            self.notify(
                t("Đồng bộ xong; {count} mục bị cách ly.", count=len(report.quarantined)),
                severity="warning",
                timeout=10,
            )
        else:
            self.notify(
                t(
                    "Đồng bộ xong: gửi {pushed} bản ghi, nhận {pulled} mục.",
                    pushed=report.pushed,
                    pulled=report.pulled,
                ),
                timeout=8,
            )
        warning = clock_warning(report.clock_offset)
        if warning is not None:
            self.notify(warning, severity="warning", timeout=15)
        self.reload()
