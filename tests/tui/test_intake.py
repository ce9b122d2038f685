"""F2 Tiếp nhận over a real station, driven by keys as an officer would: search the catalogue
without accents, pick a procedure, see its documents and due date (Monday 23/11/2026 09:00;
Tuesday 24/11 is a holiday), refuse a bad ID number, save, read the receipt with its QR, print
it to PDF, start the next dossier; English labels; a language switch keeps the form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, OptionList, Select, SelectionList

from commune_client import deadlines
from commune_client.catalog import demo_catalog
from commune_client.procedures import save_catalog
from commune_client.station import Station
from commune_client.tui.app import CommuneApp
from commune_client.tui.screens.intake import IntakeScreen
from commune_client.tui.widgets.procedure_picker import ProcedurePicker, rank
from commune_client.tui.widgets.qr import QrCode, QrPanel, half_blocks
from commune_client.tui.widgets.receipt_preview import ReceiptPreview

PASS = "mật khẩu Hoa"
NOW = "2026-11-23T09:00:00+07:00"  # Monday; Tuesday 24/11 is a holiday
OFFICE = "000.00.17.H56"
CODE = f"{OFFICE}-261123-0001"

pytestmark = pytest.mark.anyio


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMMUNE_NOW", NOW)
    monkeypatch.delenv("COMMUNE_LANG", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # no `lp`: printing only writes
    path = tmp_path / "station"
    station = Station.create(
        path,
        office=OFFICE,
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=datetime.fromisoformat("2026-11-01T08:00:00+07:00"),
    )
    save_catalog(station.store, demo_catalog())
    station.close()
    return path


def log_size(data_dir: Path) -> int:
    station = Station.open(data_dir)
    try:
        return station.store.size()
    finally:
        station.close()


async def settle(app: CommuneApp, pilot: Pilot[None]) -> None:
    for _ in range(5):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            return


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*("space" if c == " " else c for c in text))


@asynccontextmanager
async def intake(
    data_dir: Path, size: tuple[int, int] = (80, 24), language: str = "vi"
) -> AsyncIterator[tuple[CommuneApp, Pilot[None], IntakeScreen]]:
    app = CommuneApp(data_dir, language=language)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.screen.query_one("#passphrase", Input).value = PASS
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, IntakeScreen)
        yield app, pilot, screen


def text(screen: IntakeScreen, selector: str) -> str:
    return str(screen.query_one(selector, Label).content)


async def choose(app: CommuneApp, pilot: Pilot[None], screen: IntakeScreen, query: str) -> None:
    screen.picker.search.focus()
    screen.picker.search.value = ""
    screen.picker.search.value = query  # as typed: the list filters on every change
    await pilot.press("enter")
    await settle(app, pilot)


async def fill_applicant(pilot: Pilot[None], screen: IntakeScreen, id_number: str) -> None:
    screen.query_one("#name", Input).value = "Trần Thị Mai"
    screen.query_one("#id-number", Input).value = id_number
    await pilot.pause()


# -- pure parts -------------------------------------------------------------------------------


def test_rank_ignores_accents_and_puts_the_closest_name_first() -> None:
    catalogue = demo_catalog()
    assert [p.code for p in rank(catalogue, "khai sinh")][:3] == [
        "1.001193",  # Đăng ký khai sinh
        "1.004884",  # Đăng ký lại khai sinh
        "1.000689",  # Đăng ký khai sinh kết hợp đăng ký nhận cha, mẹ, con
    ]
    assert rank(catalogue, "dang ky ket hon")[0].name == "Đăng ký kết hôn"
    assert rank(catalogue, "ĐĂNG KÝ KẾT HÔN")[0].name == "Đăng ký kết hôn"
    assert rank(catalogue, "1.0012")[0].code == "1.001266"
    assert rank(catalogue, "thuong tru xoa")[0].name == "Xóa đăng ký thường trú"  # any order
    assert rank(catalogue, "") == catalogue
    assert rank(catalogue, "không có thủ tục này") == []


def test_half_blocks_pack_two_rows_per_line_inside_a_quiet_zone() -> None:
    lines = half_blocks([[1, 0, 1], [0, 1, 0], [1, 1, 0]], quiet=1)
    assert lines == [" ▄ ▄ ", " ▄█  ", "     "]  # 5 rows of 5 modules -> 3 lines


# -- the screen -------------------------------------------------------------------------------


async def test_search_choose_documents_and_due_date(data_dir: Path) -> None:
    async with intake(data_dir) as (app, pilot, screen):
        search = screen.picker.search
        assert app.focused is search
        assert len(screen.picker.matches) == 35  # the catalogue, loaded by a worker
        await type_text(pilot, "khai sinh")
        options = screen.query_one("#procedure-list", OptionList)
        assert options.display
        assert screen.picker.matches[0].code == "1.001193"
        assert "Đăng ký khai sinh" in str(options.get_option_at_index(0).prompt)
        search.value = "dang ky ket hon"
        await pilot.pause()
        assert screen.picker.matches[0].name == "Đăng ký kết hôn"

        search.value = "khai sinh"
        await pilot.press("down", "enter")  # arrows move in the list, Enter chooses
        await settle(app, pilot)
        assert screen.picker.procedure is not None
        assert screen.picker.procedure.code == "1.004884"  # the second: Đăng ký lại khai sinh

        search.focus()  # back to the search: Enter unfolds the list, Up + Enter re-chooses
        await pilot.press("enter")
        assert options.display and screen.picker.procedure.code == "1.004884"
        await pilot.press("up", "enter")
        await settle(app, pilot)
        assert screen.picker.procedure.code == "1.001193"
        assert not options.display
        documents = screen.query_one("#documents", SelectionList)
        assert documents.option_count == 2 and documents.selected == [0, 1]
        first = str(documents.get_option_at_index(0).prompt)
        assert first == "Tờ khai đăng ký khai sinh (theo mẫu) — bản chính 1, bản sao 0"
        assert app.focused is documents
        assert screen.picker.due_text == "Hẹn trả: 09 giờ 00 phút, ngày 23/11/2026"

        # One working day from Monday 09:00 skips the holiday on Tuesday 24/11.
        await choose(app, pilot, screen, "xoa dang ky thuong tru")
        procedure = screen.picker.procedure
        assert procedure is not None and procedure.code == "1.003197"
        due = deadlines.compute_due(
            datetime.fromisoformat(NOW), 1, "working_days", calendar=deadlines.Calendar(),
            cutoff=time.fromisoformat(procedure.cutoff) if procedure.cutoff else None,
        )  # fmt: skip
        assert deadlines.format_vn(due) == "09 giờ 00 phút, ngày 25/11/2026"
        assert screen.picker.due_text == f"Hẹn trả: {deadlines.format_vn(due)}"


async def test_invalid_fields_are_refused_and_nothing_typed_is_lost(data_dir: Path) -> None:
    before = log_size(data_dir)
    async with intake(data_dir) as (app, pilot, screen):
        await pilot.press("f6")  # nothing chosen yet
        await pilot.pause()
        assert text(screen, "#intake-status") == "Chưa lưu: chưa chọn thủ tục"

        await choose(app, pilot, screen, "khai sinh")
        await fill_applicant(pilot, screen, "")
        screen.query_one("#id-number", Input).focus()
        await type_text(pilot, "123")
        error = screen.query_one("#err-id-number", Label)
        assert error.display and str(error.content) == "Số CCCD gồm đúng 12 chữ số"
        screen.query_one("#id-kind", Select).value = 2  # CMND: the rule follows the kind
        await pilot.pause()
        assert str(error.content) == "Số CMND gồm đúng 9 chữ số"
        screen.query_one("#phone", Input).value = "12345"
        await pilot.pause()
        assert text(screen, "#err-phone") == "Điện thoại: 10 số, bắt đầu bằng 0 hoặc +84"
        screen.query_one("#name", Input).value = ""

        await pilot.press("f6")
        await settle(app, pilot)
        assert text(screen, "#intake-status") == "Chưa lưu: sửa các ô báo lỗi"
        assert text(screen, "#err-name") == "Cần nhập họ tên"
        assert app.focused is screen.query_one("#name", Input)  # the first bad field
        assert isinstance(app.screen, IntakeScreen)
        assert screen.query_one("#id-number", Input).value == "123"
        assert log_size(data_dir) == before

        # Fixed, but the procedure leaves the catalogue meanwhile: desk.receive refuses it.
        await fill_applicant(pilot, screen, "001203004")  # 9 digits: a CMND
        screen.query_one("#phone", Input).value = ""
        station = Station.open(data_dir)
        with station.store.write() as conn:
            conn.execute("DELETE FROM catalog WHERE code = '1.001193'")
        station.close()
        await pilot.press("f6")
        await settle(app, pilot)
        assert isinstance(app.screen, IntakeScreen)
        status = text(screen, "#intake-status")
        assert status.startswith("Chưa lưu: ") and "1.001193" in status
        assert screen.query_one("#name", Input).value == "Trần Thị Mai"
        assert screen.query_one("#id-number", Input).value == "001203004"
        assert screen.picker.procedure is not None
    assert log_size(data_dir) == before


async def test_save_shows_the_receipt_prints_it_and_starts_the_next(data_dir: Path) -> None:
    before = log_size(data_dir)
    async with intake(data_dir) as (app, pilot, screen):
        await choose(app, pilot, screen, "khai sinh")
        await pilot.press("down", "space")  # the second paper was not handed in
        await pilot.press("tab")
        assert app.focused is screen.query_one("#name", Input)
        app.focused.value = "Tran Thi Mai"
        await pilot.press("tab", "tab")  # the ID kind stays CCCD
        assert app.focused is screen.query_one("#id-number", Input)
        app.focused.value = "001203004005"
        await pilot.press("tab")
        assert app.focused is screen.query_one("#phone", Input)
        app.focused.value = "+84 912 345 678"
        await pilot.pause()
        assert not screen.query_one("#err-phone", Label).display
        await pilot.press("f6")
        await settle(app, pilot)

        preview = app.screen
        assert isinstance(preview, ReceiptPreview)
        assert str(preview.query_one("#receipt-code", Label).content) == CODE
        due = str(preview.query_one("#receipt-due", Label).content)
        assert due == "Hẹn trả: 09 giờ 00 phút, ngày 23/11/2026"
        assert preview.query_one(QrPanel).collapsed  # too big for 80 columns: folded
        qr = preview.query_one(QrCode).text
        assert len(qr.splitlines()) > 30 and set(qr) <= set("▀▄█ \n") and "█" in qr

        station = Station.open(data_dir)
        state = station.dossier(CODE)
        assert station.store.size() > before
        station.close()
        assert state is not None
        assert state["applicant"]["name"] == "Tran Thi Mai"
        assert state["applicant"]["phone"] == "0912345678"
        assert [d["name"] for d in state["documents"]] == ["Tờ khai đăng ký khai sinh (theo mẫu)"]

        await pilot.press("f7")
        await settle(app, pilot)
        pdf = data_dir / "receipts" / f"{CODE}.pdf"
        assert pdf.read_bytes().startswith(b"%PDF")
        assert preview.printed == pdf

        await pilot.press("f6")  # next citizen
        await settle(app, pilot)
        assert app.screen is screen
        assert screen.picker.procedure is None and screen.picker.due_text == ""
        assert screen.query_one("#name", Input).value == ""
        assert screen.query_one("#id-number", Input).value == ""
        assert not screen.query_one("#documents", SelectionList).display
        assert app.focused is screen.picker.search


async def test_english_labels(data_dir: Path) -> None:
    async with intake(data_dir, language="en") as (app, pilot, screen):
        labels = {str(label.content) for label in screen.query(Label)}
        assert {"Procedure", "Full name", "ID number", "Phone", "Applicant"} <= labels
        assert str(screen.query_one("#save", Button).label) == "Save (F6)"
        assert app.screen.active_bindings["f6"].binding.description == "Save"
        await choose(app, pilot, screen, "khai sinh")
        assert screen.picker.due_text == "Due: 09 giờ 00 phút, ngày 23/11/2026"
        await fill_applicant(pilot, screen, "123")
        assert text(screen, "#err-id-number") == "A CCCD number has exactly 12 digits"


async def test_language_switch_keeps_the_form_and_a_large_terminal_shows_the_qr(
    data_dir: Path,
) -> None:
    async with intake(data_dir, size=(120, 40)) as (app, pilot, screen):
        await choose(app, pilot, screen, "khai sinh")
        documents = screen.query_one("#documents", SelectionList)
        documents.deselect(1)
        await fill_applicant(pilot, screen, "001203004005")
        await pilot.press("f8")
        await settle(app, pilot)
        assert str(screen.query_one("#save", Button).label) == "Save (F6)"
        assert screen.query_one("#name", Input).value == "Trần Thị Mai"
        assert screen.query_one("#id-number", Input).value == "001203004005"
        procedure = screen.query_one(ProcedurePicker).procedure
        assert procedure is not None and procedure.code == "1.001193"
        assert screen.query_one("#documents", SelectionList).selected == [0]
        assert screen.picker.due_text == "Due: 09 giờ 00 phút, ngày 23/11/2026"

        await pilot.click("#save")
        await settle(app, pilot)
        preview = app.screen
        assert isinstance(preview, ReceiptPreview)
        assert str(preview.query_one("#receipt-due", Label).content).startswith("Due: ")
        assert not preview.query_one(QrPanel).collapsed  # room for it: shown open
        assert "█" in preview.query_one(QrCode).text
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen and app.focused is screen.picker.search
        assert screen.query_one("#name", Input).value == ""
