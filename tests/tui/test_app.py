"""The office app end to end: the first-run wizard, signing in (and failing to), switching
officer, switching language, quitting, and every screen at 80x24."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label

from commune_client.procedures import list_procedures
from commune_client.station import Station
from commune_client.tui.app import CommuneApp
from commune_client.tui.i18n import get_language
from commune_client.tui.screens.reports import ReportsScreen
from commune_client.tui.screens.setup import SetupScreen
from commune_client.tui.screens.signin import SignInScreen
from commune_client.tui.screens.sync import SyncScreen
from commune_client.tui.screens.today import Card, TodayScreen

pytestmark = pytest.mark.anyio  # anyio's pytest plugin runs the async tests (asyncio backend)

PASS = "mật khẩu Hoa"
NOW = "2026-11-23T09:15:00+07:00"


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMUNE_NOW", NOW)
    monkeypatch.delenv("COMMUNE_LANG", raising=False)


@pytest.fixture
def station_dir(tmp_path: Path) -> Path:
    path = tmp_path / "station"
    Station.create(
        path,
        office="000.00.17.H56",
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=datetime.fromisoformat(NOW),
    ).close()
    return path


async def settle(app: CommuneApp, pilot: Pilot[None]) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def sign_in(app: CommuneApp, pilot: Pilot[None], passphrase: str = PASS) -> None:
    assert isinstance(app.screen, SignInScreen)
    app.screen.query_one("#passphrase", Input).value = passphrase
    await pilot.press("enter")
    await settle(app, pilot)
    await settle(app, pilot)


def fill(screen: object, values: dict[str, str]) -> None:
    assert isinstance(screen, SetupScreen)
    for name, value in values.items():
        screen.query_one(f"#{name}", Input).value = value


async def create(app: CommuneApp, pilot: Pilot[None]) -> None:
    # press(), not a click: a button ignores clicks for 0.2 s after one (its press animation)
    app.screen.query_one("#create", Button).press()
    await settle(app, pilot)


async def test_first_run_wizard_then_sign_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "new-station"
    app = CommuneApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        error = app.screen.query_one("#setup-error", Label)
        await create(app, pilot)
        assert "Cần nhập đủ mã đơn vị" in str(error.render())
        office = {"office": "000.00.17.H56", "office-name": "UBND xã Tân Lập"}
        fill(app.screen, {**office, "officer": "Nguyễn Thị Hoa", "pass1": "ngắn"})
        await create(app, pilot)
        assert "Mật khẩu cần ít nhất 6 ký tự" in str(error.render())
        fill(app.screen, {"pass1": PASS, "pass2": PASS + "!"})
        await create(app, pilot)
        assert "Hai lần nhập mật khẩu không khớp" in str(error.render())
        assert not (data_dir / "station.db").exists()

        fill(app.screen, {"pass2": PASS})
        await create(app, pilot)
        assert isinstance(app.screen, SignInScreen)
        assert (data_dir / "station.db").exists()
        assert len(list_procedures(app.desk.open().store)) > 20  # the demo catalogue
        await sign_in(app, pilot)
        assert isinstance(app.screen, TodayScreen)
        assert app.desk.session is not None
        assert app.desk.session.officer_name == "Nguyễn Thị Hoa"
        assert app.sub_title == "Nguyễn Thị Hoa"


async def test_first_run_wizard_fits_80x24(tmp_path: Path) -> None:
    app = CommuneApp(tmp_path / "new-station")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for name in ("office", "office-name", "officer", "pass1", "pass2", "demo", "create"):
            widget = app.screen.query_one(f"#{name}")
            widget.focus()  # the dialog may scroll, but each field must show whole
            await pilot.pause()
            shown = app.screen.find_widget(widget).visible_region
            assert shown.height == widget.region.height > 0, (name, shown)


async def test_wrong_passphrase_shows_the_error_and_stays(station_dir: Path) -> None:
    app = CommuneApp(station_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await sign_in(app, pilot, "không đúng")
        assert isinstance(app.screen, SignInScreen)
        message = str(app.screen.query_one("#signin-error", Label).render())
        assert "Sai mật khẩu của cán bộ Nguyễn Thị Hoa" in message
        assert app.screen.query_one("#passphrase", Input).value == ""
        assert app.desk.session is None
        await sign_in(app, pilot)
        assert isinstance(app.screen, TodayScreen)


async def test_f9_switches_officer(station_dir: Path) -> None:
    app = CommuneApp(station_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await sign_in(app, pilot)
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, SignInScreen)
        assert app.desk.session is None
        await pilot.press("f4")  # the function keys do nothing while nobody is signed in
        await pilot.pause()
        assert isinstance(app.screen, SignInScreen)
        await sign_in(app, pilot)
        assert isinstance(app.screen, TodayScreen)


async def test_f8_toggles_english(station_dir: Path) -> None:
    app = CommuneApp(station_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await sign_in(app, pilot)
        screen = app.screen

        def footer(key: str) -> str:
            return app.screen.active_bindings[key].binding.description

        assert footer("f1") == "Hôm nay" and footer("1") == "Nhận mới"
        assert screen.query_one("#card-received", Card).border_title == "Nhận hôm nay"
        await pilot.press("f8")
        await settle(app, pilot)
        assert get_language() == "en"
        assert app.title == "One-stop desk — signed dossier ledger"
        assert screen.query_one("#card-received", Card).border_title == "Received today"
        assert footer("1") == "New" and footer("f10") == "Quit"
        assert footer("f1") == "Today" and footer("f8") == "Tiếng Việt"
        await pilot.press("f4")  # a screen first shown after the switch is in English too
        await settle(app, pilot)
        assert isinstance(app.screen, ReportsScreen)
        assert footer("f6") == "Build report"
        await pilot.press("f8")
        await settle(app, pilot)
        assert get_language() == "vi"
        assert footer("f6") == "Lập báo cáo" and footer("f4") == "Báo cáo"
        await pilot.press("f1")  # recomposed in Vietnamese when shown again
        await settle(app, pilot)
        assert app.screen.query_one("#card-received", Card).border_title == "Nhận hôm nay"


async def test_f10_quits(station_dir: Path) -> None:
    app = CommuneApp(station_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await sign_in(app, pilot)
        await pilot.press("f10")
        await pilot.pause()
        assert app._exit
    assert app.return_code == 0
    assert app.desk.station is None  # closed on unmount


async def test_every_screen_fits_80x24(station_dir: Path) -> None:
    app = CommuneApp(station_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await sign_in(app, pilot)
        screen = app.screen
        for card in screen.query(Card):
            region = card.region
            assert region.right <= 80 and region.bottom <= 23, (card.id, region)
        for key, kind in (("f4", ReportsScreen), ("f5", SyncScreen), ("f1", TodayScreen)):
            await pilot.press(key)
            await settle(app, pilot)
            assert isinstance(app.screen, kind)
            for widget in app.screen.query("Input, Button, Label"):
                if widget.display and widget.region.area:
                    assert widget.region.right <= 80 and widget.region.bottom <= 23, widget
        for key in ("f2", "f3"):
            await pilot.press(key)
            await settle(app, pilot)
            assert app.current_mode == {"f2": "intake", "f3": "dossiers"}[key]
