"""The portal outbox against the simulator over real HTTP: exactly once, whatever the portal
does (docs/portal.md "Outbox"). Both storage backends."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hubfill import HUB_NAME, fill_hub
from outboxkit import (
    Clock,
    assert_portal_equals_hub,
    next_due,
    pending,
    portal_service,
    settle,
)
from pg_fixtures import pg_server, pg_url  # noqa: F401
from portalkit import running_simulator

from sync_server.app import create_app
from sync_server.hub import Hub
from sync_server.portal import store
from sync_server.storage import open_storage

FAULTS = ["http500", "http502", "http503", "http429", "slow", "lost", "duplicate", "garbage",
          "wrongjson", "reset"]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    storage = open_storage(url)
    yield Hub(storage, name=HUB_NAME, clock=Clock())
    storage.close()


def test_every_dossier_reaches_the_portal_once(hub: Hub, tmp_path: Path) -> None:
    fill_hub(hub, 2, 60)
    clock = hub.clock
    with running_simulator(tmp_path) as sim, portal_service(hub, sim.url) as service:
        sim.set_clock(clock())
        report = service.outbox.drain()
        assert report.failed == 0 and report.accepted == 120
        rows = assert_portal_equals_hub(service, sim)
        stats = sim.stats()
        assert stats["rows_resent"] == 0 and stats["rows"] == rows
        assert stats["by_service"].get("TraCuuHoSo", 0) == 0  # nothing was uncertain
        with hub.storage.transaction() as tx:
            assert tx.one("SELECT COUNT(*) FROM outbox")[0] == 0
            backlog = store.backlog(tx, int(clock()))
        assert backlog["dossiers_accepted"] == 120 and backlog["dossiers_pending"] == 0
        # creates went in batches, rows in chunks of ten
        assert stats["by_service"]["DongBoHoSoMC"] <= 4
        assert stats["by_service"]["CapNhatTienDoHoSoMC"] <= rows // 10 + 4


@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_is_survived_exactly_once(kind: str, tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    fill_hub(hub, 1, 25)
    with (
        running_simulator(tmp_path, faults=[kind], fault_rate=1.0, slow_seconds=0.4) as sim,
        portal_service(hub, sim.url, timeout=0.25, breaker_failures=1000) as service,
    ):
        sim.set_clock(clock())
        first = service.outbox.run_once()
        assert first.claimed == 25
        if kind == "duplicate":  # processed twice, answered: nothing is lost or repeated
            assert first.accepted == 25
        else:
            assert first.accepted == 0 and pending(storage) == 25
        sim.config(fault_rate=0.0)
        settle(service, clock, sim)
        assert_portal_equals_hub(service, sim)
        assert sim.stats()["rows_resent"] == 0
        assert sim.stats()["faults"][kind] >= 1
        with storage.transaction() as tx:
            errors = store.recent_errors(tx)
        if kind != "duplicate":
            assert errors, "the failure is in the portal error log"
        metrics = service.metrics_text()
        assert 'hub_portal_calls_total{service="DongBoHoSoMC",outcome="ok"}' in metrics
    storage.close()


def test_lost_answers_are_looked_up_not_resent(tmp_path: Path) -> None:
    """Answers lost after the portal committed: the outbox asks (TraCuuHoSo) before sending
    any row again, so the portal never gets a row twice from us."""
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    fill_hub(hub, 1, 30)
    with (
        running_simulator(tmp_path, faults=["lost"], fault_rate=0.5, seed=3) as sim,
        portal_service(hub, sim.url, breaker_failures=1000, timeout=0.25) as service,
    ):
        sim.set_clock(clock())
        settle(service, clock, sim)
        stats = sim.stats()
        assert stats["faults"]["lost"] >= 5
        assert stats["by_service"]["TraCuuHoSo"] >= 1
        assert stats["rows_resent"] == 0
        assert_portal_equals_hub(service, sim)
    storage.close()


def test_an_outage_opens_the_breaker_and_loses_nothing(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    fill_hub(hub, 1, 40)
    outage = [[clock(), clock() + 2 * 86400]]  # two days
    with (
        running_simulator(tmp_path, down=outage) as sim,
        portal_service(hub, sim.url, breaker_failures=3, timeout=0.25) as service,
    ):
        sim.set_clock(clock())
        for _ in range(200):  # each failed attempt backs off (and settles); the third opens it
            service.outbox.run_once()
            if service.outbox.breaker.state == "open":
                break
            clock.t = float(next_due(hub.storage) or clock.t)
            sim.set_clock(clock.t)
            time.sleep(0.05)
        assert service.outbox.breaker.state == "open"
        assert sim.stats()["faults"]["down"] == 3
        calls = sim.stats()["calls"]
        blocked = service.outbox.run_once()
        assert blocked.calls_blocked and sim.stats()["calls"] == calls  # no call while open
        settle(service, clock, sim)
        assert clock() > outage[0][1]
        # two days of outage cost a probe per cool-down (30 s doubling to an hour), not a
        # call per dossier per backoff
        assert 3 < sim.stats()["faults"]["down"] < 80
        assert_portal_equals_hub(service, sim)
    storage.close()


def test_a_refused_dossier_stays_queued_and_blocks_nothing(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    fill_hub(hub, 1, 10)
    # an office whose code lacks the province's prefix: the portal refuses it (error 4)
    from hubfill import FilledOffice

    foreign = FilledOffice(hub, "000.00.01.H99", 5)
    foreign.push()
    with running_simulator(tmp_path) as sim, portal_service(hub, sim.url) as service:
        sim.set_clock(clock())
        report = service.outbox.drain()
        assert report.accepted == 10 and report.refused == 5
        with storage.transaction() as tx:
            rows = tx.all(
                "SELECT refused, pending, last_error FROM portal_dossiers WHERE office = ?",
                ("000.00.01.H99",),
            )
            queued = tx.one("SELECT COUNT(*) FROM outbox")[0]
            errors = store.recent_errors(tx)
        assert queued == 5 and all(r[0] == 1 and r[1] == 1 for r in rows)
        assert "4" in {e["code"] for e in errors} and "tỉnh" in rows[0][2]
        assert service.status()["dossiers_refused"] == 5
    storage.close()


def test_a_restarted_hub_carries_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    clock = Clock()
    storage = open_storage(url)
    offices = fill_hub(Hub(storage, name=HUB_NAME, clock=clock), 1, 30)
    with running_simulator(tmp_path, fault_rate=0.3, seed=11) as sim:
        sim.set_clock(clock())
        with portal_service(Hub(storage, name=HUB_NAME, clock=clock), sim.url) as first:
            first.outbox.run_once()
        storage.close()  # the hub process ends; the outbox is in its database
        storage = open_storage(url)
        hub = Hub(storage, name=HUB_NAME, clock=clock)
        with portal_service(hub, sim.url, breaker_failures=1000) as second:
            settle(second, clock, sim)
            assert_portal_equals_hub(second, sim)
        assert sim.stats()["rows_resent"] == 0
        assert offices[0].codes() == {d["MaHoSo"] for d in sim.dump()}
    storage.close()


def test_later_events_update_the_portal_and_reach_the_station(hub: Hub, tmp_path: Path) -> None:
    offices = fill_hub(hub, 1, 30, half=True)
    clock = hub.clock
    with running_simulator(tmp_path) as sim, portal_service(hub, sim.url) as service:
        sim.set_clock(clock())
        service.outbox.drain()
        before = {d["MaHoSo"]: len(d["TienDoXuLy"]) for d in sim.dump()}
        offices[0].push()  # the rest of the week's work
        assert pending(hub.storage) > 0
        service.outbox.drain()
        after = {d["MaHoSo"]: len(d["TienDoXuLy"]) for d in sim.dump()}
        assert any(after[c] > n for c, n in before.items())
        assert_portal_equals_hub(service, sim)
        assert sim.stats()["rows_resent"] == 0
        with hub.storage.transaction() as tx:
            st = tx.station(offices[0].station.sid)
            versions = {
                r[0]: int(r[1]) for r in tx.all("SELECT code, version FROM portal_dossiers")
            }
        assert st is not None
        answer = hub.portal_accepted(st, offices[0].office, 0, 5000)
        assert answer["accepted"] == versions and not answer["more"]


def test_scan_links_for_the_portal_expire(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    scan = b"%PDF-1.4 scan" * 100
    sha = hashlib.sha256(scan).hexdigest()
    hub.blob_append(sha, 0, len(scan), scan)
    with running_simulator(tmp_path) as sim, portal_service(hub, sim.url) as service:
        link = service.outbox.links.url(sha)
    path = link.split("127.0.0.1:1", 1)[1]
    with TestClient(create_app(hub)) as c:
        assert c.get(path).content == scan
        assert c.get(path.replace("sig=", "sig=0")).status_code == 403
        assert c.get(path.replace(sha, "0" * 64)).status_code == 403
        clock.t += 30 * 86400
        gone = c.get(path)
        assert gone.status_code == 410 and gone.json()["error"] == "link-expired"
    storage.close()
