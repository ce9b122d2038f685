"""The "accepted by portal" sync state reaches the officer: a station syncs, the hub forwards
the dossier to the provincial portal (the simulator), and the next sync shows it as accepted;
a later action makes it local again until the portal has that version too."""

from __future__ import annotations

from pathlib import Path

from hubkit import HUB_NAME, HubServer, add_office
from outboxkit import portal_settings
from portalkit import running_simulator
from test_sync_transfer import OFFICE_A, Desk

from sync_server.hub import Hub
from sync_server.portal.service import PortalService
from sync_server.storage import open_storage


def test_the_officer_sees_what_the_portal_accepted(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    hub = Hub(storage, name=HUB_NAME)
    with running_simulator(tmp_path) as sim:
        portal = PortalService(hub, portal_settings(sim.url))
        server = HubServer(hub, portal=portal).start()
        try:
            desk = Desk(tmp_path, "a")
            token = add_office(hub, OFFICE_A, "UBND xã Tân Lập")
            desk.ok(
                "init", "--office", OFFICE_A, "--office-name", "UBND xã Tân Lập",
                "--officer", "Nguyễn Thị Hoa", "--server", server.url, "--enroll", token,
            )  # fmt: skip
            desk.ok("catalog", "demo")
            code = desk.ok(
                "receive", "--procedure", "1.004194", "--applicant-name", "Nguyễn Văn Đức",
                "--applicant-id", "001088012345",
            )["code"]  # fmt: skip
            desk.ok("sync")
            assert desk.ok("show", code)["sync"] == "stored"

            assert portal.outbox.drain().accepted == 1
            desk.ok("sync")
            assert desk.ok("show", code)["sync"] == "portal"
            [held] = sim.dump()
            assert held["MaHoSo"] == code and held["TrangThaiHoSo"] == 2

            desk.ok("act", code, "resolve", "--reason", "Đã cấp giấy xác nhận")
            assert desk.ok("show", code)["sync"] == "local"
            desk.ok("sync")
            assert desk.ok("show", code)["sync"] == "stored"  # the portal has the old version
            portal.outbox.drain()
            desk.ok("sync")
            assert desk.ok("show", code)["sync"] == "portal"
            [held] = sim.dump()
            assert held["TrangThaiHoSo"] == 9 and len(held["TienDoXuLy"]) == 2
        finally:
            server.stop()
            portal.stop()
            storage.close()
