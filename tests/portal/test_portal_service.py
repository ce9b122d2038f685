"""The portal service of a running hub: the background worker, `/metrics`, the catalogue import
(`LayDanhSachTTHC` -> a signed catalogue update in every office's feed)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from hubfill import HUB_NAME, fill_hub
from outboxkit import Clock, pending, portal_service
from portalkit import running_simulator

from ledger.records import verify_record
from sync_server.app import create_app
from sync_server.hub import Hub
from sync_server.portal.adapter import PortalError
from sync_server.storage import open_storage


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(open_storage(f"sqlite:///{tmp_path / 'hub.db'}"), name=HUB_NAME)


def test_the_worker_forwards_in_the_background(hub: Hub, tmp_path: Path) -> None:
    fill_hub(hub, 1, 20)
    with running_simulator(tmp_path) as sim, portal_service(hub, sim.url) as service:
        service.start()
        deadline = time.monotonic() + 30
        while pending(hub.storage) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pending(hub.storage) == 0
        assert sim.stats()["dossiers"] == 20
        metrics = TestClient(create_app(hub, service)).get("/metrics").text
        assert "hub_portal_outbox_rows 0" in metrics
        assert 'hub_portal_calls_total{service="CapNhatTienDoHoSoMC",outcome="ok"}' in metrics
        assert "hub_portal_breaker_open 0" in metrics


def test_bad_answers_are_logged_counted_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    fill_hub(hub, 1, 5)
    caplog.set_level(logging.WARNING, logger="sync_server.portal")
    with (
        running_simulator(tmp_path, faults=["garbage"], fault_rate=1.0) as sim,
        portal_service(hub, sim.url) as service,
    ):
        sim.set_clock(clock())
        report = service.outbox.run_once()
        assert report.accepted == 0 and pending(storage) == 5
        status = service.status()
        assert status["recent_errors"][0]["kind"] == "not-json"
        assert status["outbox_rows"] == 5
        metrics = service.metrics_text()
        assert 'outcome="not-json"' in metrics
        failed = [r for r in caplog.records if r.getMessage() == "portal call failed"]
        assert failed and failed[0].fields["kind"] == "not-json"  # type: ignore[attr-defined]
    storage.close()


def test_the_provinces_catalogue_reaches_every_office(hub: Hub, tmp_path: Path) -> None:
    hub.add_office("000.00.01.H56", "UBND xã Một")
    hub.add_office("000.00.02.H56", "UBND xã Hai")
    with running_simulator(tmp_path) as sim, portal_service(hub, sim.url) as service:
        answer = service.import_catalogue()
    assert answer["offices"] == 2 and answer["procedures"] >= 8 and answer["refused"] == []
    with hub.storage.transaction() as tx:
        rows = tx.feed("000.00.02.H56", 0, 10, "nobody")
    [(_, item)] = rows
    record = orjson.loads(item)["record"]
    assert record["type"] == "commune.catalog-update/v1"
    verify_record(record, hub.issuer.public)  # raises if the hub's signature is wrong
    births = [p for p in record["procedures"] if p["code"] == "1.001193"]
    assert births and births[0]["time_unit"] in ("working_days", "calendar_days")

    # the station's own import accepts what the hub sends
    from commune_client.catalog import parse_catalog

    assert len(parse_catalog(orjson.dumps(record["procedures"]), "feed")) == answer["procedures"]


def test_a_bad_catalogue_from_the_portal_is_refused(hub: Hub, tmp_path: Path) -> None:
    hub.add_office("000.00.01.H56", "UBND xã Một")
    with (
        running_simulator(tmp_path, faults=["wrongjson"], fault_rate=1.0) as sim,
        portal_service(hub, sim.url) as service,
        pytest.raises(PortalError),
    ):
        service.import_catalogue()
    with hub.storage.transaction() as tx:
        assert tx.feed("000.00.01.H56", 0, 10, "nobody") == []
