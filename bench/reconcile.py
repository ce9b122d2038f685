"""Reconciliation benchmark: bytes exchanged compared with a full comparison, from one run.

    .venv/bin/python bench/reconcile.py [--dossiers 100000] [--offices 100] [--planted 50]

1. fills a hub (SQLite) with `--dossiers` signed dossiers with whole lifecycles over
   `--offices` offices, and forwards them all to the portal simulator through the outbox;
2. plants `--planted` differences in the portal (deleted dossiers, stale statuses, dropped
   progress rows, dossiers only the portal has);
3. reconciles: prints what was found against what was planted, what was repaired, and the
   bytes exchanged divided by the bytes of a full comparison (every office's whole list of
   codes, statuses and versions) (goal <= 5%); then reconciles again (the healthy case).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))

from hubfill import HUB_NAME, fill_hub
from outboxkit import Clock, portal_service
from portalkit import progress_row, running_simulator, sample_record

from sync_server.hub import Hub
from sync_server.portal.reconcile import ALL_DAYS, reconcile
from sync_server.storage import open_storage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--offices", type=int, default=100)
    parser.add_argument("--planted", type=int, default=50)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    per_office = args.dossiers // args.offices
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        storage = open_storage(f"sqlite:///{work / 'hub.db'}")
        clock = Clock()
        hub = Hub(storage, name=HUB_NAME, clock=clock)
        t = time.perf_counter()
        offices = fill_hub(hub, args.offices, per_office)
        print(
            f"hub filled: {per_office * args.offices} dossiers in {time.perf_counter() - t:.0f} s"
        )
        with running_simulator(work) as sim, portal_service(hub, sim.url, workers=4) as service:
            sim.set_clock(clock())
            t = time.perf_counter()
            forwarded = service.outbox.drain()
            print(
                f"forwarded to the portal: {forwarded.accepted} dossiers in "
                f"{time.perf_counter() - t:.0f} s ({service.client.calls} calls)"
            )
            codes = sorted(c for o in offices for c in o.codes())
            chosen = rng.sample(codes, args.planted)
            quarter = max(1, args.planted // 4)
            planted = {
                "missing": sorted(chosen[:quarter]),
                "stale": sorted(chosen[quarter : 3 * quarter]),
                "extra": [],
            }
            for code in planted["missing"]:
                sim.tamper(op="delete", mahoso=code)
            for i, code in enumerate(planted["stale"]):
                if i % 2:
                    sim.tamper(op="set_status", mahoso=code, status=1)
                else:
                    sim.tamper(op="drop_row", mahoso=code)
            for i, code in enumerate(chosen[3 * quarter :]):
                office = code.rsplit("-", 2)[0]
                extra = f"{office}-261120-{9000 + i:04d}"
                sim.tamper(
                    op="add",
                    record=sample_record(extra, NgayTiepNhan="20261120083000"),
                    rows=[progress_row(extra, "20261120083000")],
                    madonvi=office,
                )
                planted["extra"].append(extra)

            t = time.perf_counter()
            found = reconcile(storage, service.client, clock=clock, outbox=service.outbox)
            took = time.perf_counter() - t
            got = {
                "missing": sorted(c for o in found.offices for c in o.missing),
                "stale": sorted(c for o in found.offices for c in o.stale),
                "extra": sorted(c for o in found.offices for c in o.extra),
            }
            before = service.client.bytes_sent + service.client.bytes_received
            for office in sorted({o.office for o in offices}):
                service.client.summary(office, "hoso", *ALL_DAYS)
            full = service.client.bytes_sent + service.client.bytes_received - before
            healthy = reconcile(storage, service.client, clock=clock, repair=False)

        storage.close()
    print(f"\nreconciliation over {len(codes)} dossiers, {len(offices)} offices")
    for kind in ("missing", "stale", "extra"):
        ok = "ok" if got[kind] == sorted(planted[kind]) else "MISMATCH"
        print(f"  {kind:8} planted {len(planted[kind]):3}  found {len(got[kind]):3}  {ok}")
    print(f"  repaired {found.repaired}, still different {found.still_different}, {took:.1f} s")
    print(f"  bytes to compare:     {found.bytes_compared:>10,}")
    print(f"  full comparison:      {full:>10,}   (every office's whole list of codes)")
    ratio = found.bytes_compared / full
    print(f"  ratio:                {ratio:10.2%}   (goal <= 5%)")
    print(f"  with the repairs:     {found.bytes_exchanged:>10,} ({found.calls} calls)")
    clean = healthy.totals()
    print(
        f"  again, healthy:       {healthy.bytes_compared:>10,} bytes ({healthy.calls} calls); "
        f"matched {clean['matched']}, extra {clean['extra']}, missing {clean['missing']}, "
        f"stale {clean['stale']}"
    )


if __name__ == "__main__":
    main()
