"""The field scenario, bounded (issue 9; the whole week is `bench/field.py`, figures in
docs/field-report.md): three offices work two days offline while their PCs are killed at random
moments, then the link comes back at 2G (`tests/linkemu.py`) and the real `commune sync` runs,
killed mid-way too. Afterwards nothing the officers were told is saved is missing, the hub holds
every station's log byte for byte, the portal simulator has every dossier exactly once and
reconciliation finds no difference, the transfer went there and back, and the auditor verifies
every ledger with closed time brackets and no clock anomaly."""

from __future__ import annotations

from pathlib import Path

from fieldkit import WEEK, FieldConfig, FieldRun, summarize

from commune_client.sync import BLOB_CHUNK, CHUNK_MAX_BYTES, CHUNK_MAX_ENTRIES


def test_two_days_offline_then_2g(tmp_path: Path) -> None:
    config = FieldConfig(
        days=WEEK[:2],
        per_day=(3, 5),
        scan_share=0.15,
        work_kills_per_day=1,
        sync_kills=1,
        profile="2g",
        seed=3,
        extra_day=None,
    )
    figures = FieldRun(tmp_path, config).run()
    s = summarize(figures)

    assert s["link"] in ("userspace", "netem") and s["netem"]
    assert s["work_kills"] >= 3 and s["sync_kills"] >= 1, "the PCs were not really killed"
    assert s["lost_acknowledged"] == 0
    assert s["hub_identical"], figures["hub"]
    assert s["portal_exact"], figures["portal"]["check"]
    assert figures["portal"]["check"]["dossiers"] == s["dossiers"] > 20
    assert s["reconcile_differences"] == 0, figures["portal"]["reconcile"]
    assert s["audit_ok"], figures["audit"]
    assert s["clock_anomalies"] == 0
    # every entry after the first sync has a not-before; every entry a not-after
    assert s["brackets_closed"] >= s["brackets_entries"] - 3 * 3
    # a drop costs at most one chunk: each re-sending push follows a drop
    drops = (
        s["link_resets"]
        + s["sync_kills"]
        + sum(r["offline_runs"] for r in figures["first_sync"].values())
    )
    assert s["pushes_resending"] <= drops
    assert s["entries_resent"] <= s["pushes_resending"] * CHUNK_MAX_ENTRIES
    # ... and what the station sent again after a failure was one chunk or one scan piece
    assert s["largest_resent"] <= max(BLOB_CHUNK, CHUNK_MAX_BYTES)
    assert s["bytes_resent"] <= s["retries"] * max(BLOB_CHUNK, CHUNK_MAX_BYTES)
    # the transfer went to the other office and its result came back
    transfer = figures["transfer"]
    assert transfer["code"].startswith(transfer["from"])
    assert transfer["status"] == {transfer["from"]: "returned", transfer["to"]: "returned"}
    # ... and both offices see that the provincial portal accepted it
    assert transfer["sync_state"] == {transfer["from"]: "portal", transfer["to"]: "portal"}
