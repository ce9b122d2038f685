"""Today (F1), the first screen after sign-in: the desk at a glance. Six cards count what needs
the officer now (received today, due today, overdue, awaiting a supplement, awaiting payment,
sync); each card is a shortcut into the dossiers list (Enter or a click, or the keys 1-5).

The counts are SQL COUNT(*) queries over the indexed columns of the `dossiers` projection
(`status, due_at` and `received_at`), so they stay instant at 100,000 dossiers; they run in a
worker when the screen is shown and every minute while it is."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Footer, Header, Label, Static

from commune_client.clock import VN_TZ, iso
from commune_client.station import Station
from commune_client.tui.i18n import get_language, t
from commune_client.tui.screens.base import CommuneScreen
from schemas.lifecycle import OPEN_STATES

__all__ = ["Card", "DeskCounts", "TodayScreen", "desk_counts", "long_date"]

REFRESH_SECONDS = 60.0
_OPEN = tuple(sorted(s.value for s in OPEN_STATES))
_IN_OPEN = ",".join("?" * len(_OPEN))

# The dossiers list filters behind each card (`CommuneApp.open_dossiers`). The list has no
# "received today" filter: that card opens the dossiers still in status `received`, which is
# today's intake plus older dossiers nobody has taken up yet (newest first, so today's on top).
_FILTERS: dict[str, dict[str, Any]] = {
    "received": {"status": "received"},
    "due_today": {"due_today": True},
    "overdue": {"overdue": True},
    "supplement": {"status": "supplement_requested"},
    "payment": {"status": "awaiting_payment"},
}


@dataclass(frozen=True)
class DeskCounts:
    """What the cards show, read in one worker call."""

    now: datetime
    received: int
    due_today: int
    overdue: int
    supplement: int
    payment: int
    hub: str | None
    last_sync: str | None
    waiting: int
    due_soon: list[tuple[str, str, str]]  # (code, applicant, due_at), soonest first


def desk_counts(station: Station, now: datetime) -> DeskCounts:
    """The cards' numbers. "Due today" is every open dossier due before tomorrow 00:00 (the
    overdue ones too: all of it must be dealt with tonight)."""
    store = station.store
    local = now.astimezone(VN_TZ)
    midnight = datetime.combine(local.date(), time(0), VN_TZ)
    today, tomorrow, at = iso(midnight), iso(midnight + timedelta(days=1)), iso(local)
    soon = iso(local + timedelta(hours=24))

    def count(where: str, *args: str) -> int:
        row = store.conn.execute(f"SELECT COUNT(*) FROM dossiers WHERE {where}", args).fetchone()
        return int(row[0])

    open_due_before = f"status IN ({_IN_OPEN}) AND due_at < ?"
    due_soon = store.conn.execute(
        "SELECT code, applicant_name, due_at FROM dossiers "
        f"WHERE status IN ({_IN_OPEN}) AND due_at >= ? AND due_at < ? ORDER BY due_at LIMIT 3",
        (*_OPEN, at, soon),
    ).fetchall()
    hub = store.meta("hub")
    return DeskCounts(
        now=local,
        received=count("received_at >= ? AND received_at < ?", today, tomorrow),
        due_today=count(open_due_before, *_OPEN, tomorrow),
        overdue=count(open_due_before, *_OPEN, at),
        supplement=count("status = ?", "supplement_requested"),
        payment=count("status = ?", "awaiting_payment"),
        hub=hub,
        last_sync=store.meta("last_sync"),
        # Entries the hub has not acknowledged yet (all of them while stand-alone).
        waiting=store.size() - int(store.meta("hub_accepted") or 0),
        due_soon=[(str(c), str(a), str(d)) for c, a, d in due_soon],
    )


def long_date(day: datetime) -> str:
    """`Thứ Hai, 23/11/2026` (or `Monday, 23/11/2026`)."""
    names = (
        t("Thứ Hai"),
        t("Thứ Ba"),
        t("Thứ Tư"),
        t("Thứ Năm"),
        t("Thứ Sáu"),
        t("Thứ Bảy"),
        t("Chủ Nhật"),
    )
    return f"{names[day.weekday()]}, {day:%d/%m/%Y}"


class Card(Static, can_focus=True):
    """One count on the Today screen; Enter or a click selects it."""

    BINDINGS = [
        Binding("enter,space", "select", show=False),
        Binding("right,down", "app.focus_next", show=False),
        Binding("left,up", "app.focus_previous", show=False),
    ]

    class Selected(Message):
        def __init__(self, card: str) -> None:
            super().__init__()
            self.card = card

    def __init__(self, card: str, title: str, hotkey: str, body: Text) -> None:
        super().__init__(body, id=f"card-{card}", classes="card")
        self.card = card
        self.border_title = title
        self.border_subtitle = hotkey

    def action_select(self) -> None:
        self.post_message(self.Selected(self.card))

    def on_click(self) -> None:
        self.action_select()


class TodayScreen(CommuneScreen):
    DEFAULT_CSS = """
    TodayScreen #today { padding: 0 1; }
    TodayScreen #today-heading { width: 100%; text-style: bold; margin-bottom: 1; }
    TodayScreen #today-cards {
        grid-size: 3 2; grid-gutter: 0 1; grid-rows: 6; height: 12;
    }
    TodayScreen .card { border: round $primary; padding: 0 1; height: 6; }
    TodayScreen .card:focus { border: heavy $accent; background: $boost; }
    TodayScreen #card-overdue { border: round $error; }
    TodayScreen #card-overdue:focus { border: heavy $error; }
    TodayScreen .section { margin-top: 1; text-style: bold; }
    TodayScreen #today-due-soon { height: auto; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: DeskCounts | None = None

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The language this composition shows: `on_screen_resume` recomposes when it differs
        # (the app recomposes the current screen on F8 without updating it).
        self._language = get_language()
        self._bind_keys()
        yield Header()
        with Vertical(id="today"):
            yield Label(self._heading(), id="today-heading", markup=False)
            with Grid(id="today-cards"):
                for card, title, hotkey in self._cards():
                    yield Card(card, title, hotkey, self._body(card))
            yield Label(t("Sắp đến hạn trong 24 giờ tới"), classes="section")
            yield Static(self._due_soon(), id="today-due-soon", markup=False)
        yield Footer()

    def _bind_keys(self) -> None:
        """Footer labels follow the language, so the bindings are made at compose time."""
        keys = (
            ("1", "received", t("Nhận mới")),
            ("2", "due_today", t("Đến hạn")),
            ("3", "overdue", t("Quá hạn")),
            ("4", "supplement", t("Chờ bổ sung")),
            ("5", "payment", t("Chờ nộp phí")),
        )
        for key, card, label in keys:
            self._bindings.key_to_bindings[key] = [Binding(key, f"open_card('{card}')", label)]
        self.refresh_bindings()

    @staticmethod
    def _cards() -> list[tuple[str, str, str]]:
        return [
            ("received", t("Nhận hôm nay"), "1"),
            ("due_today", t("Đến hạn hôm nay"), "2"),
            ("overdue", t("Quá hạn"), "3"),
            ("supplement", t("Chờ bổ sung"), "4"),
            ("payment", t("Chờ nộp phí"), "5"),
            ("sync", t("Đồng bộ"), "F5"),
        ]

    def _heading(self) -> str:
        session = self.desk.session
        parts = [session.officer_name if session else ""]
        if self.counts is not None:
            parts.append(long_date(self.counts.now))
        return " · ".join(p for p in parts if p)

    def _body(self, card: str) -> Text:
        c = self.counts
        if card == "sync":
            if c is None:
                return Text("…")
            last = (
                t("Chưa đồng bộ — trạm độc lập")
                if c.hub is None
                else (t("Lần cuối: {at}", at=c.last_sync or "—"))
            )
            return Text.assemble(
                last,
                "\n",
                t("Chờ gửi: {count} bản ghi", count=c.waiting),
                "\n",
                t("Lệch giờ máy chủ: {diff}", diff="—"),
            )
        details = {
            "received": t("hồ sơ đã tiếp nhận"),
            "due_today": t("phải trả trước 24:00"),
            "overdue": t("hồ sơ quá hạn chưa trả"),
            "supplement": t("chờ công dân bổ sung"),
            "payment": t("chờ nộp phí, lệ phí"),
        }
        value = "…" if c is None else str(getattr(c, card))
        return Text.assemble((value, "bold"), "\n", (details[card], "dim"))

    def _due_soon(self) -> str:
        if self.counts is None:
            return "…"
        if not self.counts.due_soon:
            return t("Không có hồ sơ nào đến hạn trong 24 giờ tới.")
        return "\n".join(
            f"{due[11:16]} {due[8:10]}/{due[5:7]}  {code}  {name}"
            for code, name, due in self.counts.due_soon
        )

    # -- data -------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.set_interval(REFRESH_SECONDS, self._tick)

    def on_screen_resume(self) -> None:
        self.reload()

    def _tick(self) -> None:
        if self.is_current:
            self.reload()

    @work(thread=True, exclusive=True, group="today")
    def reload(self) -> None:
        try:
            station = self.desk.open()
            counts = self.call(desk_counts, station, self.desk.now())
        except Exception as exc:  # shown to the officer; the old numbers stay
            self.notify_error(exc)
            return
        self.app.call_from_thread(self._show, counts)

    def _show(self, counts: DeskCounts) -> None:
        self.counts = counts
        with suppress(NoMatches):  # mid-recompose: `recompose` paints when it is done
            self._paint()

    def _paint(self) -> None:
        self.query_one("#today-heading", Label).update(self._heading())
        for card, _, _ in self._cards():
            self.query_one(f"#card-{card}", Card).update(self._body(card))
        self.query_one("#today-due-soon", Static).update(self._due_soon())

    async def recompose(self) -> None:
        """After a language switch: new widgets, showing the numbers already read."""
        await super().recompose()
        self._paint()

    # -- shortcuts --------------------------------------------------------------------------
    def on_card_selected(self, message: Card.Selected) -> None:
        self.action_open_card(message.card)

    def action_open_card(self, card: str) -> None:
        if card == "sync":
            self.commune.action_goto("sync")
        else:
            self.commune.open_dossiers(**_FILTERS[card])
