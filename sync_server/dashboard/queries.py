"""What the dashboard pages show: plain functions over a `Tx`, no web framework.

Every number comes from the aggregates maintained at ingest (`sync_server.aggregates`):
`office_counts` for the overview, `dossier_facts` for an office's Biểu 06 and to-do lists, the
portal tables for the outbox. Nothing here reads all events; the dossier page reads one
dossier's few events to show and re-verify them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import parse_checkpoint_text
from ledger.encoding import EncodingError
from ledger.errors import LedgerError
from ledger.merkle import MerkleTree, leaf_hash, verify_inclusion
from ledger.note import parse_note
from ledger.records import verify_record
from schemas.reports import VN_TZ, Bieu06, bieu06
from sync_server.aggregates import FACT_COLUMNS, record_from_fact, week_key
from sync_server.portal import store as portal_store
from sync_server.storage import Tx

__all__ = [
    "STALE_AFTER",
    "OfficeRow",
    "dossier_view",
    "office_bieu06",
    "office_view",
    "overview",
    "portal_view",
    "province_bieu06",
]

STALE_AFTER = 24 * 3600
"""An office not heard from for this long stands out on the overview."""

_YEAR_KINDS = ("received", "early", "on_time", "late", "withdrawn", "stopped")


@dataclass
class OfficeRow:
    code: str
    name: str
    stations: int = 0
    last_sync_unix: int | None = None
    entries: int = 0
    waiting: int = 0
    quarantined: int = 0
    clock_anomalies: int = 0
    clock_offset: int | None = None
    forks: int = 0
    portal_backlog: int = 0
    open: int = 0
    overdue: int = 0
    awaiting_supplement: int = 0
    year: dict[str, int] = field(default_factory=dict)
    on_time_rate: float | None = None
    stale: bool = False

    def sync_age(self, now: int) -> int | None:
        return None if self.last_sync_unix is None else max(0, now - self.last_sync_unix)

    def as_dict(self, now: int) -> dict[str, Any]:
        return {**asdict(self), "sync_age": self.sync_age(now)}


def _today(now: int) -> date:
    return datetime.fromtimestamp(now, VN_TZ).date()


def overview(tx: Tx, now: int) -> list[OfficeRow]:
    """One row per office, in code order: a handful of grouped queries whatever the size."""
    rows = {r[0]: OfficeRow(code=r[0], name=r[1]) for r in tx.all(
        "SELECT code, name FROM offices ORDER BY code"
    )}  # fmt: skip
    for office, n, last, forked, offset, waiting in tx.all(
        "SELECT s.office, COUNT(*), MAX(s.last_push_unix), SUM(s.forked), "
        "MAX(ABS(COALESCE(s.clock_offset, 0))), "
        "SUM(CASE WHEN r.local_size > s.size THEN r.local_size - s.size ELSE 0 END) "
        "FROM stations s LEFT JOIN station_reports r ON r.sid = s.sid GROUP BY s.office"
    ):
        row = rows.get(office)
        if row is None:
            continue
        row.stations, row.last_sync_unix = int(n), None if last is None else int(last)
        row.forks, row.clock_offset = int(forked or 0), None if offset is None else int(offset)
        row.waiting = int(waiting or 0)
    year = f"y{_today(now).year}:"
    keys = ("entries", "quarantined", "clock_anomalies", "open", "awaiting_supplement")
    wanted = [*keys, *(year + k for k in _YEAR_KINDS)]
    marks = ", ".join("?" * len(wanted))
    for office, key, n in tx.all(
        f"SELECT office, key, n FROM office_counts WHERE key IN ({marks})", wanted
    ):
        row = rows.get(office)
        if row is None:
            continue
        if key.startswith(year):
            row.year[key[len(year) :]] = int(n)
        else:
            setattr(row, key, int(n))
    for office, n in tx.all(
        "SELECT office, SUM(n) FROM office_counts WHERE key >= 'due:' AND key < ? GROUP BY office",
        (f"due:{_today(now).isoformat()}",),
    ):
        if office in rows:
            rows[office].overdue = int(n)
    for office, n in tx.all(
        "SELECT office, COUNT(*) FROM portal_dossiers WHERE pending = 1 GROUP BY office"
    ):
        if office in rows:
            rows[office].portal_backlog = int(n)
    for row in rows.values():
        row.on_time_rate = _on_time_rate(row)
        age = row.sync_age(now)
        row.stale = row.stations > 0 and (age is None or age > STALE_AFTER)
    return list(rows.values())


def _on_time_rate(row: OfficeRow) -> float | None:
    """The national index's shape over this year's closings and today's open dossiers:
    (early + on time + withdrawn + open within deadline) / (all of those + late + overdue)."""
    y = row.year
    good = y.get("early", 0) + y.get("on_time", 0) + y.get("withdrawn", 0)
    within = max(0, row.open - row.overdue)
    total = good + y.get("late", 0) + row.open
    return None if total == 0 else (good + within) / total


# -- one office -------------------------------------------------------------------------------


def _facts(tx: Tx, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    cols = ", ".join(FACT_COLUMNS)
    return [record_from_fact(r) for r in tx.all(f"SELECT {cols} FROM dossier_facts {sql}", args)]


def office_bieu06(tx: Tx, office: str, date_from: date, date_to: date) -> Bieu06:
    """Biểu 06 of one office: only the facts overlapping the period are read."""
    return bieu06(_period_facts(tx, office, date_from, date_to), date_from, date_to)


def _period_facts(
    tx: Tx, office: str | None, date_from: date, date_to: date
) -> list[dict[str, Any]]:
    where = "received_day <= ? AND (closed_day IS NULL OR closed_day >= ?)"
    args: list[Any] = [date_to.isoformat(), date_from.isoformat()]
    if office is not None:
        where = "office = ? AND " + where
        args.insert(0, office)
    return _facts(tx, "WHERE " + where + " ORDER BY office, code", args)


def province_bieu06(
    tx: Tx, date_from: date, date_to: date, offices: Iterable[str] | None = None
) -> tuple[Bieu06, list[tuple[dict[str, Any], Bieu06]]]:
    """The whole province's (or the given offices') Biểu 06 and each office's."""
    known = tx.offices()
    chosen = set(offices) if offices is not None else {o["code"] for o in known}
    records = [r for r in _period_facts_with_office(tx, date_from, date_to) if r[0] in chosen]
    by_office: dict[str, list[dict[str, Any]]] = {}
    for office, record in records:
        by_office.setdefault(office, []).append(record)
    total = bieu06((r for _, r in records), date_from, date_to)
    per = [
        (o, bieu06(by_office.get(o["code"], []), date_from, date_to))
        for o in known
        if o["code"] in chosen
    ]
    return total, per


def _period_facts_with_office(
    tx: Tx, date_from: date, date_to: date
) -> list[tuple[str, dict[str, Any]]]:
    cols = ", ".join(FACT_COLUMNS)
    return [
        (r[1], record_from_fact(r))
        for r in tx.all(
            f"SELECT {cols} FROM dossier_facts WHERE received_day <= ? "
            "AND (closed_day IS NULL OR closed_day >= ?)",
            (date_to.isoformat(), date_from.isoformat()),
        )
    ]


def office_view(
    tx: Tx, office: str, date_from: date, date_to: date, now: int, *, weeks: int = 12
) -> dict[str, Any] | None:
    info = tx.office(office)
    if info is None:
        return None
    today = _today(now)
    open_rows = _facts(tx, "WHERE office = ? AND is_open = 1 ORDER BY due_unix, code", (office,))
    dues = [(_due_unix(r), r) for r in open_rows]
    overdue = [r for due, r in dues if due is not None and due < now]
    soon = [r for due, r in dues if due is not None and now <= due < now + 86400]
    waiting = [r for r in open_rows if r["status"] == "supplement_requested"]
    first_week = today - timedelta(weeks=weeks - 1)
    labels = [week_key(first_week + timedelta(weeks=i)) for i in range(weeks)]
    counts = {
        key: int(n)
        for key, n in tx.all(
            "SELECT key, n FROM office_counts WHERE office = ? AND key >= ? AND key < ?",
            (office, f"{labels[0]}:", "w~"),
        )
    }
    trend = [
        {
            "week": label,
            "received": counts.get(f"{label}:received", 0),
            "resolved": counts.get(f"{label}:resolved", 0),
        }
        for label in labels
    ]
    stations = [
        {
            "sid": s.sid,
            "size": s.size,
            "last_push_unix": s.last_push_unix,
            "forked": s.forked,
            "revoked_through": s.revoked_through,
            "clock_offset": s.clock_offset,
        }
        for s in tx.stations(office)
    ]
    return {
        "office": info,
        "stations": stations,
        "report": office_bieu06(tx, office, date_from, date_to),
        "overdue": overdue[:200],
        "overdue_total": len(overdue),
        "due_within_24h": soon[:200],
        "awaiting_supplement": waiting[:200],
        "trend": trend,
    }


def _due_unix(record: dict[str, Any]) -> int | None:
    due = record.get("due_at")
    return None if due is None else int(datetime.fromisoformat(due).timestamp())


# -- one dossier ------------------------------------------------------------------------------


def dossier_view(tx: Tx, code: str) -> dict[str, Any] | None:
    """A dossier's state, timeline, where it is, sync and portal state, and each event's
    signature, certificate and inclusion proof checked again now."""
    found = tx.dossiers([code])
    d = found.get(code)
    if d is None:
        return None
    state = d["state"]
    stations: dict[str, Any] = {}
    timeline = []
    for sid, seq in tx.dossier_events(code):
        leaf = tx.leaves(sid, seq, seq + 1)
        if sid not in stations:
            stations[sid] = tx.station(sid)
        st = stations[sid]
        if not leaf or st is None:
            continue
        event = orjson.loads(leaf[0])
        held = tx.one(
            "SELECT quarantine, detail FROM entries WHERE sid = ? AND seq = ?", (sid, seq)
        )
        cosigned = tx.one(
            "SELECT size, hub_unix FROM checkpoints WHERE sid = ? AND size > ? "
            "ORDER BY size LIMIT 1",
            (sid, seq),
        )
        officer = tx.cert(str(event.get("officer")))
        timeline.append(
            {
                "station": sid,
                "office": st.office,
                "seq": seq,
                "action": event.get("action"),
                "claimed_time": event.get("claimed_time"),
                "officer": officer.get("name") if officer else None,
                "data": event.get("data") or {},
                "quarantine": held[0] if held else None,
                "detail": held[1] if held else None,
                "cosigned_size": None if cosigned is None else int(cosigned[0]),
                "cosigned_unix": None if cosigned is None else int(cosigned[1]),
                "checks": _check_event(tx, event, leaf[0], seq, st, officer),
            }
        )
    portal = portal_store.portal_row(tx, code)
    return {
        "code": code,
        "office": d["office"],
        "participants": d["participants"],
        "state": state,
        "handling_office": state.get("handling_office", d["office"]) if state else None,
        "conflicts": d["conflicts"],
        "timeline": timeline,
        "verified": all(all(e["checks"].values()) for e in timeline) and bool(timeline),
        "portal": None if portal is None else asdict(portal),
    }


def _check_event(
    tx: Tx, event: dict[str, Any], leaf: bytes, seq: int, st: Any, officer: dict[str, Any] | None
) -> dict[str, bool]:
    """Signature by the officer key, officer certificate by the station key, inclusion of the
    leaf in the station's latest cosigned checkpoint."""
    checks = {"signature": False, "certificate": False, "inclusion": False}
    if officer is not None:
        try:
            verify_record(event, cert_public_key(officer))
            checks["signature"] = True
        except (LedgerError, EncodingError, ValueError):
            pass
        try:
            verify_certificate(officer, st.cert)
            checks["certificate"] = True
        except (LedgerError, EncodingError, ValueError):
            pass
    if st.cosigned and st.size > seq:
        try:
            note = parse_note(st.cosigned)
            checkpoint = parse_checkpoint_text(note.text)
            hashes = MerkleTree(_TxNodeReader(tx, st.sid), st.size).inclusion_proof(seq, st.size)
            verify_inclusion(leaf_hash(leaf), seq, checkpoint.size, hashes, checkpoint.root)
            checks["inclusion"] = True
        except (LedgerError, ValueError):
            pass
    return checks


class _TxNodeReader:
    def __init__(self, tx: Tx, sid: str) -> None:
        self.tx, self.sid = tx, sid

    def get(self, level: int, index: int) -> bytes:
        found = self.tx.get_node(self.sid, level, index)
        if found is None:
            raise KeyError((level, index))
        return found

    def put(self, nodes: Any) -> None:
        raise AssertionError("read only")


# -- the portal -------------------------------------------------------------------------------


def portal_view(tx: Tx, now: int) -> dict[str, Any]:
    last = tx.one(
        "SELECT at_unix, report FROM portal_reports WHERE kind = 'reconcile' "
        "ORDER BY at_unix DESC LIMIT 1"
    )
    by_office = tx.all(
        "SELECT office, COUNT(*), SUM(uncertain), SUM(refused), MIN(next_unix) "
        "FROM portal_dossiers WHERE pending = 1 GROUP BY office ORDER BY COUNT(*) DESC LIMIT 50"
    )
    return {
        "backlog": portal_store.backlog(tx, now),
        "offices": [
            {
                "office": r[0],
                "pending": int(r[1]),
                "uncertain": int(r[2] or 0),
                "refused": int(r[3] or 0),
                "next_unix": None if r[4] is None else int(r[4]),
            }
            for r in by_office
        ],
        "last_report": None if last is None else {"at_unix": int(last[0]), **orjson.loads(last[1])},
        "errors": portal_store.recent_errors(tx, 50),
    }
