"""F3 Hồ sơ: the dossier list. Pages of 50 rows straight from SQLite (`list_dossiers` with
limit/offset, never the whole table), filters (status, overdue, due this week, procedure,
channel) and a debounced, diacritic-insensitive search. Every query runs in an exclusive
worker thread, so a newer filter cancels the older query and the UI never waits on disk."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Label, Select
from textual.worker import get_current_worker

from commune_client.clock import VN_TZ, iso
from commune_client.deadlines import parse_rfc3339
from commune_client.queries import list_dossiers
from commune_client.tui.i18n import get_language, t
from commune_client.tui.screens.base import CommuneScreen
from schemas.dossier import STATUS_LABEL_VI, DossierStatus

__all__ = ["PAGE_SIZE", "DossiersScreen", "short_time", "week_end"]

PAGE_SIZE = 50
DEBOUNCE = 0.0  # no wait: a query is under 1 ms at 100,000 dossiers (FTS5 prefix index), and
# an exclusive worker per keystroke drops the older result (bench/tui.py)
WIDE = 110  # from this width the table shows full codes and the receipt time
CHANNELS = {"direct": "Trực tiếp", "online": "Trực tuyến", "postal": "Bưu chính"}
KEYS = [  # key, action, description, shown in the footer
    ("pagedown,n", "page(1)", "Trang sau", True),
    ("pageup,p", "page(-1)", "Trang trước", True),
    ("f6", "clear_filters", "Bỏ lọc", True),
]


def short_time(text: str | None) -> str:
    """`dd/mm HH:MM` in Vietnam time (fits the 80-column table)."""
    return f"{parse_rfc3339(text):%d/%m %H:%M}" if text else ""


def week_end(now: datetime) -> str:
    """Next Monday 00:00 +07:00: "due this week" means due before it."""
    day = now.astimezone(VN_TZ).date()
    return iso(datetime.combine(day + timedelta(days=7 - day.weekday()), time(0), VN_TZ))


def day_end(now: datetime) -> str:
    """Tomorrow 00:00 +07:00: "due today" means due before it."""
    day = now.astimezone(VN_TZ).date()
    return iso(datetime.combine(day + timedelta(days=1), time(0), VN_TZ))


def _empty_filters() -> dict[str, Any]:
    return {
        "status": None,
        "overdue": False,
        "due": None,
        "due_before": None,
        "procedure": None,
        "channel": None,
        "search": None,
    }


class DossiersScreen(CommuneScreen):
    DEFAULT_CSS = """
    DossiersScreen .filter-row { height: 1; margin: 1 1 0 1; }
    DossiersScreen #search { width: 1fr; }
    DossiersScreen #procedure { width: 18; }
    DossiersScreen #status { width: 26; margin-left: 1; }
    DossiersScreen #channel { width: 16; margin-left: 1; }
    DossiersScreen Checkbox { height: 1; border: none; padding: 0 1; margin-left: 1; }
    DossiersScreen #page-line { height: 1; padding: 0 1; color: $text-muted; }
    DossiersScreen #dossier-table { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._filters = _empty_filters()
        self._page = 1
        self._rows: list[dict[str, Any]] = []
        self._has_next = False
        self._loading = False
        self._shown = False  # a first page was shown
        self._wide: bool | None = None
        self._debounce: Timer | None = None

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self._language = get_language()  # also when the app recomposes this screen directly
        self._localise_bindings()
        f = self._filters
        statuses = [(t(STATUS_LABEL_VI[s]), s.value) for s in DossierStatus]
        channels = [(t(label), value) for value, label in CHANNELS.items()]
        yield Header()
        with Horizontal(classes="filter-row", id="filters-1"):
            yield Input(
                f["search"] or "",
                placeholder=t("Tìm tên, số giấy tờ, mã hồ sơ…"),
                id="search",
                compact=True,
            )
            yield Select(
                statuses,
                prompt=t("Mọi trạng thái"),
                id="status",
                compact=True,
                value=f["status"] or Select.NULL,
            )
            yield Select(
                channels,
                prompt=t("Mọi kênh"),
                id="channel",
                compact=True,
                value=f["channel"] or Select.NULL,
            )
        with Horizontal(classes="filter-row", id="filters-2"):
            yield Input(
                f["procedure"] or "", placeholder=t("Mã thủ tục"), id="procedure", compact=True
            )
            yield Checkbox(t("Quá hạn"), f["overdue"], id="overdue")
            yield Checkbox(t("Hẹn trả trong tuần"), f["due"] == "week", id="due-week")
        yield Label("", id="page-line")
        table: DataTable[Any] = DataTable(id="dossier-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer()

    def _localise_bindings(self) -> None:
        for keys, action, description, show in KEYS:
            for key in keys.split(","):
                self._bindings.key_to_bindings[key] = [
                    Binding(
                        key,
                        action,
                        t(description),
                        show=show and key == keys.split(",")[0],
                        priority=key.startswith("page"),
                    )
                ]
        self.refresh_bindings()

    def on_mount(self) -> None:
        self._load()

    async def recompose(self) -> None:
        """After a language switch: new widgets, same filters, page and rows."""
        await super().recompose()
        self._wide = None
        self._fill_table()

    def on_resize(self, event: Resize) -> None:
        if (event.size.width >= WIDE) != self._wide:
            self._fill_table()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._shown:  # back from the detail screen (or another mode): statuses may differ
            self._load(keep_cursor=True)

    # -- filters ------------------------------------------------------------------------------
    def show_filter(
        self,
        *,
        status: str | None = None,
        overdue: bool = False,
        due_today: bool = False,
        due_before: str | None = None,
        search: str | None = None,
    ) -> None:
        """Replace every filter with these (the Today screen's shortcuts) and reload."""
        f = _empty_filters()
        f.update(status=status or None, overdue=overdue, search=(search or "").strip() or None)
        if due_today:
            f.update(due="today", due_before=day_end(self.desk.now()))
        elif due_before:
            f.update(due="custom", due_before=due_before)
        self._filters = f
        self._page = 1
        if self.is_mounted:
            self._sync_widgets()
            self._load()

    def _sync_widgets(self) -> None:
        f = self._filters
        self.query_one("#search", Input).value = f["search"] or ""
        self.query_one("#procedure", Input).value = f["procedure"] or ""
        self.query_one("#status", Select).value = f["status"] or Select.NULL
        self.query_one("#channel", Select).value = f["channel"] or Select.NULL
        self.query_one("#overdue", Checkbox).value = f["overdue"]
        self.query_one("#due-week", Checkbox).value = f["due"] == "week"

    def _set(self, **changes: Any) -> None:
        """Apply filter changes from the widgets; a no-op when nothing differs (the widgets
        echo programmatic changes back as events)."""
        if all(self._filters.get(k) == v for k, v in changes.items()):
            return
        self._filters.update(changes)
        self._page = 1
        self._load()

    @on(Select.Changed, "#status")
    @on(Select.Changed, "#channel")
    def _select_changed(self, event: Select.Changed) -> None:
        value = None if event.value == Select.NULL else str(event.value)
        self._set(**{str(event.select.id): value})

    @on(Checkbox.Changed, "#overdue")
    def _overdue_changed(self, event: Checkbox.Changed) -> None:
        self._set(overdue=event.value)

    @on(Checkbox.Changed, "#due-week")
    def _week_changed(self, event: Checkbox.Changed) -> None:
        if event.value and self._filters["due"] != "week":
            self._set(due="week", due_before=week_end(self.desk.now()))
        elif not event.value and self._filters["due"] == "week":
            self._set(due=None, due_before=None)

    @on(Input.Changed, "#search")
    @on(Input.Changed, "#procedure")
    def _typed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        if DEBOUNCE <= 0:  # Textual timers cannot have a zero interval
            self._apply_inputs()
            return
        self._debounce = self.set_timer(DEBOUNCE, self._apply_inputs)

    @on(Input.Submitted, "#search")
    @on(Input.Submitted, "#procedure")
    def _apply_inputs(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        search = self.query_one("#search", Input).value.strip() or None
        procedure = self.query_one("#procedure", Input).value.strip() or None
        self._set(search=search, procedure=procedure)

    def action_clear_filters(self) -> None:
        self.show_filter()

    def action_page(self, step: int) -> None:
        if self._loading or (step > 0 and not self._has_next) or self._page + step < 1:
            return
        self._page += step
        self._load()

    # -- loading ------------------------------------------------------------------------------
    def _query(self) -> dict[str, Any]:
        return {k: v for k, v in self._filters.items() if k != "due"}

    def _load(self, *, keep_cursor: bool = False) -> None:
        self._loading = True
        self._line(t("Đang tải…"))
        cursor = self.query_one("#dossier-table", DataTable).cursor_row if keep_cursor else 0
        self._fetch(self._query(), self._page, cursor)

    @work(thread=True, exclusive=True, group="dossier-list")
    def _fetch(self, query: dict[str, Any], page: int, cursor: int) -> None:
        offset = (page - 1) * PAGE_SIZE
        try:
            station = self.desk.open()
            now = self.desk.now()
            rows = self.call(
                list_dossiers, station, now=now, limit=PAGE_SIZE, offset=offset, **query
            )
            more = bool(rows) and bool(
                self.call(
                    list_dossiers, station, now=now, limit=1, offset=offset + PAGE_SIZE, **query
                )
            )
        except Exception as exc:  # shown to the officer; the old rows stay
            self.notify_error(exc)
            self.app.call_from_thread(self._failed)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, rows, more, cursor)

    def _failed(self) -> None:
        self._loading = False
        self._line(t("Không tải được danh sách hồ sơ"))

    def _show(self, rows: list[dict[str, Any]], more: bool, cursor: int) -> None:
        self._loading, self._shown = False, True
        self._rows, self._has_next = rows, more
        self._fill_table(cursor)

    def _fill_table(self, cursor: int = 0) -> None:
        table = self.query_one("#dossier-table", DataTable)
        wide = self.size.width >= WIDE
        # The fixed widths, a padding of 1 each side of every cell, the scrollbar, slack.
        name_width = max(12, self.size.width - (93 if wide else 58))
        layout = (wide, name_width)
        if getattr(self, "_layout", None) == layout and table.columns:
            table.clear()  # same columns: only the rows change (the per-keystroke path)
        else:
            self._layout = layout
            table.clear(columns=True)
            table.add_column(t("Mã hồ sơ"), width=25 if wide else 11, key="code")
            table.add_column(t("Trạng thái"), width=20 if wide else 14, key="status")
            table.add_column(t("Thủ tục"), width=10 if wide else 8, key="procedure")
            table.add_column(t("Chủ hồ sơ"), width=name_width, key="applicant")
            if wide:
                table.add_column(t("Ngày nhận"), width=11, key="received")
            table.add_column(t("Hẹn trả"), width=11, key="due")
        self._wide = wide
        for row in self._rows:
            code = row["code"] if wide else "-".join(row["code"].rsplit("-", 2)[-2:])
            late = "bold red" if row["overdue"] else ""
            status = t("⚠ Quá hạn") if row["overdue"] else t(row["status_vi"])
            cells: list[Any] = [code, Text(status, style=late), row["procedure"], row["applicant"]]
            if wide:
                cells.append(short_time(row["received_at"]))
            cells.append(Text(short_time(row["due_at"]), style=late))
            table.add_row(*cells, key=row["code"])
        if self._rows:
            table.move_cursor(row=min(cursor, len(self._rows) - 1))
        if not self._loading:
            self._line(self._page_text())

    def _page_text(self) -> str:
        if not self._rows:
            return t("Trang {page}: không có hồ sơ nào", page=self._page)
        first = (self._page - 1) * PAGE_SIZE + 1
        text = t(
            "Trang {page} · hồ sơ {first}–{last}",
            page=self._page,
            first=first,
            last=first + len(self._rows) - 1,
        )
        return text + (" · " + t("còn trang sau") if self._has_next else "")

    def _line(self, text: str) -> None:
        self.query_one("#page-line", Label).update(text)

    @property
    def page(self) -> int:
        return self._page

    # -- opening a dossier ----------------------------------------------------------------------
    @on(DataTable.RowSelected, "#dossier-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        from commune_client.tui.screens.dossier_detail import DossierDetailScreen

        if event.row_key.value is not None:
            self.app.push_screen(DossierDetailScreen(event.row_key.value))
