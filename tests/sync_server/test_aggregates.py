"""The dashboard's aggregates are maintained at ingest and are exact: after pushes in several
runs (so dossiers change between runs), the counters and facts equal a recomputation from the
stored dossier states, on both backends; and the office's Biểu 06 from the facts equals the
pure report over the full states."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import orjson
import pytest
from hubfill import HUB_NAME, fill_hub

from schemas.reports import bieu06
from sync_server.aggregates import contribution, rebuild
from sync_server.dashboard import queries
from sync_server.hub import Hub
from sync_server.storage import open_storage


def _snapshot(hub: Hub) -> tuple[dict[tuple[str, str], int], list[tuple[object, ...]]]:
    with hub.storage.transaction() as tx:
        counts = {
            (r[0], r[1]): int(r[2]) for r in tx.all("SELECT office, key, n FROM office_counts")
        }
        facts = [tuple(r) for r in tx.all("SELECT * FROM dossier_facts ORDER BY code")]
    assert all(counts.values()), "a counter back at zero is deleted"
    return counts, facts


@pytest.fixture
def hub(hub_db: str) -> Hub:
    return Hub(open_storage(hub_db), name=HUB_NAME)


def test_counters_at_ingest_equal_a_rebuild(hub: Hub) -> None:
    offices = fill_hub(hub, 3, 60, half=True)
    for office in offices:
        office.push()
    counted = _snapshot(hub)
    with hub.storage.transaction() as tx:
        assert rebuild(tx) > 150
    assert _snapshot(hub) == counted
    counts, _ = counted
    office = offices[0].office
    assert counts[(office, "entries")] == offices[0].size
    accepted = counts.get((office, "received"), 0) + counts.get((office, "refused"), 0)
    assert accepted == len(offices[0].codes())  # every dossier counted once, refused apart


def test_office_bieu06_from_facts_equals_the_pure_report(hub: Hub) -> None:
    offices = fill_hub(hub, 2, 80)
    office = offices[1].office
    with hub.storage.transaction() as tx:
        states = [
            orjson.loads(r[0])
            for r in tx.all("SELECT state FROM dossiers WHERE office = ?", (office,))
        ]
        for start, end in [
            (date(2026, 11, 1), date(2026, 11, 30)),
            (date(2026, 11, 3), date(2026, 11, 4)),
        ]:
            assert queries.office_bieu06(tx, office, start, end) == bieu06(states, start, end)


def test_contribution_moves_a_dossier_between_counters() -> None:
    received = {
        "code": "X-1",
        "procedure": {"field": "Hộ tịch"},
        "channel": "direct",
        "status": "received",
        "received_at": "2026-11-02T08:00:00+07:00",
        "due_at": "2026-11-05T17:00:00+07:00",
        "supplement_rounds": 0,
    }
    resolved = {**received, "status": "resolved", "resolved_at": "2026-11-06T09:00:00+07:00"}
    before, after = contribution(received), contribution(resolved)
    assert before["open"] == 1 and before["due:2026-11-05"] == 1
    assert after["y2026:late"] == 1 and after["open"] == 0
    assert after["w2026-W45:received"] == 1 and after["w2026-W45:resolved"] == 1
    assert contribution(
        {**received, "status": "refused", "refused_at": received["received_at"]}
    ) == {"refused": 1}


def test_the_rebuild_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    fill_hub(Hub(open_storage(db), name=HUB_NAME), 1, 12)
    command = str(Path(sys.executable).with_name("sync-server"))
    out = subprocess.run(
        [command, "--db", db, "--json", "aggregates", "rebuild"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert orjson.loads(out.stdout) == {"dossiers": 12}
