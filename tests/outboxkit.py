"""Test helpers for the portal outbox: a hub on a controllable clock, and the comparison of
the portal's state with the hub's, field by field (docs/portal.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sync_server.hub import Hub
from sync_server.portal import store
from sync_server.portal.mapping import applied_steps, dossier_record, progress_rows, row_key
from sync_server.portal.service import PortalService
from sync_server.settings import PortalSettings
from sync_server.storage import Storage

T0 = 1_795_000_000.0  # 2026-11-18, a Wednesday


class Clock:
    """The hub's clock in tests: moves only when told."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def portal_settings(url: str, **over: Any) -> PortalSettings:
    base: dict[str, Any] = {
        "url": url,
        "timeout": 2.0,
        "workers": 2,
        "backoff_initial": 2.0,
        "backoff_max": 3600.0,
        "breaker_failures": 5,
        "breaker_cooldown": 30.0,
        "public_url": "http://127.0.0.1:1",
    }
    return PortalSettings(**{**base, **over})


@contextmanager
def portal_service(hub: Hub, url: str, **over: Any) -> Iterator[PortalService]:
    service = PortalService(hub, portal_settings(url, **over))
    try:
        yield service
    finally:
        service.stop()


def pending(storage: Storage) -> int:
    with storage.transaction() as tx:
        return int(tx.one("SELECT COUNT(*) FROM portal_dossiers WHERE pending = 1")[0])


def next_due(storage: Storage) -> int | None:
    with storage.transaction() as tx:
        value = tx.one("SELECT MIN(next_unix) FROM portal_dossiers WHERE pending = 1")[0]
    return None if value is None else int(value)


def settle(service: PortalService, clock: Clock, sim: Any, *, max_rounds: int = 100_000) -> int:
    """Run the outbox, moving the clocks (hub and simulator) on whenever nothing is due, until
    nothing is pending. Returns the number of passes."""
    storage = service.hub.storage
    for n in range(max_rounds):
        report = service.outbox.run_once()
        if report.claimed and not report.calls_blocked:
            continue
        if not pending(storage):
            return n
        due = next_due(storage) or int(clock.t)
        breaker = service.outbox.breaker
        wake = max(due, int(breaker.open_until) + 1 if breaker.state == "open" else 0)
        clock.t = max(clock.t + 1, float(wake))
        sim.set_clock(clock.t)
    raise AssertionError(f"still {pending(storage)} dossiers pending after {max_rounds} passes")


@dataclass
class Expected:
    record: dict[str, Any]
    rows: list[dict[str, Any]]


def expected_portal(service: PortalService) -> dict[str, Expected]:
    """What the portal must hold: the mapping of the hub's every dossier."""
    out: dict[str, Expected] = {}
    storage = service.hub.storage
    with storage.transaction() as tx:
        names = service.outbox._names_for(tx)
        codes = [r[0] for r in tx.all("SELECT code FROM portal_dossiers ORDER BY code")]
        for code in codes:
            steps = applied_steps(store.dossier_events(tx, code))
            out[code] = Expected(
                dossier_record(steps[-1].state, steps, names), progress_rows(steps, names)
            )
    return out


def assert_portal_equals_hub(service: PortalService, sim: Any) -> int:
    """Field by field, every dossier and every row present once; nothing extra. Returns the
    number of rows compared."""
    want = expected_portal(service)
    got = {d["MaHoSo"]: d for d in sim.dump()}
    assert sorted(got) == sorted(want), (
        f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
    )
    rows = 0
    for code, expected in want.items():
        held = dict(got[code])
        held_rows = held.pop("TienDoXuLy")
        for field, value in expected.record.items():
            assert held.get(field) == value, (code, field, held.get(field), value)
        assert set(held) == set(expected.record), code
        keys = [row_key(r) for r in held_rows]
        assert len(keys) == len(set(keys)), f"{code}: a row is there twice"
        assert held_rows == expected.rows, code
        rows += len(held_rows)
    return rows
