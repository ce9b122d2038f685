"""Crash campaign: 1,000 SIGKILLs across receive, act, sync and hub ingest, and what survived.

    .venv/bin/python bench/crash.py [--kills 1000] [--seed S] [--stations 3] [--exec-every 5]
                                    [--rounds R] [--json] [--keep DIR]

Runs `tests/e2e/crashkit.py`'s campaign (stations enrolled with a real `sync-server serve`
process on loopback over a SQLite file; children forked from a warm interpreter, and every
`--exec-every`-th trial of a site killing the real `commune receive` / `commune sync` /
`sync-server` executable) and prints: kills per site (and how many were of the real
executables, how many landed in the middle of a sync run), the acknowledged receives, actions
and hub answers (with the entries they cover), lost acknowledged entries (goal 0), duplicates
(goal 0), ledgers verified (n/n), hub copies verified and equal to the station logs after the
final sync (n/n), entries at the stations and at the hub, hub restart times, total time and
time per kill. Progress goes to stderr; `--json` prints one JSON document. Exit 1 when anything
was lost, doubled or failed to verify. The seed is printed first: `--seed` reruns the same
choices (the kill instants still depend on timing).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))
sys.path.insert(2, str(ROOT / "tests" / "e2e"))

from crashkit import Campaign, Figures


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, root: Path) -> Figures:
    with Campaign(
        root, seed=args.seed, stations=args.stations, exec_every=args.exec_every, log=log
    ) as campaign:
        return campaign.run(args.kills, args.rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None, help="default: a fresh one, printed")
    ap.add_argument("--stations", type=int, default=3)
    ap.add_argument("--exec-every", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=None, help="default: one per 100 kills")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the stations, hub and logs in this directory")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10**9)
    log(f"seed {args.seed} (bench/crash.py --seed {args.seed} --kills {args.kills} reruns it)")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
        figures = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="crash-") as tmp:
            figures = run(args, Path(tmp))
    if args.json:
        print(json.dumps(figures.to_json(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(figures.lines()))
    sys.exit(0 if figures.ok else 1)


if __name__ == "__main__":
    main()
