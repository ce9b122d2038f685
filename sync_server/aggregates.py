"""The dashboard's numbers, maintained at ingest (docs/dashboard.md "Aggregates").

A page never scans events: each push updates, in its own transaction,

- `dossier_facts`: one slim row per dossier with exactly what Biểu 06 reads (field, channel,
  status and the closing times), so an office's report for any period reads only the rows of
  that office that overlap the period and runs the same pure `schemas.reports.bieu06` as the
  station does;
- `office_counts`: counters per (office, key), changed by the difference between a dossier's
  contribution before and after the run. Keys:
  `received`, `open`, `open_nodue`, `due:YYYY-MM-DD` (open dossiers by due date, so "overdue"
  is one range sum at read time), `awaiting_supplement`, `refused`, `supplement_gt1`,
  `yYYYY:received|early|on_time|late|withdrawn|stopped` (the year's closings, for the on-time
  rate), `wYYYY-Www:received|resolved` (the weekly trend), and per run `entries`,
  `quarantined`, `conflicts`, `clock_anomalies`.

The office a dossier counts for is the office that received it (its `dossiers.office`).
Counters are exact: a run's contribution is computed and written inside the ingest
transaction, so a rolled-back run changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from schemas.reports import VN_TZ, DossierFacts, dossier_facts

if TYPE_CHECKING:
    from sync_server.storage import Tx

__all__ = [
    "CLOCK_TOLERANCE",
    "FACT_COLUMNS",
    "Aggregates",
    "contribution",
    "fact_row",
    "rebuild",
    "record_from_fact",
    "week_key",
]

CLOCK_TOLERANCE = 120
"""Seconds a claimed time may stray outside its bracket before it counts as a clock anomaly
(the TUI warns at the same 2 minutes; the auditor reports exact brackets)."""

# The record keys Biểu 06 reads, stored as columns of `dossier_facts`.
_TIMES = (
    "received_at",
    "due_at",
    "resolved_at",
    "returned_at",
    "refused_at",
    "stopped_at",
    "withdrawn_at",
    "updated_at",
)
FACT_COLUMNS = (
    "code",
    "office",
    "field",
    "procedure",
    "channel",
    "status",
    *_TIMES,
    "supplement_rounds",
    "is_open",
    "due_unix",
    "received_day",
    "closed_day",
)


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"w{year}-W{week:02d}"


def _local_day(value: str | None) -> date | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=VN_TZ)
    return parsed.astimezone(VN_TZ).date()


def _facts_of(state: Mapping[str, Any]) -> DossierFacts | ValueError | None:
    try:
        return dossier_facts(state)
    except ValueError as exc:  # a malformed time: counted nowhere rather than failing ingest
        return exc


def contribution(
    state: Mapping[str, Any] | None, facts: DossierFacts | ValueError | None = None
) -> Counter[str]:
    """What one dossier adds to its office's counters (empty for no state). `facts` saves
    computing them again when the caller has them."""
    out: Counter[str] = Counter()
    if state is None:
        return out
    if facts is None:
        facts = _facts_of(state)
    if isinstance(facts, ValueError):
        return out
    if facts is None:
        if state.get("status") == "refused" or state.get("refused_at"):
            out["refused"] += 1
        return out
    year = f"y{facts.received.year}"
    out["received"] += 1
    out[f"{year}:received"] += 1
    out[f"{week_key(facts.received)}:received"] += 1
    if facts.supplement_rounds > 1:
        out["supplement_gt1"] += 1
    if facts.closing is None:
        out["open"] += 1
        if facts.due is None:
            out["open_nodue"] += 1
        else:
            out[f"due:{facts.due.isoformat()}"] += 1
        if state.get("status") == "supplement_requested":
            out["awaiting_supplement"] += 1
        return out
    assert facts.closed is not None
    closed_year = f"y{facts.closed.year}"
    if facts.closing == "resolved":
        if facts.due is None or facts.closed == facts.due:
            kind = "on_time"
        elif facts.closed < facts.due:
            kind = "early"
        else:
            kind = "late"
        out[f"{closed_year}:{kind}"] += 1
        out[f"{week_key(facts.closed)}:resolved"] += 1
    else:
        out[f"{closed_year}:{facts.closing}"] += 1
    return out


def fact_row(
    office: str, state: Mapping[str, Any], facts: DossierFacts | ValueError | None = None
) -> tuple[Any, ...]:
    """The `dossier_facts` row of a dossier state, in FACT_COLUMNS order."""
    procedure = state.get("procedure") or {}
    try:
        if facts is None:
            facts = _facts_of(state)
        if isinstance(facts, ValueError):
            raise facts
        due = state.get("due_at")
        due_unix = int(datetime.fromisoformat(due).timestamp()) if due else None
        refused = state.get("refused_at")
        closed = facts.closed if facts is not None else _local_day(refused or None)
        received_day = _local_day(state.get("received_at"))
    except ValueError:
        facts, due_unix, closed, received_day = None, None, None, None
    is_open = facts is not None and facts.closing is None
    rounds = state.get("supplement_rounds", 0)
    return (
        state["code"],
        office,
        procedure.get("field") if isinstance(procedure, Mapping) else None,
        procedure.get("code") if isinstance(procedure, Mapping) else None,
        str(state.get("channel", "direct")),
        str(state.get("status")),
        *(state.get(key) for key in _TIMES),
        rounds if isinstance(rounds, int) and not isinstance(rounds, bool) else 0,
        int(is_open),
        due_unix,
        received_day.isoformat() if received_day else None,
        closed.isoformat() if closed else None,
    )


def record_from_fact(row: Sequence[Any]) -> dict[str, Any]:
    """A dossier record as `schemas.reports` reads it, from a `dossier_facts` row."""
    values = dict(zip(FACT_COLUMNS, row, strict=True))
    record: dict[str, Any] = {
        "code": values["code"],
        "procedure": {"field": values["field"], "code": values["procedure"]},
        "channel": values["channel"],
        "status": values["status"],
        "supplement_rounds": int(values["supplement_rounds"] or 0),
    }
    for key in _TIMES:
        if values[key] is not None:
            record[key] = values[key]
    return record


class Aggregates:
    """Collects one run's changes; `write` applies them in the ingest transaction."""

    def __init__(self) -> None:
        self.deltas: dict[str, Counter[str]] = {}
        self.facts: list[tuple[Any, ...]] = []

    def add(self, office: str, key: str, n: int = 1) -> None:
        if n:
            self.deltas.setdefault(office, Counter())[key] += n

    def dossier(
        self, office: str, before: Mapping[str, Any] | None, after: Mapping[str, Any]
    ) -> None:
        delta = self.deltas.setdefault(office, Counter())
        facts = _facts_of(after)
        delta.update(contribution(after, facts))
        delta.subtract(contribution(before))
        self.facts.append(fact_row(office, after, facts))

    def write(self, tx: Tx) -> None:
        rows = [
            (office, key, n)
            for office in sorted(self.deltas)
            for key, n in sorted(self.deltas[office].items())
            if n
        ]
        tx.put_facts(self.facts)
        tx.add_counts(rows)


def rebuild(tx: Tx) -> int:
    """Recompute `dossier_facts` and the dossier counters from the stored dossier states, and
    the log counters from the stored entries (`sync-server aggregates rebuild`, and the check
    that what ingest maintained is exact). Clock anomalies are kept: they need the brackets
    at the time of each push. Returns the number of dossiers."""
    kept = {
        (r[0], r[1]): int(r[2])
        for r in tx.all("SELECT office, key, n FROM office_counts WHERE key = 'clock_anomalies'")
    }
    tx._q("DELETE FROM dossier_facts")
    tx._q("DELETE FROM office_counts")
    agg = Aggregates()
    dossiers = 0
    for office, state in tx.all("SELECT office, state FROM dossiers ORDER BY code"):
        agg.dossier(office, None, orjson.loads(state))
        dossiers += 1
        if len(agg.facts) >= 5000:
            tx.put_facts(agg.facts)
            agg.facts = []
    for office, entries, quarantined, conflicts in tx.all(
        "SELECT s.office, COUNT(*), COUNT(e.quarantine), "
        "SUM(CASE WHEN e.quarantine = 'conflict' THEN 1 ELSE 0 END) "
        "FROM entries e JOIN stations s ON s.sid = e.sid GROUP BY s.office"
    ):
        agg.add(office, "entries", int(entries))
        agg.add(office, "quarantined", int(quarantined))
        agg.add(office, "conflicts", int(conflicts or 0))
    for (office, key), n in kept.items():
        agg.add(office, key, n)
    agg.write(tx)
    return dossiers
