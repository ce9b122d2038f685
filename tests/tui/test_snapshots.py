"""Snapshot tests of the main screens at 80x24 and 120x40, in Vietnamese and English.

The station, its dossiers and the clock are deterministic (COMMUNE_NOW, fixed receive times),
so a rendering change shows up as a diff. Update deliberately with
`.venv/bin/python -m pytest tests/tui/test_snapshots.py --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from commune_client.catalog import demo_catalog
from commune_client.desk import act, receive
from commune_client.procedures import save_catalog
from commune_client.station import Station
from commune_client.tui.app import CommuneApp

PASS = "snap-pass-1"
T0 = datetime.fromisoformat("2026-11-23T08:00:00+07:00")
NAMES = [
    "Nguyễn Văn Đức",
    "Trần Thị Lan",
    "Lê Minh Tuấn",
    "Phạm Thu Hằng",
    "Hoàng Quốc Bảo",
    "Vũ Ngọc Ánh",
    "Đặng Đức Anh",
    "Bùi Thị Hoa",
]
SCREENS = ["today", "intake", "dossiers", "reports"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("snap") / "station"
    station = Station.create(
        data,
        office="000.00.17.H56",
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=T0 - timedelta(days=3),
    )
    save_catalog(station.store, demo_catalog())
    session = station.sign_in(None, PASS)
    procs = ["1.001193", "1.004873", "2.000815", "1.000894"]
    for i, name in enumerate(NAMES * 2):
        when = T0 - timedelta(days=2) + timedelta(hours=3 * i)
        code = receive(
            session,
            procedure=procs[i % 4],
            now=when,
            applicant={"name": name, "id_number": f"0010880{i:05d}", "phone": f"09123456{i:02d}"},
        )["code"]
        if i % 3 == 0:
            act(session, code, "resolve", now=when + timedelta(minutes=30))
        elif i % 5 == 1:
            act(
                session,
                code,
                "request-supplement",
                reason="Thiếu bản sao CCCD",
                now=when + timedelta(minutes=20),
            )
    station.close()
    return data


def _run_before(screen: str) -> Any:
    async def run_before(pilot: Any) -> None:
        # The station opens in a worker; the sign-in screen appears when it is open.
        while type(pilot.app.screen).__name__ != "SignInScreen":
            await pilot.pause(0.01)
        await pilot.pause()  # mounted, and the passphrase field focused
        await pilot.press(*PASS, "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        keys = {"today": "f1", "intake": "f2", "dossiers": "f3", "reports": "f4"}
        await pilot.press(keys[screen])
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if screen == "intake":
            await pilot.press(*"khai sinh")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        if screen == "reports":
            await pilot.press("f6")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", SCREENS)
def test_screen_snapshot(
    snap_compare: Any,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    screen: str,
    size: tuple[int, int],
    language: str,
) -> None:
    monkeypatch.setenv("COMMUNE_NOW", "2026-11-23T09:30:00+07:00")
    app = CommuneApp(data_dir, language=language)
    assert snap_compare(app, terminal_size=size, run_before=_run_before(screen))
