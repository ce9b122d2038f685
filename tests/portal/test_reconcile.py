"""Reconciliation (sync_server/portal/reconcile.py) against the simulator: planted differences
are found exactly, repaired, and the exchange stays small."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from click.testing import CliRunner
from hubfill import HUB_NAME, fill_hub, office_code
from outboxkit import Clock, assert_portal_equals_hub, portal_service
from portalkit import progress_row, running_simulator, sample_record

from sync_server.cli import cli
from sync_server.hub import Hub
from sync_server.portal.reconcile import ALL_DAYS, digest, reconcile
from sync_server.storage import open_storage


def test_digest_is_the_pinned_one() -> None:
    # docs/portal.md: sorted lines "code\tstatus\tversion\n", SHA-256, 16 hex digits
    import hashlib

    lines = [("B-1", 10, 7), ("A-2", 2, 1)]
    text = "A-2\t2\t1\nB-1\t10\t7\n"
    assert digest(lines) == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_planted_differences_are_found_and_repaired(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    clock = Clock()
    hub = Hub(storage, name=HUB_NAME, clock=clock)
    offices = fill_hub(hub, 3, 120)
    with running_simulator(tmp_path) as sim, portal_service(hub, sim.url) as service:
        sim.set_clock(clock())
        service.outbox.drain()
        clean = reconcile(storage, service.client, clock=clock)
        assert clean.totals()["matched"] == 360 and clean.still_different == 0
        assert clean.calls == 4  # one summary per office (and the department), no drilling

        codes = sorted(offices[0].codes() | offices[1].codes())
        missing = codes[5:8]
        stale_status = codes[40:43]
        stale_rows = codes[200:202]
        for code in missing:
            sim.tamper(op="delete", mahoso=code)
        for code in stale_status:
            sim.tamper(op="set_status", mahoso=code, status=1)
        for code in stale_rows:
            sim.tamper(op="drop_row", mahoso=code)
        extra = f"{office_code(3)}-261104-9001"
        sim.tamper(
            op="add",
            record=sample_record(extra, NgayTiepNhan="20261104083000"),
            rows=[progress_row(extra, "20261104083000")],
            madonvi=office_code(3),
        )

        found = reconcile(storage, service.client, clock=clock, repair=False)
        totals = found.totals()
        assert sorted(c for o in found.offices for c in o.missing) == missing
        assert sorted(c for o in found.offices for c in o.stale) == sorted(
            stale_status + stale_rows
        )
        assert [c for o in found.offices for c in o.extra] == [extra]
        assert totals["matched"] == 360 - 8 and found.repaired == 0

        # a full comparison lists every code of every office
        before = service.client.bytes_sent + service.client.bytes_received
        for office in {o.office for o in offices}:
            service.client.summary(office, "hoso", *ALL_DAYS)
        full = service.client.bytes_sent + service.client.bytes_received - before
        assert found.bytes_compared < full  # 3 of 9 days differ; bench/reconcile.py: at scale

        fixed = reconcile(storage, service.client, clock=clock, outbox=service.outbox)
        assert fixed.repaired == 8 and fixed.still_different == 0
        assert sim.stats()["rows_resent"] == 0  # stale ones were looked up, not re-sent

        again = reconcile(storage, service.client, clock=clock)
        assert again.totals() == {
            "dossiers": 360,
            "matched": 360,
            "missing": 0,
            "stale": 0,
            "extra": 1,
            "in_flight": 0,
        }
        sim.tamper(op="delete", mahoso=extra)
        assert_portal_equals_hub(service, sim)
    storage.close()


def test_reconcile_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    storage = open_storage(db)
    hub = Hub(storage, name=HUB_NAME)
    offices = fill_hub(hub, 1, 30)
    storage.close()
    runner = CliRunner()
    with running_simulator(tmp_path) as sim:
        base = ["--db", db, "--json"]
        url = ["--portal-url", sim.url]
        first = runner.invoke(cli, [*base, "reconcile", *url, "--no-repair"])
        assert first.exit_code == 0, first.output  # nothing forwarded yet: all on the way
        report = orjson.loads(first.output)
        assert report["in_flight"] == 30 and report["missing"] == report["repaired"] == 0

        drained = runner.invoke(cli, [*base, "portal", "drain", *url])
        assert drained.exit_code == 0, drained.output
        assert orjson.loads(drained.output)["accepted"] == 30

        code = sorted(offices[0].codes())[3]
        sim.tamper(op="delete", mahoso=code)
        repaired = runner.invoke(cli, [*base, "reconcile", *url])
        assert repaired.exit_code == 0, repaired.output
        report = orjson.loads(repaired.output)
        assert report["missing"] == 1 and report["repaired"] == 1
        assert report["offices"][0]["codes"]["missing"] == [code]

        status = runner.invoke(cli, [*base, "portal", "status"])
        assert orjson.loads(status.output)["dossiers_accepted"] == 30

    bin_ = Path(sys.executable).parent / "sync-server"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNC_SERVER_")}
    no_portal = subprocess.run(
        [str(bin_), "--db", db, "reconcile"], capture_output=True, text=True, env=env
    )
    assert no_portal.returncode == 2 and no_portal.stdout == ""
    assert len(no_portal.stderr.strip().splitlines()) == 1 and "portal" in no_portal.stderr
