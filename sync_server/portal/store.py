"""The portal tables of the hub database: plain functions over a `Tx` (docs/portal.md "Outbox").

`outbox` holds one row per pending change (dossier code, version); `portal_dossiers` holds, per
dossier, what the portal is known to have and when to try next. Rows are written at ingest in
the same transaction as the dossier state (`Tx.outbox_enqueue`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sync_server.storage import Tx

__all__ = [
    "PortalRow",
    "backlog",
    "claim_due",
    "dossier_events",
    "link_signature",
    "portal_row",
]

LEASE_SECONDS = 300
"""A claimed dossier is not claimed again for this long (a hub process that died mid-call)."""

_COLUMNS = (
    "code, office, day, pstatus, version, pending, next_unix, attempts, at_portal, sent_version, "
    "rows_sent, uncertain, refused, last_error, accepted_version, accepted_unix"
)


@dataclass
class PortalRow:
    code: str
    office: str
    day: str
    pstatus: int
    version: int
    pending: bool
    next_unix: int
    attempts: int
    at_portal: bool
    sent_version: int
    rows_sent: int
    uncertain: bool
    refused: bool
    last_error: str | None
    accepted_version: int
    accepted_unix: int | None


def _row(r: Sequence[Any]) -> PortalRow:
    return PortalRow(
        r[0], r[1], r[2], int(r[3]), int(r[4]), bool(r[5]), int(r[6]), int(r[7]), bool(r[8]),
        int(r[9]), int(r[10]), bool(r[11]), bool(r[12]), r[13], int(r[14]),
        None if r[15] is None else int(r[15]),
    )  # fmt: skip


def link_signature(key: bytes, sha: str, expires: int) -> str:
    """The signature of a scan link for the portal (`DuongDanTaiTepTin`)."""
    return hmac.new(key, f"{sha}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def portal_row(tx: Tx, code: str, *, lock: bool = False) -> PortalRow | None:
    row = tx.one(
        f"SELECT {_COLUMNS} FROM portal_dossiers WHERE code = ?" + (tx._lock if lock else ""),
        (code,),
    )
    return _row(row) if row else None


def portal_rows(tx: Tx, codes: Sequence[str]) -> dict[str, PortalRow]:
    out: dict[str, PortalRow] = {}
    for start in range(0, len(codes), 500):
        part = list(codes[start : start + 500])
        marks = ",".join("?" * len(part))
        for r in tx.all(f"SELECT {_COLUMNS} FROM portal_dossiers WHERE code IN ({marks})", part):
            out[r[0]] = _row(r)
    return out


def claim_due(tx: Tx, now: int, limit: int, *, codes: Sequence[str] | None = None) -> list[str]:
    """Up to `limit` due dossiers, leased to this caller (other hub processes skip them)."""
    skip = " FOR UPDATE SKIP LOCKED" if tx._lock else ""
    if codes is None:
        rows = tx.all(
            "SELECT code FROM portal_dossiers WHERE pending = 1 AND next_unix <= ? "
            "ORDER BY next_unix, code LIMIT ?" + skip,
            (now, limit),
        )
    else:
        marks = ",".join("?" * len(codes))
        rows = tx.all(
            f"SELECT code FROM portal_dossiers WHERE pending = 1 AND code IN ({marks}) "
            "ORDER BY code" + skip,
            list(codes),
        )
    claimed = [r[0] for r in rows]
    for code in claimed:
        tx._q(
            "UPDATE portal_dossiers SET next_unix = ? WHERE code = ?", (now + LEASE_SECONDS, code)
        )
    return claimed


def dossier_events(tx: Tx, code: str) -> list[dict[str, Any]]:
    """The dossier's events in the hub's order (the order its state was folded in)."""
    out = []
    for sid, seq in tx.dossier_events(code):
        out.append(orjson.loads(tx.leaves(sid, seq, seq + 1)[0]))
    return out


def update(tx: Tx, code: str, **fields: Any) -> None:
    names = ", ".join(f"{k} = ?" for k in fields)
    tx._q(f"UPDATE portal_dossiers SET {names} WHERE code = ?", (*fields.values(), code))


def finish(tx: Tx, code: str, version: int, now: int) -> bool:
    """The portal holds `version`: drop the outbox rows it covers. True if newer ones wait."""
    tx.one("SELECT code FROM portal_dossiers WHERE code = ?" + tx._lock, (code,))
    tx._q("DELETE FROM outbox WHERE code = ? AND version <= ?", (code, version))
    newer = tx.one("SELECT COUNT(*) FROM outbox WHERE code = ?", (code,))[0] > 0
    update(
        tx,
        code,
        pending=int(newer),
        next_unix=now if newer else 0,
        attempts=0,
        uncertain=0,
        refused=0,
        last_error=None,
        accepted_version=version,
        accepted_unix=now,
    )
    return bool(newer)


def requeue(tx: Tx, code: str, now: int, **fields: Any) -> None:
    """Forward the dossier's current version again (reconciliation found the portal behind)."""
    row = portal_row(tx, code, lock=True)
    if row is None:
        return
    tx._q(
        "INSERT INTO outbox (code, version, enqueued_unix) VALUES (?, ?, ?) "
        "ON CONFLICT (code, version) DO NOTHING",
        (code, row.version, now),
    )
    update(tx, code, pending=1, next_unix=now, attempts=0, accepted_version=0, **fields)


def log_error(
    tx: Tx, now: int, service: str, kind: str, code: str | None, detail: str, dossiers: list[str]
) -> None:
    tx._q(
        "INSERT INTO portal_errors (at_unix, service, kind, code, detail, dossiers) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (now, service, kind, code, detail[:500], orjson.dumps(dossiers[:20]).decode()),
    )


def recent_errors(tx: Tx, limit: int = 50) -> list[dict[str, Any]]:
    rows = tx.all(
        "SELECT at_unix, service, kind, code, detail, dossiers FROM portal_errors "
        "ORDER BY at_unix DESC LIMIT ?",
        (limit,),
    )
    return [
        {
            "at_unix": int(r[0]),
            "service": r[1],
            "kind": r[2],
            "code": r[3],
            "detail": r[4],
            "dossiers": orjson.loads(r[5]),
        }
        for r in rows
    ]


def prune_errors(tx: Tx, keep_since: int) -> None:
    tx._q("DELETE FROM portal_errors WHERE at_unix < ?", (keep_since,))


def backlog(tx: Tx, now: int) -> dict[str, Any]:
    """The outbox at a glance (the dashboard's Portal page, `/metrics`)."""
    pending, due, uncertain, refused = tx.one(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN next_unix <= ? THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(uncertain), 0), COALESCE(SUM(refused), 0) "
        "FROM portal_dossiers WHERE pending = 1",
        (now,),
    )
    rows = int(tx.one("SELECT COUNT(*) FROM outbox")[0])
    oldest = tx.one("SELECT MIN(enqueued_unix) FROM outbox")[0]
    accepted = int(tx.one("SELECT COUNT(*) FROM portal_dossiers WHERE pending = 0")[0])
    return {
        "outbox_rows": rows,
        "dossiers_pending": int(pending),
        "dossiers_due": int(due),
        "dossiers_uncertain": int(uncertain),
        "dossiers_refused": int(refused),
        "dossiers_accepted": accepted,
        "oldest_pending_age": None if oldest is None else max(0, now - int(oldest)),
    }


def status(tx: Tx, now: int) -> dict[str, Any]:
    """The backlog and the portal's recent errors (`sync-server portal status`, the service)."""
    return {**backlog(tx, now), "recent_errors": recent_errors(tx, 20)}


def accepted_since(tx: Tx, office: str, after: int, limit: int) -> list[tuple[str, int, int]]:
    """(code, accepted version, accepted_unix) of the office's dossiers the portal accepted
    at or after `after`, oldest first (the station's "accepted by portal" sync state): those
    it received and those transferred to it (`dossier_offices`)."""
    return [
        (r[0], int(r[1]), int(r[2]))
        for r in tx.all(
            "SELECT code, accepted_version, accepted_unix FROM portal_dossiers "
            "WHERE office = ? AND accepted_unix >= ? AND accepted_version > 0 "
            "UNION ALL "
            "SELECT p.code, p.accepted_version, p.accepted_unix FROM dossier_offices o "
            "JOIN portal_dossiers p ON p.code = o.code "
            "WHERE o.office = ? AND p.accepted_unix >= ? AND p.accepted_version > 0 "
            "ORDER BY 3, 1 LIMIT ?",
            (office, after, office, after, limit),
        )
    ]
