"""Reports (F4): Biểu 06 (II.06a) for a period, as a table by field with the national on-time
rate, and its Excel export. The report walks every dossier (`printing.report`), so it runs in a
worker; the table scrolls sideways on an 80-column terminal, the field column stays put."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from datetime import date
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, DataTable, Footer, Header, Input, Label

from commune_client import printing
from commune_client.reports import UNKNOWN_FIELD
from commune_client.tui.i18n import get_language, t
from commune_client.tui.screens.base import CommuneScreen, error_text

__all__ = ["COLUMNS", "ReportsScreen", "parse_day", "rate_text"]

TOTAL_ROW = "__total__"
COLUMNS = (
    "received.total",
    "received.online",
    "received.direct_or_postal",
    "received.carried_over",
    "resolved.total",
    "resolved.early",
    "resolved.on_time",
    "resolved.late",
    "pending.total",
    "pending.within_deadline",
    "pending.overdue",
    "withdrawn",
)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str) -> date:
    """`YYYY-MM-DD`, or ValueError with the officer's message."""
    value = text.strip()
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            t(
                "Ngày không hợp lệ: «{value}». Nhập theo dạng YYYY-MM-DD, ví dụ 2026-11-23",
                value=value,
            )
        ) from None


def rate_text(rate: float | None) -> str:
    if rate is None:
        return "—"
    text = f"{rate * 100:.1f}%"
    return text.replace(".", ",") if get_language() == "vi" else text


def _headers() -> list[Text]:
    """Two-line column headers: the group over its first column, then the column."""
    labels = (
        (t("Nhận"), t("Tổng")),
        ("", t("Trực tuyến")),
        ("", t("Trực tiếp/BC")),
        ("", t("Kỳ trước")),
        (t("Đã giải quyết"), t("Tổng")),
        ("", t("Trước hạn")),
        ("", t("Đúng hạn")),
        ("", t("Quá hạn")),
        (t("Đang giải quyết"), t("Tổng")),
        ("", t("Trong hạn")),
        ("", t("Quá hạn")),
        (t("Rút"), ""),
    )
    return [Text.assemble((group, "bold"), "\n", column) for group, column in labels]


def _cell(group: dict[str, Any], column: str) -> int:
    value: Any = group
    for part in column.split("."):
        value = value[part]
    return int(value)


def _numbers(group: dict[str, Any], style: str = "") -> list[Text]:
    return [Text(str(_cell(group, c)), style=style, justify="right") for c in COLUMNS]


class ReportsScreen(CommuneScreen):
    DEFAULT_CSS = """
    ReportsScreen #reports { padding: 0 1; }
    ReportsScreen #period { height: 1; margin: 1 0 0 0; }
    ReportsScreen #period Label { padding: 0 1 0 0; }
    ReportsScreen #period Input { width: 12; margin-right: 2; }
    ReportsScreen #period Button { margin-right: 1; }
    ReportsScreen #report-status { height: auto; margin: 1 0 0 0; }
    ReportsScreen #bieu06 { height: 1fr; }
    ReportsScreen #report-summary { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.doc: dict[str, Any] | None = None
        self._period: tuple[str, str] | None = None
        # The status line as a function, so a language switch re-renders it translated.
        self._status: Callable[[], str] = lambda: t("Chọn kỳ báo cáo rồi nhấn F6 (Lập báo cáo).")
        self._status_error = False
        self._busy = False

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The language this composition shows: `on_screen_resume` recomposes when it differs
        # (the app recomposes the current screen on F8 without updating it).
        self._language = get_language()
        self._bind_keys()
        if self._period is None:
            today = self.desk.now().date()
            self._period = (today.replace(day=1).isoformat(), today.isoformat())
        yield Header()
        with Vertical(id="reports"):
            with Horizontal(id="period"):
                yield Label(t("Từ ngày"))
                yield Input(self._period[0], id="date-from", compact=True, max_length=10)
                yield Label(t("Đến ngày"))
                yield Input(self._period[1], id="date-to", compact=True, max_length=10)
                yield Button(t("Lập báo cáo"), id="build", compact=True, variant="primary")
                yield Button(t("Xuất Excel"), id="export", compact=True)
            yield Label(
                self._status(), id="report-status", classes="error" if self._status_error else ""
            )
            table: DataTable[Any] = DataTable(
                id="bieu06", header_height=2, fixed_columns=1, zebra_stripes=True, cursor_type="row"
            )
            self._fill(table)
            yield table
            yield Label(self._summary(), id="report-summary")
        yield Footer()

    def _bind_keys(self) -> None:
        for key, action, label in (
            ("f6", "build", t("Lập báo cáo")),
            ("f7", "export", t("Xuất Excel")),
        ):
            self._bindings.key_to_bindings[key] = [Binding(key, action, label)]
        self.refresh_bindings()

    def _fill(self, table: DataTable[Any]) -> None:
        table.clear(columns=True)
        table.add_column(t("Lĩnh vực"), key="field", width=24)
        for key, header in zip(COLUMNS, _headers(), strict=True):
            table.add_column(header, key=key)
        if self.doc is None:
            return
        for group in self.doc["by_field"]:
            name = t(UNKNOWN_FIELD) if group["field"] == UNKNOWN_FIELD else group["field"]
            table.add_row(name, *_numbers(group), key=group["field"])
        table.add_row(
            Text(t("Tổng cộng"), style="bold"), *_numbers(self.doc, "bold"), key=TOTAL_ROW
        )

    def _summary(self) -> str:
        if self.doc is None:
            return ""
        d = self.doc
        return "\n".join(
            (
                t("Tỷ lệ giải quyết đúng hạn: {rate}", rate=rate_text(d["on_time_rate"])),
                t(
                    "Từ chối tiếp nhận: {refused} · Dừng giải quyết: {stopped} · "
                    "Bổ sung quá 1 lần: {multi}",
                    refused=d["refused"],
                    stopped=d["stopped"],
                    multi=d["more_than_one_supplement"],
                ),
            )
        )

    # -- actions ----------------------------------------------------------------------------
    @on(Input.Changed)
    def _remember(self, event: Input.Changed) -> None:
        start, end = self._period or ("", "")
        if event.input.id == "date-from":
            start = event.value
        elif event.input.id == "date-to":
            end = event.value
        self._period = (start, end)

    @on(Input.Submitted)
    @on(Button.Pressed, "#build")
    def action_build(self) -> None:
        self._start(export=False)

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        self._start(export=True)

    def _start(self, *, export: bool) -> None:
        try:
            start = parse_day(self.query_one("#date-from", Input).value)
            end = parse_day(self.query_one("#date-to", Input).value)
            if start > end:
                raise ValueError(t("Ngày bắt đầu phải trước hoặc bằng ngày kết thúc"))
        except ValueError as exc:
            message = str(exc)
            self._set_status(lambda: message, error=True)
            return
        path = None
        if export:
            path = self.desk.data_dir / "reports" / f"bieu06-{start}-{end}.xlsx"
        self._busy = True
        self._set_status(lambda: t("Đang lập báo cáo…"))
        self.run_report(start, end, path)

    @work(thread=True, exclusive=True, group="report")
    def run_report(self, start: date, end: date, xlsx: Path | None) -> None:
        try:
            station = self.desk.open()
            if xlsx is not None:
                xlsx.parent.mkdir(parents=True, exist_ok=True)
            doc = self.call(printing.report, station, start, end, now=self.desk.now(), xlsx=xlsx)
        except Exception as exc:  # shown under the period; the screen stays usable
            self.app.call_from_thread(self._failed, error_text(exc))
            return
        self.app.call_from_thread(self._show, doc)

    def _show(self, doc: dict[str, Any]) -> None:
        self.doc, self._busy = doc, False
        start, end, path = doc["period"]["from"], doc["period"]["to"], doc.get("xlsx")
        if path:
            self._status = lambda: t("Đã xuất Excel: {path}", path=path)
            self.notify(self._status(), timeout=8)
        else:
            self._status = lambda: t(
                "Biểu 06 — kỳ báo cáo từ {start} đến {end}", start=start, end=end
            )
        self._status_error = False
        with suppress(NoMatches):  # mid-recompose: `recompose` paints when it is done
            self._paint(table=True)

    def _failed(self, message: str) -> None:
        self._busy = False
        self._set_status(lambda: message, error=True)

    def _set_status(self, text: Callable[[], str], *, error: bool = False) -> None:
        self._status, self._status_error = text, error
        with suppress(NoMatches):
            self._paint()

    def _paint(self, *, table: bool = False) -> None:
        label = self.query_one("#report-status", Label)
        label.update(self._status())
        label.set_class(self._status_error, "error")
        grid = self.query_one("#bieu06", DataTable)
        grid.loading = self._busy
        if table:
            self._fill(grid)
            self.query_one("#report-summary", Label).update(self._summary())

    async def recompose(self) -> None:
        """After a language switch: new widgets, showing the report already made."""
        await super().recompose()
        self._paint(table=True)
