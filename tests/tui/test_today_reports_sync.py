"""The Today, Reports and Sync screens over a real station: a dozen dossiers received and acted
on at known times, read back at "now" = Wednesday 25/11/2026 10:00 (24/11 is a holiday)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from commune_client.catalog import demo_catalog
from commune_client.desk import act, receive
from commune_client.procedures import save_catalog
from commune_client.station import Station
from commune_client.tui.app import CommuneApp
from commune_client.tui.screens.reports import COLUMNS, TOTAL_ROW, ReportsScreen
from commune_client.tui.screens.sync import SyncScreen
from commune_client.tui.screens.today import Card, TodayScreen

PASS = "mật khẩu Hoa"
NOW = "2026-11-25T10:00:00+07:00"
OFFICE = "000.00.17.H56"
RESIDENCE = "Đăng ký, quản lý cư trú"

pytestmark = pytest.mark.anyio  # anyio's pytest plugin runs the async tests (asyncio backend)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}:00+07:00")


def _code(day: str, n: int) -> str:
    return f"{OFFICE}-26{day}-{n:04d}"


def build_station(data_dir: Path) -> int:
    """The dossiers of the tests; returns the log size. Comments: status at NOW, due time."""
    station = Station.create(
        data_dir,
        office=OFFICE,
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=_at("10-01T08:00"),
    )
    save_catalog(station.store, demo_catalog())
    s = station.sign_in(None, PASS)
    applicant = {"name": "Nguyễn Văn Đức", "id_number": "001088012345"}

    def rec(when: str, procedure: str, name: str = "Nguyễn Văn Đức", **kw: Any) -> str:
        who = {**applicant, "name": name}
        return str(receive(s, procedure=procedure, applicant=who, now=_at(when), **kw)["code"])

    def do(code: str, action: str, when: str, **kw: Any) -> None:
        act(s, code, action, now=_at(when), **kw)

    rec("10-28T09:00", "1.004194")  # open, due 02/11: overdue, carried over into November
    c = rec("11-02T09:00", "1.004194")  # due 05/11, resolved 04/11: early
    do(c, "resolve", "11-04T09:00")
    do(c, "return", "11-05T09:00")
    c = rec("11-10T09:00", "1.004194")  # due 13/11, resolved 17/11: late
    do(c, "resolve", "11-17T09:00")
    rec("11-18T09:00", "1.004194", "Trần Thị Lan")  # open, due 23/11 09:00: overdue
    c = rec("11-19T09:00", "1.004194")  # processing, due 25/11 09:00: overdue (due today)
    do(c, "accept", "11-19T10:00")
    c = rec("11-20T09:00", "1.004194", "Phạm Văn Sơn")  # due 26/11 09:00: supplement asked
    do(c, "request-supplement", "11-20T10:00", reason="Thiếu bản sao CCCD")
    c = rec("11-23T08:00", "1.004194")  # due 27/11: awaiting payment
    do(c, "request-payment", "11-23T09:00", amount=15000)
    rec("11-24T10:00", "1.003197", "Lê Thị Mai")  # open, due 25/11 17:00: due today
    c = rec("11-24T10:05", "1.004845")  # withdrawn
    do(c, "withdraw", "11-24T11:00")
    c = rec("11-25T08:00", "1.001193")  # received today, resolved on the spot (on time)
    do(c, "resolve", "11-25T08:20")
    rec("11-25T08:30", "1.004194", channel="online")  # received today (online), due 30/11
    c = rec("11-25T09:00", "1.001699")  # received today, refused
    do(c, "refuse", "11-25T09:10", reason="Không thuộc thẩm quyền")
    c = rec("11-25T09:30", "1.004194")  # received today, awaiting payment
    do(c, "request-payment", "11-25T09:40", amount=15000)
    size = station.store.size()
    station.close()
    return size


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMMUNE_NOW", NOW)
    monkeypatch.delenv("COMMUNE_LANG", raising=False)
    path = tmp_path / "station"
    build_station(path)
    return path


async def settle(app: CommuneApp, pilot: Pilot[None]) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


@asynccontextmanager
async def signed_in(
    data_dir: Path, size: tuple[int, int] = (80, 24)
) -> AsyncIterator[tuple[CommuneApp, Pilot[None]]]:
    app = CommuneApp(data_dir)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.screen.query_one("#passphrase", Input).value = PASS
        await pilot.press("enter")
        await settle(app, pilot)
        await settle(app, pilot)  # the sign-in worker, then the Today screen's own
        assert isinstance(app.screen, TodayScreen)
        yield app, pilot


def card_value(app: CommuneApp, card: str) -> str:
    body = str(app.screen.query_one(f"#card-{card}", Card).render())
    return body.splitlines()[0]


# -- Today ------------------------------------------------------------------------------------


async def test_today_counts(data_dir: Path) -> None:
    async with signed_in(data_dir) as (app, _):
        screen = app.screen
        assert isinstance(screen, TodayScreen)
        assert screen.counts is not None
        values = {c: card_value(app, c) for c in ("received", "due_today", "overdue")}
        assert values == {"received": "4", "due_today": "4", "overdue": "3"}
        assert card_value(app, "supplement") == "1"
        assert card_value(app, "payment") == "2"
        heading = str(screen.query_one("#today-heading", Label).render())
        assert "Nguyễn Thị Hoa" in heading and "Thứ Tư, 25/11/2026" in heading
        sync = str(screen.query_one("#card-sync", Card).render())
        assert "Chưa đồng bộ — trạm độc lập" in sync
        assert f"Chờ gửi: {screen.counts.waiting} bản ghi" in sync
        assert screen.counts.waiting == Station.open(data_dir).store.size()
        soon = str(screen.query_one("#today-due-soon", Static).render()).splitlines()
        assert [line.split()[2:] for line in soon] == [
            [_code("1124", 1), "Lê", "Thị", "Mai"],
            [_code("1120", 1), "Phạm", "Văn", "Sơn"],
        ]


async def test_today_shortcuts_open_the_dossiers_list(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with signed_in(data_dir) as (app, pilot):
        calls: list[dict[str, Any]] = []
        monkeypatch.setattr(app, "open_dossiers", lambda **kw: calls.append(kw))
        for key in "12345":
            await pilot.press(key)
        app.screen.query_one("#card-overdue", Card).focus()
        await pilot.press("enter")
        await pilot.click("#card-supplement")
        assert calls == [
            {"status": "received"},
            {"due_today": True},
            {"overdue": True},
            {"status": "supplement_requested"},
            {"status": "awaiting_payment"},
            {"overdue": True},
            {"status": "supplement_requested"},
        ]
        app.screen.query_one("#card-sync", Card).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SyncScreen)


async def test_today_overdue_card_lands_on_the_filtered_list(data_dir: Path) -> None:
    async with signed_in(data_dir) as (app, pilot):
        await pilot.press("3")
        await settle(app, pilot)
        assert app.current_mode == "dossiers"
        await pilot.press("f1")
        await settle(app, pilot)
        assert isinstance(app.screen, TodayScreen)


async def test_today_refreshes_when_shown_again(data_dir: Path) -> None:
    async with signed_in(data_dir) as (app, pilot):
        station = app.desk.open()
        session = app.desk.require_session()
        app.desk.call(
            receive,
            session,
            procedure="1.004194",
            applicant={"name": "Hoàng Văn Nam", "id_number": "001088012346"},
            now=_at("11-25T09:50"),
        )
        await pilot.press("f5")
        await settle(app, pilot)
        await pilot.press("f1")
        await settle(app, pilot)
        assert card_value(app, "received") == "5"
        assert isinstance(app.screen, TodayScreen) and app.screen.counts is not None
        assert app.screen.counts.waiting == station.store.size()


async def test_today_at_120x40_in_english(data_dir: Path) -> None:
    async with signed_in(data_dir, size=(120, 40)) as (app, pilot):
        await pilot.press("f8")
        await settle(app, pilot)
        card = app.screen.query_one("#card-received", Card)
        assert card.border_title == "Received today"
        assert "Wednesday, 25/11/2026" in str(app.screen.query_one("#today-heading").render())
        assert "Never synced" in str(app.screen.query_one("#card-sync", Card).render())
        assert card_value(app, "overdue") == "3"


# -- Reports ----------------------------------------------------------------------------------


def _row(table: DataTable[Any], key: str) -> dict[str, int]:
    return {c: int(str(table.get_cell(key, c))) for c in COLUMNS}


async def test_reports_biểu_06_for_the_month_and_excel(data_dir: Path) -> None:
    async with signed_in(data_dir) as (app, pilot):
        await pilot.press("f4")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        assert screen.query_one("#date-from", Input).value == "2026-11-01"
        assert screen.query_one("#date-to", Input).value == "2026-11-25"
        await pilot.press("f6")
        await settle(app, pilot)
        table = screen.query_one("#bieu06", DataTable)
        total = _row(table, TOTAL_ROW)
        assert total == {
            "received.total": 12,
            "received.online": 1,
            "received.direct_or_postal": 10,
            "received.carried_over": 1,
            "resolved.total": 3,
            "resolved.early": 1,
            "resolved.on_time": 1,
            "resolved.late": 1,
            "pending.total": 8,
            "pending.within_deadline": 6,
            "pending.overdue": 2,
            "withdrawn": 1,
        }
        assert _row(table, RESIDENCE)["received.total"] == 10
        assert table.row_count == 4  # Bảo trợ xã hội (refused only), Cư trú, Hộ tịch, total
        summary = str(screen.query_one("#report-summary", Label).render())
        assert "Tỷ lệ giải quyết đúng hạn: 75,0%" in summary
        assert "Từ chối tiếp nhận: 1" in summary

        await pilot.press("f7")
        await settle(app, pilot)
        path = data_dir / "reports" / "bieu06-2026-11-01-2026-11-25.xlsx"
        assert path.is_file()
        assert str(path) in str(screen.query_one("#report-status", Label).render())
        workbook = openpyxl.load_workbook(path)
        assert "Biểu 06" in workbook.active.title


async def test_reports_bad_dates_show_an_error(data_dir: Path) -> None:
    async with signed_in(data_dir) as (app, pilot):
        await pilot.press("f4")
        await settle(app, pilot)
        screen = app.screen
        status = screen.query_one("#report-status", Label)
        start = screen.query_one("#date-from", Input)
        start.value = "25/11/2026"
        await pilot.press("f6")
        await settle(app, pilot)
        assert "Ngày không hợp lệ: «25/11/2026»" in str(status.render())
        assert status.has_class("error")
        start.value = "2026-02-30"
        start.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Ngày không hợp lệ: «2026-02-30»" in str(status.render())
        start.value = "2026-12-01"
        await pilot.press("f7")
        await settle(app, pilot)
        assert "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc" in str(status.render())
        assert not (data_dir / "reports").exists()
        assert screen.query_one("#bieu06", DataTable).row_count == 0
        start.value = "2026-11-25"
        await pilot.press("f6")
        await settle(app, pilot)
        assert not status.has_class("error")
        assert screen.query_one("#bieu06", DataTable).row_count > 0


# -- Sync -------------------------------------------------------------------------------------


async def test_sync_is_honest_about_a_stand_alone_station(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = Station.open(data_dir).store.size()
    async with signed_in(data_dir) as (app, pilot):
        notices: list[tuple[str, str]] = []
        monkeypatch.setattr(
            app, "notify", lambda message, **kw: notices.append((message, kw["severity"]))
        )
        await pilot.press("f5")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        info = str(screen.query_one("#sync-info", Static).render())
        assert "Máy chủ đồng bộ: chưa cấu hình (trạm độc lập)" in info
        assert f"Số bản ghi trong nhật ký: {size}" in info
        assert f"Bản ghi chờ gửi: {size}" in info
        assert f"Điểm chốt (checkpoint) mới nhất: {size} bản ghi" in info
        assert f"Nguồn nhật ký: {app.desk.open().info.origin}" in info
        quarantine = screen.query_one("#quarantine", DataTable)
        assert quarantine.row_count == 0
        assert [str(c.label) for c in quarantine.columns.values()] == ["Bản ghi", "Lý do"]
        box = screen.query_one("#sync-progress-box")
        assert not box.display  # idle: the progress bar is hidden

        await pilot.press("f6")
        await settle(app, pilot)
        message = (
            "Chưa cấu hình máy chủ đồng bộ. Dùng `commune enroll --server URL --token TOKEN` "
            "khi có mạng."
        )
        assert notices == [(message, "warning")]
        assert app.desk.open().store.size() == size  # nothing was "synced"

        screen.show_progress(3, 10, "3/10 bản ghi")  # the hooks the sync agent will drive
        assert box.display
        assert screen.query_one("#sync-progress", ProgressBar).progress == 3
        screen.hide_progress()
        assert not box.display
        screen.show_quarantine([("seq 7", "chữ ký không hợp lệ")])
        assert quarantine.row_count == 1
