"""Crash campaign (DESIGN 9: every write the officer was told succeeded survives `kill -9`):
SIGKILL at random moments while stations receive dossiers, take workflow actions, sync with a
real `sync-server serve` process, and while that hub ingests pushes. Nothing acknowledged is
lost, nothing is stored twice, every ledger and every hub copy verifies (tests/e2e/crashkit.py
says what each site does and what is checked when).

`make test` runs 80 kills (20 per site); `make soak` (COMMUNE_SOAK=1) runs 1,000;
`bench/crash.py` prints the figures of a full run. The seed is printed first; rerun a failing
campaign with COMMUNE_CRASH_SEED=<seed>.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from crashkit import SITES, Campaign

SOAK = bool(os.environ.get("COMMUNE_SOAK"))
KILLS = 1000 if SOAK else 80
SEED = int(os.environ.get("COMMUNE_CRASH_SEED", "20261206"))


@pytest.mark.soak
@pytest.mark.timeout(5400 if SOAK else 600)
def test_crash_campaign_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    print(f"crash campaign: {KILLS} kills, seed {SEED} (COMMUNE_CRASH_SEED={SEED} reruns it)")
    with Campaign(tmp_path, seed=SEED, log=print) as campaign:
        figures = campaign.run(KILLS)
        print("\n".join(figures.lines()))

        assert figures.problems == []
        assert figures.lost == 0
        assert figures.duplicates == 0
        assert figures.ledgers_verified == figures.ledgers == 3
        assert figures.hub_copies_verified == 3
        assert figures.ok
        # every site was hit as planned, the real executables too, mostly in the middle of work
        assert figures.kills == dict.fromkeys(SITES, KILLS // 4)
        assert all(figures.real_process_kills[s] >= 1 for s in ("receive", "sync", "hub"))
        assert figures.mid_sync_kills >= figures.kills["sync"] // 4
        assert figures.hub_kills_during_sync >= figures.kills["hub"] // 4
        # there was something to lose: acknowledged work of every kind, all of it at the hub
        assert figures.acknowledged_receives >= KILLS
        assert figures.acknowledged_actions >= KILLS // 4
        assert figures.hub_answers >= figures.kills["sync"]
        assert figures.hub_entries == figures.station_entries
        assert figures.acknowledged_accepted_entries == figures.station_entries
        assert figures.foreign_entries > 0  # transfers crossed offices through the feeds
        # no conflicts from replayed or reordered entries, no clock going backwards, no
        # signature worker left behind by a killed hub
        assert figures.quarantined == 0
        assert figures.ledger_warnings == 0
        assert figures.orphaned_workers == 0

        # The checks are not vacuous: a receive the station never wrote, an accepted size the
        # hub never stored and an entry appended twice are each reported.
        campaign.acks[0].receives["000.00.17.H56-261231-0999"] = "2026-12-31T08:00:00+07:00"
        campaign.acks[1].accepted += 1
        conn = sqlite3.connect(campaign.paths[2] / "station.db")
        with conn:
            conn.execute(
                "INSERT INTO entries (seq, leaf, action, dossier, officer, claimed_time) "
                "SELECT (SELECT MAX(seq) + 1 FROM entries), leaf, action, dossier, officer, "
                "claimed_time FROM entries WHERE dossier IS NOT NULL AND action != 'receive' "
                "ORDER BY seq DESC LIMIT 1"
            )
        conn.close()
        campaign.check_stations(full=True, where="control")
        campaign.check_hub(final=False, where="control")
        control = campaign.figures()
        assert control.lost == 2
        assert control.duplicates == 1
        assert control.ledgers_verified == 2
        assert not control.ok
