"""The load run (bench/load.py) at a small size: a throwaway PostgreSQL, two `sync-server serve`
processes on it, 24 stations syncing their day at once while a logged-in dashboard user pages
through it. The full size (3,321 stations) is run by hand: see the script's docstring.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIONS = 24
ENTRIES_PER_STATION = 30  # the station's opening, its officer's enrolment, 28 events


@pytest.fixture(scope="module")
def load_run() -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--stations", str(STATIONS), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    result["_elapsed"] = time.monotonic() - started
    return result


def test_every_station_is_accepted_without_errors(load_run: dict[str, Any]) -> None:
    r = load_run
    assert r["stations"] == STATIONS
    assert r["errors"] == {} and r["error_examples"] == {}
    assert r["accepted"] == STATIONS
    assert r["feeds_pulled"] == STATIONS
    assert r["entries"] == STATIONS * ENTRIES_PER_STATION
    # the hub's database holds every entry, each station at its full size and cosigned
    db = r["database"]
    assert db["entries"] == db["entries_expected"] == r["entries"]
    assert db["stations_complete"] == STATIONS
    assert db["forks"] == 0 and db["quarantined"] == 0
    assert db["dossiers"] > 0


def test_the_two_hub_processes_share_the_work(load_run: dict[str, Any]) -> None:
    per_hub = load_run["per_hub"]
    assert len(per_hub) == 2 and per_hub[0]["url"] != per_hub[1]["url"]
    assert [h["pushes"] for h in per_hub] == [STATIONS // 2, STATIONS // 2]
    cpu = load_run["cpu"]
    assert len(cpu["hubs"]) == 2
    assert all(h["process_s"] > 0 for h in cpu["hubs"]), cpu  # each hub process worked
    assert cpu["hubs_s_per_1000_entries"] > 0 and cpu["postgres_s_per_1000_entries"] > 0
    assert load_run["postgres"]["fsync"] == "on"  # durable, as in production


def test_latencies_are_reported(load_run: dict[str, Any]) -> None:
    for name in ("push_ms", "feed_ms"):
        lat = load_run[name]
        assert lat["n"] == STATIONS, (name, lat)
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"], (name, lat)
    assert load_run["wall_s"] > 0
    assert load_run["entries_per_s"] == pytest.approx(load_run["entries"] / load_run["wall_s"])
    assert load_run["raw_verify_per_s"] > 0


def test_the_dashboard_answers_while_loaded(load_run: dict[str, Any]) -> None:
    dash = load_run["dashboard"]
    for phase in ("idle_before", "loaded", "idle_after"):
        for page in ("overview", "office"):
            stats = dash[phase][page]
            assert stats["n"] >= 1, (phase, page, stats)
            assert stats["statuses"] == {"200": stats["n"]}, (phase, page, stats)
            assert 0 < stats["p50"] <= stats["p95"] <= stats["max"], (phase, page, stats)
            if phase != "loaded":  # idle rounds alternate the hubs; a short burst may get one
                assert stats["hubs"] == [0, 1], (phase, page, stats)


def test_the_smoke_run_stays_quick(load_run: dict[str, Any]) -> None:
    assert load_run["_elapsed"] < 120, load_run["_elapsed"]
