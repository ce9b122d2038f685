"""The dashboard's queries on a hub filled with real signed lifecycles, on both backends:
the overview's counters agree with the office pages and the stored states; the dossier page
re-verifies every event; a tampered stored entry shows as not verified."""

from __future__ import annotations

from datetime import date, datetime

import orjson
import pytest
from hubfill import HUB_NAME, fill_hub

from schemas.lifecycle import OPEN_STATES
from schemas.reports import VN_TZ
from sync_server.dashboard import queries
from sync_server.hub import Hub
from sync_server.storage import open_storage

NOW = int(datetime(2026, 11, 20, 10, 0, tzinfo=VN_TZ).timestamp())


@pytest.fixture
def hub(hub_db: str) -> Hub:
    return Hub(open_storage(hub_db), name=HUB_NAME)


def test_overview_office_and_dossier_pages(hub: Hub) -> None:
    offices = fill_hub(hub, 3, 50, half=True)
    offices[0].push()
    with hub.storage.transaction() as tx:
        rows = {r.code: r for r in queries.overview(tx, NOW)}
        states = {
            r[0]: orjson.loads(r[1])
            for r in tx.all(
                "SELECT code, state FROM dossiers WHERE office = ?", (offices[1].office,)
            )
        }
    assert set(rows) >= {o.office for o in offices}
    first, second = rows[offices[0].office], rows[offices[1].office]
    assert first.entries == offices[0].size and second.entries < offices[1].size
    assert first.stations == 1 and first.last_sync_unix is not None and first.forks == 0
    open_states = [s for s in states.values() if s["status"] in OPEN_STATES]
    assert second.open == len(open_states) > 0
    overdue = [
        s
        for s in open_states
        if s.get("due_at") and date.fromisoformat(s["due_at"][:10]) < date(2026, 11, 20)
    ]
    assert second.overdue == len(overdue)
    assert second.on_time_rate is not None and 0 <= second.on_time_rate <= 1

    with hub.storage.transaction() as tx:
        view = queries.office_view(
            tx, offices[1].office, date(2026, 11, 1), date(2026, 11, 30), NOW
        )
    assert view is not None
    assert view["report"]["pending"]["total"] == second.open
    assert sum(w["received"] for w in view["trend"]) == len(
        [s for s in states.values() if s["status"] != "refused"]
    )
    assert {d["code"] for d in view["awaiting_supplement"]} == {
        c
        for c, s in ((s["code"], s) for s in states.values())
        if s["status"] == "supplement_requested"
    }

    code = sorted(offices[0].codes())[3]
    with hub.storage.transaction() as tx:
        page = queries.dossier_view(tx, code)
        assert queries.dossier_view(tx, "000.00.01.H56-991231-9999") is None
    assert page is not None and page["verified"]
    assert len(page["timeline"]) == page["state"]["version"] + page["conflicts"]
    assert all(e["cosigned_unix"] for e in page["timeline"])


def test_a_tampered_stored_entry_does_not_verify(hub: Hub) -> None:
    offices = fill_hub(hub, 1, 10)
    code = sorted(offices[0].codes())[0]
    with hub.storage.transaction() as tx:
        sid, seq = tx.dossier_events(code)[0]
        event = orjson.loads(tx.leaves(sid, seq, seq + 1)[0])
        event["data"]["applicant"]["name"] = "Người Khác"
        tx._q(
            "UPDATE entries SET leaf = ? WHERE sid = ? AND seq = ?", (orjson.dumps(event), sid, seq)
        )
    with hub.storage.transaction() as tx:
        page = queries.dossier_view(tx, code)
    assert page is not None and not page["verified"]
    checks = page["timeline"][0]["checks"]
    assert checks == {"signature": False, "certificate": True, "inclusion": False}


def test_portal_view_without_a_portal(hub: Hub) -> None:
    fill_hub(hub, 1, 5)
    with hub.storage.transaction() as tx:
        view = queries.portal_view(tx, NOW)
    assert view["backlog"]["dossiers_pending"] == 5 - view["backlog"]["dossiers_accepted"]
    assert view["last_report"] is None and view["errors"] == []


def test_clock_anomalies_are_counted_at_ingest(hub_db: str) -> None:
    # The hub's clock says 1 November while the office's events claim 2 November onwards:
    # every event claims a time after the hub received it, beyond the 2-minute tolerance.
    early = datetime(2026, 11, 1, 8, 0, tzinfo=VN_TZ).timestamp()
    hub = Hub(open_storage(hub_db), name=HUB_NAME, clock=lambda: early)
    offices = fill_hub(hub, 1, 5)
    with hub.storage.transaction() as tx:
        row = {r.code: r for r in queries.overview(tx, int(early))}[offices[0].office]
    dated = [e for e in offices[0].station.events if e["claimed_time"] > "2026-11-01T08:03"]
    assert row.clock_anomalies == len(dated) > 0
