"""Real hub processes: two `sync-server serve` on one PostgreSQL database, and a hub killed with
SIGKILL in the middle of pushes (nothing lost, nothing duplicated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
from hubkit import HUB_NAME, RawStation, batch_from_store, free_port
from stationkit import APPLICANT, PASS, PROCEDURES, T0

from commune_client import desk
from commune_client.procedures import save_catalog
from commune_client.station import Session, Station
from ledger.verify import verify_ledger
from sync_server.hub import Hub
from sync_server.storage import open_storage

BIN = Path(sys.executable).parent


def start_hub(db: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(BIN / "sync-server"), "--db", db, "--name", HUB_NAME, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "hub died")
    proc.kill()
    raise RuntimeError("hub did not become ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def office(i: int) -> str:
    return f"H56.{i:02d}"


def make_station(tmp: Path, i: int, dossiers: int) -> tuple[Station, Session]:
    station = Station.create(
        tmp / f"s{i}",
        office=office(i),
        office_name=f"UBND xã {i}",
        officer_name="Cán bộ",
        passphrase=PASS,
        now=T0,
    )
    save_catalog(station.store, PROCEDURES)
    session = station.sign_in(None, PASS)
    for k in range(dossiers):
        desk.receive(
            session,
            procedure="1.001193",
            applicant={**APPLICANT, "id_number": f"0010880{i:02d}{k:03d}"},
            now=T0 + timedelta(minutes=k),
        )
    return station, session


def enrol_all(db: str, stations: list[tuple[Station, Session]], url: str) -> list[RawStation]:
    storage = open_storage(db)
    hub = Hub(storage, name=HUB_NAME)
    raws = []
    for station, session in stations:
        token = hub.add_office(station.info.office, station.info.office_name)["token"]
        raw = RawStation(url, session.station_key)
        r = raw.enrol(token, station.info.office, 1, station.info.origin)
        assert r.status_code == 201, r.text
        raws.append(raw)
    storage.close()
    return raws


def push_with_retries(raw: RawStation, station: Station, step: int) -> int:
    """A minimal resilient pusher: ask the hub where it is, push a chunk, repeat."""
    sid = f"{station.info.office}-1"
    size = station.store.size()
    for _ in range(200):
        try:
            held = raw.request("GET", f"/v1/stations/{sid}").json()["size"]
            if held == size:
                return held
            end = min(held + step, size)
            batch = batch_from_store(
                station.store, station.info.ref, station.info.origin, held, end
            )
            raw.push(sid, batch)
        except (httpx.TransportError, ValueError):
            time.sleep(0.1)
    raise AssertionError(f"{sid} never finished")


def check_hub_copies(db: str, stations: list[tuple[Station, Session]]) -> None:
    storage = open_storage(db)
    try:
        with storage.transaction() as tx:
            total = tx.entry_count()
            for station, _ in stations:
                st = tx.station(f"{station.info.office}-1")
                assert st is not None and st.size == station.store.size()
                leaves = tx.leaves(st.sid, 0, st.size)
                assert leaves == list(station.store.leaves())
                cps = [c["checkpoint"] for c in tx.checkpoints(st.sid)]
                report = verify_ledger(
                    leaves, station_cert=st.cert, origin=st.origin, checkpoints=cps
                )
                assert report.ok, report.findings
        assert total == sum(s.store.size() for s, _ in stations)  # every entry exactly once
    finally:
        storage.close()


def test_two_hub_processes_share_one_postgresql_database(pg_url: str, tmp_path: Path) -> None:
    stations = [make_station(tmp_path, i, 8) for i in range(12)]
    ports = [free_port(), free_port()]
    procs = [start_hub(pg_url, p) for p in ports]
    try:
        raws = enrol_all(pg_url, stations, f"http://127.0.0.1:{ports[0]}")
        clients = [
            RawStation(f"http://127.0.0.1:{ports[i % 2]}", raw.key) for i, raw in enumerate(raws)
        ]
        # Every station pushes through both processes at once, in small chunks, twice over.
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: push_with_retries(clients[i], stations[i][0], 3),
                    list(range(12)) * 2,
                )
            )
    finally:
        for proc in procs:
            stop(proc)
    check_hub_copies(pg_url, stations)


def test_killing_the_hub_mid_push_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub' / 'hub.db'}"
    stations = [make_station(tmp_path, i, 30) for i in range(3)]
    port = free_port()
    proc = start_hub(db, port)
    raws = enrol_all(db, stations, f"http://127.0.0.1:{port}")
    kills = 0
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(push_with_retries, raws[i], stations[i][0], 2) for i in range(3)]
            while not all(f.done() for f in futures):
                time.sleep(0.15)
                if kills < 6:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    kills += 1
                    proc = start_hub(db, port)
            for f in futures:
                f.result()
    finally:
        stop(proc)
    assert kills >= 1
    check_hub_copies(db, stations)
