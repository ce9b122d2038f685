"""Field conditions (issue 9): three offices work a week offline, their PCs killed at random,
then the link comes back at 2G; figures from one run (docs/field-report.md).

    .venv/bin/python bench/field.py [--profile 2g|dsl] [--per-day LO HI] [--scans SHARE]
                                    [--kills N] [--seed S] [--keep DIR] [--json]

The scenario is `tests/e2e/fieldkit.py` (the same harness `make test` runs on a small week):
real `commune` processes killed with SIGKILL, the real `commune sync` command through the link
emulator (`tests/linkemu.py`: `tc netem` where the kernel has it, else the userspace shaping
proxy; the output says which ran), the hub with the portal outbox and the portal simulator,
then reconciliation and `commune-audit ledger` on every station.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))
sys.path.insert(2, str(ROOT / "tests" / "e2e"))

from fieldkit import WEEK, FieldConfig, FieldRun, summarize


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def report(s: dict[str, Any]) -> str:
    day = s["day_sync_seconds"]
    lines = [
        f"field scenario: 3 offices, {s['dossiers']} dossiers, {s['entries']} ledger entries, "
        f"link {s['profile']} via {s['link']} ({s['netem']})",
        f"  PC kills while working {s['work_kills']}, during sync {s['sync_kills']}; "
        f"link resets {s['link_resets']}",
        f"  lost acknowledged entries {s['lost_acknowledged']}; hub copy identical "
        f"{s['hub_identical']}; portal exactly once {s['portal_exact']}; "
        f"reconcile differences {s['reconcile_differences']}",
        f"  auditor: all ledgers verify {s['audit_ok']}; time brackets closed "
        f"{s['brackets_closed']}/{s['brackets_entries']}; clock anomalies {s['clock_anomalies']}",
        f"  week backlog: wire {_kb(s['wire_week'])} / compressed payload "
        f"{_kb(s['payload_week'])} (entries {_kb(s['entries_zstd_week'])}, "
        f"scans {_kb(s['scans_week'])}) = {s['ratio_week']}   (goal <= 1.3)",
        f"  first sync after the week (s): {s['first_sync_seconds']}",
        f"  one office's day at {s['profile']} (s): {day}  entries {s['day_entries']} "
        f"scans {s['day_scans']}; wire/payload {s['ratio_day']}",
        f"  drops: {s['link_resets']} link resets, {s['sync_kills']} PCs killed mid-sync; the "
        f"agent re-sent {s['retries']} requests, {_kb(s['bytes_resent'])} (largest "
        f"{_kb(s['largest_resent'])}: one chunk or scan piece each); the hub got "
        f"{s['entries_resent']} entries again in {s['pushes_resending']} of {s['pushes']} pushes",
        f"  portal drained {s['portal_drain_seconds']} s after the last sync; "
        f"whole run {s['seconds']} s",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="2g", choices=["2g", "dsl"])
    p.add_argument("--per-day", nargs=2, type=int, default=[15, 40], metavar=("LO", "HI"))
    p.add_argument("--scans", type=float, default=0.1, help="share of dossiers with a scan")
    p.add_argument("--days", type=int, default=5, choices=range(1, 6))
    p.add_argument("--kills", type=int, default=3, help="PC kills per office per working day")
    p.add_argument("--sync-kills", type=int, default=3, help="kills per office in the big sync")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", type=Path, help="keep the run's files in this (empty) directory")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args()
    config = FieldConfig(
        days=WEEK[: args.days],
        per_day=(args.per_day[0], args.per_day[1]),
        scan_share=args.scans,
        work_kills_per_day=args.kills,
        sync_kills=args.sync_kills,
        profile=args.profile,
        seed=args.seed,
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = FieldRun(args.keep, config).run()
    else:
        with tempfile.TemporaryDirectory(prefix="field-") as tmp:
            figures = FieldRun(Path(tmp), config).run()
    summary = summarize(figures)
    if args.json:
        print(json.dumps({"summary": summary, "figures": figures}, default=str))
    else:
        print(report(summary))


if __name__ == "__main__":
    main()
