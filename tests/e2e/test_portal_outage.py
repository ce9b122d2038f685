"""Issue 6, "Must show": 10,000 dossiers with full lifecycles go through the simulator at a 30%
fault rate plus a two-day outage. Afterwards the portal's state equals the hub's, field by
field, with no duplicates and every progress row present once.

The hub runs on a clock the test moves (the outage is two simulated days, not two real ones);
the simulator runs on its own clock, set alongside. `COMMUNE_SOAK=1` runs 30,000 dossiers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hubfill import HUB_NAME, fill_hub
from outboxkit import Clock, assert_portal_equals_hub, pending, portal_service, settle
from portalkit import running_simulator

from sync_server.hub import Hub
from sync_server.portal import store
from sync_server.storage import open_storage

SOAK = bool(os.environ.get("COMMUNE_SOAK"))
OFFICES = 10
PER_OFFICE = 3000 if SOAK else 1000  # the daily sequence holds 9,999 per office and day
TWO_DAYS = 2 * 86400


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_ten_thousand_dossiers_through_faults_and_an_outage(tmp_path: Path) -> None:
    started = time.monotonic()
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    offices = fill_hub(hub, OFFICES, PER_OFFICE, half=True)  # the first half of each log
    dossiers = sum(len(o.codes()) for o in offices)
    assert dossiers == OFFICES * PER_OFFICE
    with (
        running_simulator(tmp_path, fault_rate=0.3, seed=2026, slow_seconds=0.3) as sim,
        portal_service(hub, sim.url, timeout=0.2, workers=4, breaker_failures=8) as service,
    ):
        sim.set_clock(clock())
        # Forward until about half the dossiers the hub has are at the portal...
        for _ in range(200):
            service.outbox.run_once()
            with storage.transaction() as tx:
                accepted = store.backlog(tx, int(clock()))["dossiers_accepted"]
            if accepted * 2 >= pending(storage) + accepted:
                break
            clock.t += 5
            sim.set_clock(clock.t)
        # ...then the province goes down for two days while the offices keep working.
        outage = [clock(), clock() + TWO_DAYS]
        sim.config(down=[outage])
        for office in offices:
            office.push()
        settle(service, clock, sim)
        assert clock() > outage[1], "the outage was lived through"

        rows = assert_portal_equals_hub(service, sim)
        stats = sim.stats()
        assert stats["dossiers"] == dossiers
        assert stats["rows"] == rows
        assert stats["rows_resent"] == 0, "the hub never sent a row the portal already had"
        faults = stats["faults"]
        assert faults["down"] > 0
        assert all(faults[k] > 0 for k in ("http500", "http429", "lost", "duplicate", "garbage"))
        with storage.transaction() as tx:
            backlog = store.backlog(tx, int(clock()))
        assert backlog["outbox_rows"] == 0 and backlog["dossiers_accepted"] == dossiers
        print(
            f"\n{dossiers} dossiers, {rows} progress rows, {stats['calls']} portal calls, "
            f"faults {sum(faults.values())} ({faults}), "
            f"{time.monotonic() - started:.0f} s"
        )
    storage.close()
