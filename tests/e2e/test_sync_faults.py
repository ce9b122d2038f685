"""Sync over a bad link: a loopback proxy cuts connections at random byte offsets (both
directions), delays and duplicates requests, while three offices sync, transfer a dossier and
send results back. Afterwards the hub holds every entry exactly once, every station's ledger and
the hub's copy verify, and every dossier's sync state is right (docs/sync.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from faultproxy import FaultPlan, FaultProxy
from hubkit import HubServer, add_office, running_hub
from pg_fixtures import pg_server, pg_url  # noqa: F401  (fixtures)
from stationkit import APPLICANT, PASS, PROCEDURES, T0

from commune_client import desk
from commune_client.procedures import save_catalog
from commune_client.station import Session, Station
from commune_client.sync import RetryPolicy, enroll, sync, sync_states
from ledger.verify import verify_ledger

CUT_POINTS = 200 if not os.environ.get("COMMUNE_SOAK") else 2000
OFFICES = ("000.00.17.H56", "000.00.21.H56", "000.00.25.H56")


@pytest.fixture(params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubServer]:
    db = (
        f"sqlite:///{tmp_path / 'hub' / 'hub.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    with running_hub(db) as server:
        yield server


class Office:
    def __init__(self, root: Path, code: str, hub: HubServer, n: int) -> None:
        self.station = Station.create(
            root / code,
            office=code,
            office_name=f"UBND {code}",
            officer_name="Cán bộ",
            passphrase=PASS,
            now=T0,
            station=1,
        )
        save_catalog(self.station.store, PROCEDURES)
        self.session: Session = self.station.sign_in(None, PASS)
        self.n = n
        with httpx.Client(timeout=30) as client:
            enroll(
                self.station,
                self.session,
                hub.url,
                add_office(hub.hub, code, f"UBND {code}"),
                client=client,
            )

    def work(self, day: int, count: int) -> list[str]:
        codes = []
        for i in range(count):
            at = T0 + timedelta(days=day, minutes=3 * i)
            out = desk.receive(
                self.session,
                procedure="1.001699",
                applicant={**APPLICANT, "id_number": f"0010{day:02d}{self.n}{i:05d}"},
                now=at,
            )
            codes.append(out["code"])
        return codes


def sync_until_done(office: Office, url: str, proxy: FaultProxy, rounds: int = 400) -> None:
    policy = RetryPolicy(attempts=3, initial=0.001, max_wait=0.01)
    for _ in range(rounds):
        with httpx.Client(timeout=httpx.Timeout(5.0)) as client:
            report = sync(
                office.station, office.session, client=client, server_url=url, policy=policy
            )
        if report.problem is None and report.accepted == office.station.store.size():
            return
        assert report.problem in (None, "offline", "hub-error"), report.to_dict()
    raise AssertionError(f"{office.station.info.ref} never finished syncing through the proxy")


@pytest.mark.soak
def test_sync_through_a_link_that_cuts_delays_and_duplicates(
    hub: HubServer, tmp_path: Path
) -> None:
    offices = [Office(tmp_path, code, hub, n) for n, code in enumerate(OFFICES)]
    a, b, _ = offices
    plan = FaultPlan(
        seed=20261123,
        cut_rate=0.85,
        cut_min_bytes=0,
        cut_max_bytes=2500,
        delay=(0.0, 0.002),
        duplicate_rate=0.15,
    )
    with FaultProxy("127.0.0.1", hub.port, plan=plan) as proxy:
        day = 0
        transferred: str | None = None
        while len(proxy.cut_points) < CUT_POINTS or day < 3:
            for office in offices:
                office.work(day, 2)
            if day == 0:
                transferred = a.work(day, 1)[0]
                desk.act(
                    a.session,
                    transferred,
                    "transfer",
                    now=T0 + timedelta(hours=2),
                    to=OFFICES[1],
                    reason="Liên thông",
                )
            for office in offices:
                sync_until_done(office, proxy.url, proxy)
            if day == 1:
                assert transferred is not None and b.station.dossier(transferred) is not None
                desk.act(b.session, transferred, "accept", now=T0 + timedelta(days=1, hours=1))
                desk.act(
                    b.session,
                    transferred,
                    "resolve",
                    now=T0 + timedelta(days=1, hours=2),
                    reason="Đã xác nhận",
                )
                sync_until_done(b, proxy.url, proxy)
            day += 1
        # A final clean round: pulls everything still in flight.
        for office in offices:
            sync_until_done(office, proxy.url, proxy)
        sync_until_done(a, proxy.url, proxy)
        proxy.settle()
        stats = proxy.stats
    assert len(stats.cut_points) >= CUT_POINTS
    assert {d for d, _ in stats.cut_points} == {"up", "down"}
    assert stats.duplicates > 0

    # Results came back: A sees B's resolution and returns the result to the citizen.
    assert transferred is not None
    assert a.station.dossier(transferred)["status"] == "resolved"  # type: ignore[index]
    desk.act(a.session, transferred, "return", now=T0 + timedelta(days=day, hours=1), via="desk")
    with httpx.Client(timeout=30) as client:
        assert sync(a.station, a.session, client=client, server_url=hub.url).problem is None
        assert sync(b.station, b.session, client=client, server_url=hub.url).problem is None

    with hub.hub.storage.transaction() as tx:
        total = tx.entry_count()
        for office in offices:
            st = office.station
            row = tx.station(f"{st.info.office}-1")
            assert row is not None and row.size == st.store.size()
            held = tx.leaves(row.sid, 0, row.size)
            assert held == list(st.store.leaves()), "the hub's copy differs from the station's"
            cps = [cp["checkpoint"] for cp in tx.checkpoints(row.sid)]
            hub_report = verify_ledger(
                held, station_cert=row.cert, origin=row.origin, checkpoints=cps
            )
            assert hub_report.ok, hub_report.findings
            local = verify_ledger(
                list(st.store.leaves()),
                station_cert=st.info.station_cert,
                origin=st.info.origin,
                checkpoints=[n for _, n in [st.store.latest_checkpoint() or (0, "")] if n],
            )
            assert local.ok, local.findings
            codes = [r[0] for r in st.store.conn.execute("SELECT code FROM dossiers")]
            states = sync_states(st, codes)
            assert set(states.values()) <= {"stored"}, states
        final = tx.dossiers([transferred])[transferred]
    assert total == sum(o.station.store.size() for o in offices)  # every entry exactly once
    assert final["status"] == "returned"
    for office in (a, b):
        assert office.station.dossier(transferred)["status"] == "returned"  # type: ignore[index]
