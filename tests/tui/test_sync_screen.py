"""The sync screen (F5) against a real hub (uvicorn on loopback, `tests/hubkit.py`): F6 runs the
sync agent in a worker with a progress bar, then shows the outcome, the quarantine and the
PC clock's difference from the hub's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubkit import HUB_NAME, HubServer, add_office, running_hub
from textual.widgets import DataTable, Input, Static

from commune_client.catalog import demo_catalog
from commune_client.clock import VN_TZ, iso
from commune_client.desk import act, receive
from commune_client.procedures import save_catalog
from commune_client.station import Station
from commune_client.sync import enroll, station_id
from commune_client.tui.app import CommuneApp
from commune_client.tui.screens.sync import SyncScreen
from commune_client.tui.screens.today import TodayScreen

PASS = "mật khẩu Hoa"
OFFICE = "000.00.17.H56"

pytestmark = pytest.mark.anyio


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    (tmp_path / "hub").mkdir()
    with running_hub(tmp_path / "hub") as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path, hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An enrolled station with five dossiers, one of them transferred to an office the hub
    does not know (the hub will quarantine that entry). The PC clock runs 3 hours ahead."""
    start = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(hours=1)
    monkeypatch.setenv("COMMUNE_NOW", iso(start + timedelta(hours=4)))
    monkeypatch.delenv("COMMUNE_LANG", raising=False)
    path = tmp_path / "station"
    station = Station.create(
        path,
        office=OFFICE,
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=start,
    )
    save_catalog(station.store, demo_catalog())
    session = station.sign_in(None, PASS)
    codes = [
        receive(
            session,
            procedure="1.004194",
            applicant={"name": f"Người nộp {i}", "id_number": "001088012345"},
            now=start + timedelta(minutes=i),
        )["code"]
        for i in range(5)
    ]
    act(session, codes[0], "transfer", to="000.00.99.H99", now=start + timedelta(minutes=9))
    with httpx.Client() as client:
        enroll(station, session, hub.url, add_office(hub.hub, OFFICE), client=client)
    station.close()
    return path


async def test_f6_syncs_with_progress_quarantine_and_clock_warning(
    data_dir: Path, hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = Station.open(data_dir).store.size()
    app = CommuneApp(data_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one("#passphrase", Input).value = PASS
        await pilot.press("enter")
        for _ in range(2):  # the sign-in worker, then the Today screen's own
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert isinstance(app.screen, TodayScreen)
        notices: list[tuple[str, str]] = []
        monkeypatch.setattr(
            app,
            "notify",
            lambda message, **kw: notices.append((message, kw.get("severity", "information"))),
        )
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SyncScreen)
        info = str(screen.query_one("#sync-info", Static).render())
        assert f"Máy chủ đồng bộ: {HUB_NAME} ({hub.url})" in info
        assert f"Bản ghi chờ gửi: {size}" in info
        progress: list[tuple[Any, ...]] = []
        shown = screen.show_progress

        def spy(*args: Any) -> None:
            progress.append(args)
            shown(*args)

        monkeypatch.setattr(screen, "show_progress", spy)

        await pilot.press("f6")
        for _ in range(3):  # the sync worker, then the reload it starts
            await app.workers.wait_for_complete()
            await pilot.pause()

        assert ("Đồng bộ xong; 1 mục bị cách ly.", "warning") in notices
        assert ("⚠ Đồng hồ máy tính nhanh hơn giờ máy chủ 180 phút", "warning") in notices
        assert progress[0][2].startswith("Đang kết nối")
        pushed = [p for p in progress if "bản ghi" in p[2]]
        assert pushed and pushed[-1][:2] == (size, size)
        assert not screen.query_one("#sync-progress-box").display  # done: hidden again
        info = str(screen.query_one("#sync-info", Static).render())
        assert "Bản ghi chờ gửi: 0" in info
        assert "⚠ Đồng hồ máy tính nhanh hơn giờ máy chủ 180 phút" in info
        table = screen.query_one("#quarantine", DataTable)
        assert table.row_count == 1
        assert "đơn vị nhận không có trên máy chủ" in str(table.get_row_at(0)[1])
        with hub.hub.storage.transaction() as tx:
            row = tx.station(station_id(app.desk.open()))
        assert row is not None and row.size == size


async def test_f6_on_a_dead_link_says_offline(
    data_dir: Path, hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.stop()
    app = CommuneApp(data_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one("#passphrase", Input).value = PASS
        await pilot.press("enter")
        for _ in range(2):
            await app.workers.wait_for_complete()
            await pilot.pause()
        notices: list[tuple[str, str]] = []
        monkeypatch.setattr(
            app,
            "notify",
            lambda message, **kw: notices.append((message, kw.get("severity", "information"))),
        )
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.press("f6")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        errors = [m for m, severity in notices if severity == "error"]
        assert errors and errors[0].startswith("Không kết nối được máy chủ đồng bộ")
        assert not app.screen.query_one("#sync-progress-box").display
