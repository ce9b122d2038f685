"""Shared by the benchmarks: a station filled with N dossiers with realistic lifecycles, through
the same code the desk uses (validation, signatures, tree, projection, search index), in large
transactions so that 100,000 dossiers load in under a minute."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commune_client.catalog import demo_catalog
from commune_client.procedures import save_catalog
from commune_client.projection import dossier_state, project
from commune_client.station import Station
from commune_client.store import SqliteNodeStore
from ledger.log import StationLog
from schemas.lifecycle import apply_event
from schemas.samples import dossier_lifecycle

PASS = "bench-pass"
START = datetime.fromisoformat("2025-01-02T07:30:00+07:00")


def make_station(path: Path) -> Station:
    station = Station.create(
        path,
        office="000.00.17.H56",
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=START,
    )
    save_catalog(station.store, demo_catalog())
    return station


def bulk_load(station: Station, n: int) -> int:
    session = station.sign_in(None, PASS)
    info = station.info
    events = 0
    batch = 2000
    clock = START
    for first in range(0, n, batch):
        with station.store.write() as conn:
            log = StationLog(
                info.origin,
                info.ref,
                session.station_key,
                SqliteNodeStore(conn),
                station.store.size(),
            )
            for i in range(first, min(n, first + batch)):
                clock += timedelta(seconds=97)
                for body in dossier_lifecycle(i, clock, office=info.office):
                    body["claimed_time"] = max(body["claimed_time"], clock.isoformat())
                    appended = log.append(body, session.officer)
                    station.store.add_entry(
                        appended.index,
                        appended.leaf,
                        body["action"],
                        body["dossier"],
                        session.officer.key_id,
                        body["claimed_time"],
                    )
                    before = dossier_state(conn, body["dossier"])
                    project(conn, apply_event(before, appended.event))
                    events += 1
        print(
            f"  loaded {min(n, first + batch):>7,} dossiers, {events:,} events",
            end="\r",
            file=sys.stderr,
        )
    print(file=sys.stderr)
    session.sign_checkpoint()
    return events


if __name__ == "__main__":
    # `python bench/stations.py DIR N`: build a station in its own process, so a benchmark
    # measures an app process as lean as a real one (not one holding the loader's heap).
    target, count = Path(sys.argv[1]), int(sys.argv[2])
    built = make_station(target)
    print(bulk_load(built, count))
    built.close()
