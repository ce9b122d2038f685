"""F3 Hồ sơ and the dossier detail over a real station: 120 dossiers received at known times
(a few acted on), read at "now" = Wednesday 02/12/2026 09:00. Paging, filters and search, the
detail with its control slip, every lifecycle action through its form, and printing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from textual.pilot import Pilot
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
    TextArea,
)
from textual.worker import WorkerCancelled

from commune_client.catalog import demo_catalog
from commune_client.desk import act, receive
from commune_client.procedures import save_catalog
from commune_client.queries import timeline
from commune_client.station import Station
from commune_client.tui.app import CommuneApp
from commune_client.tui.screens.dossier_detail import DossierDetailScreen
from commune_client.tui.screens.dossiers import DossiersScreen
from commune_client.tui.widgets.action_form import ActionForm, split_documents

PASS = "mật khẩu Hoa"
NOW = "2026-12-02T09:00:00+07:00"  # Wednesday
OFFICE = "000.00.17.H56"
NAMES = ["Nguyễn Văn Đức", "Trần Thị Mai", "Lê Văn Hùng", "Phạm Thị Lan"]
DAYS = ["11-23", "11-25", "11-26", "11-27", "11-30", "12-01"]  # 20 receipts a day

pytestmark = pytest.mark.anyio


def _at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}:00+07:00")


def build_station(data_dir: Path) -> dict[str, str]:
    """120 dossiers, newest last; returns the codes of the special ones by role."""
    station = Station.create(
        data_dir,
        office=OFFICE,
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=_at("11-01T08:00"),
    )
    save_catalog(station.store, demo_catalog())
    s = station.sign_in(None, PASS)
    codes: list[str] = []
    for i in range(119):
        day, n = DAYS[i // 20], i % 20
        who = {"name": NAMES[i % 4], "id_number": f"0010880{i:05d}", "phone": "0912345678"}
        procedure = "1.004194" if i == 0 else "1.013225"  # 3 or 15 working days
        when = _at(f"{day}T07:30") + timedelta(minutes=15 * n)
        codes.append(receive(s, procedure=procedure, applicant=who, now=when)["code"])
    week = receive(  # due Thursday 03/12 08:30: this week, not today
        s,
        procedure="1.003197",
        applicant={"name": "Võ Thị Hạnh", "id_number": "001088099999"},
        now=_at("12-02T08:30"),
    )["code"]
    act(s, codes[1], "request-supplement", now=_at("11-23T10:00"), reason="Thiếu bản sao CCCD")
    act(s, codes[2], "withdraw", now=_at("11-23T10:30"))
    station.close()
    roles = {"overdue": codes[0], "supplement": codes[1], "withdrawn": codes[2], "week": week}
    roles.update({f"fresh{k}": codes[-1 - k] for k in range(5)})
    return roles


@pytest.fixture
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    monkeypatch.setenv("COMMUNE_NOW", NOW)
    monkeypatch.delenv("COMMUNE_LANG", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    path = tmp_path / "station"
    return path, build_station(path)


async def settle(app: CommuneApp, pilot: Pilot[None]) -> None:
    """Until no worker runs: a worker's result may start another (form -> detail reload)."""
    for _ in range(5):
        with suppress(WorkerCancelled):  # a newer query cancelled an older one: expected
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            return


@asynccontextmanager
async def dossiers(
    data_dir: Path, size: tuple[int, int] = (80, 24), language: str = "vi", f3: bool = True
) -> AsyncIterator[tuple[CommuneApp, Pilot[None], DossiersScreen]]:
    """Signed in (the passphrase typed into the sign-in screen), then F3 unless told not to:
    the dossiers screen is then first shown by `open_dossiers`."""
    app = CommuneApp(data_dir, language=language)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press(*PASS, "enter")
        await settle(app, pilot)
        if f3:
            await pilot.press("f3")
            await settle(app, pilot)
        else:
            app.open_dossiers(status="supplement_requested")
            await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DossiersScreen)
        yield app, pilot, screen


def keys(screen: DossiersScreen) -> list[str]:
    table = screen.query_one("#dossier-table", DataTable)
    return [str(row.value) for row in table.rows]


def column(table: DataTable[Any], index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


def page_line(screen: DossiersScreen) -> str:
    return str(screen.query_one("#page-line", Label).render())


# -- the list ---------------------------------------------------------------------------------


async def test_pages_filters_and_search(station: tuple[Path, dict[str, str]]) -> None:
    data_dir, roles = station
    async with dossiers(data_dir) as (app, pilot, screen):
        first = keys(screen)
        assert len(first) == 50 and screen.page == 1
        assert first[0] == roles["week"]  # newest first
        assert page_line(screen).startswith("Trang 1 · hồ sơ 1–50")
        await pilot.press("pagedown")
        await settle(app, pilot)
        second = keys(screen)
        assert len(second) == 50 and "Trang 2 · hồ sơ 51–100" in page_line(screen)
        await pilot.press("pagedown")
        await settle(app, pilot)
        third = keys(screen)
        assert len(third) == 20 and "còn trang sau" not in page_line(screen)
        await pilot.press("pagedown")  # the last page stays
        await settle(app, pilot)
        assert screen.page == 3
        assert len(set(first + second + third)) == 120
        # The last page: the overdue row is marked; 80 columns show codes without the office.
        table = screen.query_one("#dossier-table", DataTable)
        assert len(table.columns) == 5
        assert roles["overdue"] == f"{OFFICE}-261123-0001"
        row = table.get_row(roles["overdue"])
        assert str(row[0]) == "261123-0001"
        assert str(row[1]) == "⚠ Quá hạn" and str(row[4]) == "27/11 07:30"  # 24/11 is a holiday

        screen.query_one("#dossier-table", DataTable).focus()
        await pilot.press("p")
        await settle(app, pilot)
        assert keys(screen) == second

        # Search without accents, debounced while typing.
        screen.query_one("#search", Input).focus()
        await pilot.press(*"nguyen")
        while screen._debounce is not None:  # the 200 ms debounce timer
            await pilot.pause(0.05)
        await settle(app, pilot)
        names = column(table, 3)
        assert len(names) == 30 and all(n == "Nguyễn Văn Đức" for n in names)
        assert screen.page == 1

        screen.query_one("#status", Select).value = "withdrawn"
        await settle(app, pilot)
        assert keys(screen) == []  # the withdrawn one is Lê Văn Hùng: the search still applies
        await pilot.press("f6")  # clear the filters
        await settle(app, pilot)
        assert screen.query_one("#search", Input).value == "" and len(keys(screen)) == 50
        screen.query_one("#status", Select).value = "withdrawn"
        await settle(app, pilot)
        assert keys(screen) == [roles["withdrawn"]]

        app.open_dossiers(overdue=True)
        await settle(app, pilot)
        assert keys(screen) == [roles["overdue"]]
        assert screen.query_one("#overdue", Checkbox).value
        assert screen.query_one("#status", Select).value == Select.NULL
        screen.show_filter(due_today=True)
        await settle(app, pilot)
        assert keys(screen) == [roles["overdue"]]
        screen.query_one("#due-week", Checkbox).value = True
        await settle(app, pilot)
        assert keys(screen) == [roles["week"], roles["overdue"]]
        screen.show_filter()
        screen.query_one("#procedure", Input).value = "1.004194"
        screen.query_one("#procedure", Input).focus()
        await pilot.press("enter")  # Enter applies at once, without the debounce
        await settle(app, pilot)
        assert keys(screen) == [roles["overdue"]]


async def test_detail_timeline_and_printing(station: tuple[Path, dict[str, str]]) -> None:
    data_dir, roles = station
    async with dossiers(data_dir, f3=False) as (app, pilot, screen):
        assert keys(screen) == [roles["supplement"]]  # the filter of the first showing
        screen.query_one("#dossier-table", DataTable).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        detail = app.screen
        assert isinstance(detail, DossierDetailScreen) and detail.code == roles["supplement"]
        summary = str(detail.query_one("#summary", Static).render())
        assert "Chờ bổ sung hồ sơ" in summary and "Trần Thị Mai" in summary
        assert "Chỉ lưu tại trạm (chưa đồng bộ)" in summary
        assert "07 giờ 45 phút, ngày 23/11/2026" in summary
        timeline = detail.query_one("#timeline", DataTable)
        assert column(timeline, 0) == ["Tiếp nhận hồ sơ", "Yêu cầu bổ sung"]
        assert column(timeline, 1) == ["Nguyễn Thị Hoa"] * 2
        assert column(timeline, 3) == ["Trước hạn"] * 2
        assert column(timeline, 4) == ["", "Thiếu bản sao CCCD"]
        buttons = {str(b.id) for b in detail.query("#actions Button")}
        assert buttons == {
            "act-supplement",
            "act-refuse",
            "act-stop",
            "act-withdraw",
            "act-reschedule",
        }
        assert detail.check_action("print_form", ("supplement",))
        assert not detail.check_action("print_form", ("refusal",))

        await pilot.press("k")
        await settle(app, pilot)
        slip = data_dir / "forms" / f"{roles['supplement']}-control-slip.pdf"
        assert slip.read_bytes().startswith(b"%PDF")
        for key, form in (("2", "supplement"), ("1", "receipt")):
            await pilot.press(key)
            await settle(app, pilot)
            assert (data_dir / "forms" / f"{roles['supplement']}-{form}.pdf").exists()
        await pilot.press("3")  # not offered: no refusal to print
        await settle(app, pilot)
        assert not (data_dir / "forms" / f"{roles['supplement']}-refusal.pdf").exists()

        app.open_dossiers(overdue=True)  # from the detail: back to the filtered list
        await settle(app, pilot)
        assert app.screen is screen and keys(screen) == [roles["overdue"]]
        screen.query_one("#dossier-table", DataTable).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        summary = str(app.screen.query_one("#summary", Static).render())
        assert "Trạng thái: Đã tiếp nhận · ⚠ Quá hạn" in summary


# -- every action through its form -------------------------------------------------------------


async def run_form(
    app: CommuneApp,
    pilot: Pilot[None],
    action: str,
    prefilled: dict[str, str] | None = None,
    **fields: Any,
) -> ActionForm:
    """Press the action's button on the detail screen, check the prefilled inputs, fill the
    form, submit it."""
    detail = app.screen
    assert isinstance(detail, DossierDetailScreen)
    detail.query_one(f"#act-{action}", Button).focus()
    await pilot.press("enter")
    await pilot.pause()
    form = app.screen
    assert isinstance(form, ActionForm) and form.action == action
    for name, value in (prefilled or {}).items():
        assert form.query_one(f"#{name}", Input).value == value
    for name, value in fields.items():
        if name in ("rating", "via"):
            form.query_one(f"#{name}", RadioSet).query(RadioButton)[value].value = True
        elif name == "documents":
            form.query_one("#documents", TextArea).text = value
        else:
            form.query_one(f"#{name.replace('_', '-')}", Input).value = value
    await pilot.pause()
    form.query_one("#submit", Button).focus()
    await pilot.press("enter")
    await settle(app, pilot)
    return form


async def open_detail(app: CommuneApp, pilot: Pilot[None], code: str) -> DossierDetailScreen:
    if isinstance(app.screen, DossierDetailScreen):
        await pilot.press("escape")
    detail = DossierDetailScreen(code)
    await app.push_screen(detail)
    await settle(app, pilot)
    return detail


def current(app: CommuneApp) -> object:
    """The top screen (a function, so mypy does not carry an earlier narrowing over)."""
    return app.screen


def ledger_size(data_dir: Path) -> int:
    station = Station.open(data_dir)
    try:
        return station.store.size()
    finally:
        station.close()


def error(form: ActionForm) -> str:
    return str(form.query_one("#form-error", Label).render())


async def test_every_action_through_its_form(station: tuple[Path, dict[str, str]]) -> None:
    data_dir, roles = station
    a, b, c, d = (roles[f"fresh{k}"] for k in range(4))
    async with dossiers(data_dir) as (app, pilot, _):
        detail = await open_detail(app, pilot, a)
        offered = {str(x.id) for x in detail.query("#actions Button")}
        assert "act-pay" not in offered and "act-return" not in offered
        assert "act-resolve" in offered
        detail.open_form("pay")  # not offered, not opened
        await pilot.pause()
        assert app.screen is detail

        await run_form(
            app,
            pilot,
            "request-supplement",
            reason="Thiếu giấy chứng sinh",
            documents="Giấy chứng sinh\nBản sao CCCD, Sổ hộ khẩu",
        )
        await run_form(app, pilot, "supplement", documents="Giấy chứng sinh")
        await run_form(app, pilot, "accept")
        await run_form(app, pilot, "request-payment", amount="15000")
        await run_form(app, pilot, "pay", prefilled={"amount": "15000"})  # as requested
        await run_form(app, pilot, "resolve", reason="Đã cấp giấy")
        await run_form(app, pilot, "return", via=1)
        await run_form(app, pilot, "rate", rating=0)
        assert not detail.query("#actions Button")
        assert "Rất hài lòng" in str(detail.query_one("#summary", Static).render())

        await open_detail(app, pilot, b)
        await run_form(app, pilot, "transfer", to="H56.14")
        form = await run_form(app, pilot, "reschedule", new_due="2026-12-03", reason="Chờ xác minh")
        assert "Ngày hẹn mới phải sau ngày hẹn trả cũ" in error(form)  # refused: form stays
        assert current(app) is form
        form.query_one("#new-due", Input).value = "2026-12-31"
        form.query_one("#new-due", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        await run_form(app, pilot, "stop", reason="Người nộp không đến xác minh")

        await open_detail(app, pilot, c)
        await run_form(app, pilot, "withdraw")

        detail = await open_detail(app, pilot, d)
        size = ledger_size(data_dir)
        form = await run_form(app, pilot, "refuse")
        assert current(app) is form and error(form) == "Cần nhập lý do từ chối"
        assert ledger_size(data_dir) == size  # nothing written
        form.query_one("#reason", Input).focus()
        await pilot.press(*"Sai thẩm quyền", "enter")  # Enter in a field submits too
        await settle(app, pilot)
        assert current(app) is detail, error(form)
        assert detail.check_action("print_form", ("refusal",))

    fresh = Station.open(data_dir)
    sa, sb, sc, sd = (fresh.dossier(x) for x in (a, b, c, d))
    assert sa is not None and sb is not None and sc is not None and sd is not None
    assert (sa["status"], sa["rating"], sa["return_via"]) == ("returned", 1, "post")
    assert sa["supplement_rounds"] == 1 and sa["fees"][-1]["amount"] == 15000
    assert {x["name"] for x in sa["documents"]} >= {"Giấy chứng sinh"}
    assert (sb["status"], sb["handling_office"]) == ("stopped", "H56.14")
    assert sb["due_at"] == "2026-12-31T17:00:00+07:00"
    assert sc["status"] == "withdrawn" and sd["status"] == "refused"
    assert timeline(fresh, d)[-1]["note"] == "Sai thẩm quyền"
    asked = orjson.loads(fresh.store.dossier_leaves(a)[1])["data"]
    assert asked["documents"] == ["Giấy chứng sinh", "Bản sao CCCD", "Sổ hộ khẩu"]
    actions = fresh.store.conn.execute(
        "SELECT action FROM entries WHERE dossier = ? ORDER BY seq", (a,)
    ).fetchall()
    assert [x[0] for x in actions] == [
        "receive",
        "request-supplement",
        "supplement",
        "accept",
        "request-payment",
        "pay",
        "resolve",
        "return",
        "rate",
    ]
    fresh.close()


def test_documents_split_on_commas_and_lines() -> None:
    assert split_documents("Giấy chứng sinh\nBản sao CCCD, Sổ hộ khẩu;\n") == [
        "Giấy chứng sinh",
        "Bản sao CCCD",
        "Sổ hộ khẩu",
    ]


# -- English ------------------------------------------------------------------------------------


async def test_english_labels(station: tuple[Path, dict[str, str]]) -> None:
    data_dir, roles = station
    async with dossiers(data_dir, size=(120, 40), language="en") as (app, pilot, screen):
        table = screen.query_one("#dossier-table", DataTable)
        labels = [str(c.label) for c in table.columns.values()]
        assert labels == ["Dossier code", "Status", "Procedure", "Applicant", "Received", "Due"]
        assert page_line(screen).startswith("Page 1 · dossiers 1–50")
        assert str(table.get_row(roles["fresh0"])[0]) == roles["fresh0"]  # wide: full code
        await pilot.press("f8")  # to Vietnamese and back: the screen recomposes, rows stay
        await settle(app, pilot)
        table = screen.query_one("#dossier-table", DataTable)
        assert str(next(iter(table.columns.values())).label) == "Mã hồ sơ"
        assert len(keys(screen)) == 50
        await pilot.press("f8")
        await settle(app, pilot)
        table = screen.query_one("#dossier-table", DataTable)
        app.open_dossiers(overdue=True)
        await settle(app, pilot)
        assert str(table.get_row(roles["overdue"])[1]) == "⚠ Overdue"
        detail = await open_detail(app, pilot, roles["supplement"])
        summary = str(detail.query_one("#summary", Static).render())
        assert "Awaiting supplement" in summary and "not synced" in summary
        assert str(detail.query_one("#act-supplement", Button).label) == "Record supplement"
        form = await run_form(app, pilot, "refuse")
        assert error(form) == "Enter the reason for refusal"
