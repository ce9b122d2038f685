"""F4 on a replacement PC's Intake screen: the officer scans the QR of a receipt the lost PC
issued after its last sync, and the same dossier is re-attested with a new receipt (a real hub
on loopback, the real commands to lose and replace the station; docs/audit.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubaudit_kit import OFFICE, PASS, Desk, hub_for, make_office, sync_server
from textual.widgets import Input, Label

from commune_client.station import Station
from commune_client.tui.app import CommuneApp
from commune_client.tui.screens.intake import IntakeScreen
from commune_client.tui.widgets.reattest_dialog import ReattestDialog
from commune_client.tui.widgets.receipt_preview import ReceiptPreview

pytestmark = pytest.mark.anyio


@pytest.fixture
def replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, str]:
    """(the replacement's data dir, the lost dossier's code, its receipt's QR text)."""
    db = f"sqlite:///{tmp_path}/hub.db"
    with hub_for(db) as server:
        office = make_office(server, db, tmp_path, syncs=1)
        lost = office.desk.receive("Trần Văn Mất", "001088099999")
        qr = office.desk.ok("receipt", lost, "--text")["qr"]
        token = sync_server(db, "station", "replace", office.sid, "--reason", "Mất máy")["token"]
        new = Desk(tmp_path / "replacement")
        new.ok("init", "--office", OFFICE, "--office-name", "UBND xã Tân Lập",
               "--officer", "Lê Văn Mới", "--server", server.url, "--enroll", token,
               "--epoch", "1")  # fmt: skip
        new.ok("catalog", "demo")
    monkeypatch.setenv("COMMUNE_NOW", "2026-11-23T10:00:00+07:00")
    monkeypatch.delenv("COMMUNE_LANG", raising=False)
    return new.data, lost, str(qr)


async def test_f4_reattests_a_lost_receipt(replaced: tuple[Path, str, str]) -> None:
    data_dir, lost, qr = replaced
    app = CommuneApp(data_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one("#passphrase", Input).value = PASS
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, IntakeScreen)
        await pilot.press("f4")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ReattestDialog)
        field = dialog.query_one("#receipt-text", Input)
        field.value = "không phải biên nhận"
        await pilot.press("f6")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(dialog.query_one("#reattest-status", Label).content)
        assert status.startswith("Không xác nhận lại được")
        assert field.value == "không phải biên nhận"  # what was typed stays
        field.value = qr
        await pilot.press("f6")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ReceiptPreview)
    station = Station.open(data_dir)
    try:
        row = station.store.conn.execute(
            "SELECT action FROM entries WHERE dossier = ?", (lost,)
        ).fetchall()
    finally:
        station.close()
    assert row == [("receive",)]
