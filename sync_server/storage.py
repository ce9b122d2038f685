"""The hub's storage behind one interface, with two implementations (DESIGN section 6).

`SqliteStorage` (the embedded default: one file, WAL, `BEGIN IMMEDIATE` serialises writers) and
`PostgresStorage` (production: several hub processes share one database). Both run the same SQL
through `Tx`; the dialects differ only in placeholders, column types, row locks and how a
transaction begins. Callers work in `with storage.transaction() as tx:` blocks, so an ingest is
one atomic unit whatever the backend, and a retryable conflict (PostgreSQL deadlock or
serialization failure) re-runs the whole block.

Concurrency rules for several processes (PostgreSQL): a push locks its station's row first,
then the dossier rows it touches in code order, then the feed counters of the offices it
writes to in code order. Everyone takes locks in that order, so there is no deadlock cycle, and
per-office feed cursors are handed out under a row lock, so they become visible in order (a
reader never skips a cursor that commits later).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import orjson

__all__ = [
    "EntryRow",
    "PostgresStorage",
    "SqliteStorage",
    "StationRow",
    "Storage",
    "StorageError",
    "Tx",
    "open_storage",
]

T = TypeVar("T")


class StorageError(Exception):
    """The database cannot be opened or used (bad URL, server down)."""


@dataclass
class StationRow:
    sid: str  # "<office>-<n>" (URLs)
    ref: str  # "<office>/<n>" (events)
    office: str
    number: int
    origin: str
    key_id: str
    public_key: str
    cert: dict[str, Any]
    size: int
    root: str
    verify_state: dict[str, Any] | None
    checkpoint: str | None  # latest accepted station checkpoint (station-signed)
    cosigned: str | None  # the same with the hub's cosignature line
    forked: bool
    revoked_through: int | None
    enrolled_at: str
    last_push_unix: int | None
    clock_offset: int | None
    enrol_answer: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class EntryRow:
    seq: int
    leaf: bytes
    action: str
    dossier: str | None
    officer: str
    claimed_time: str
    quarantine: str | None = None
    detail: str | None = None


_STATION_COLS = (
    "sid, ref, office, number, origin, key_id, public_key, cert, size, root, verify_state, "
    "checkpoint, cosigned, forked, revoked_through, enrolled_at, last_push_unix, clock_offset, "
    "enrol_answer"
)


def _station(row: Sequence[Any]) -> StationRow:
    return StationRow(
        sid=row[0],
        ref=row[1],
        office=row[2],
        number=int(row[3]),
        origin=row[4],
        key_id=row[5],
        public_key=row[6],
        cert=orjson.loads(row[7]),
        size=int(row[8]),
        root=row[9],
        verify_state=orjson.loads(row[10]) if row[10] else None,
        checkpoint=row[11],
        cosigned=row[12],
        forked=bool(row[13]),
        revoked_through=row[14],
        enrolled_at=row[15],
        last_push_unix=row[16],
        clock_offset=row[17],
        enrol_answer=orjson.loads(row[18]) if row[18] else None,
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


SCHEMA = """
CREATE TABLE IF NOT EXISTS hub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offices (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, office TEXT NOT NULL, expires_unix BIGINT NOT NULL,
    used_by TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stations (
    sid TEXT PRIMARY KEY, ref TEXT NOT NULL, office TEXT NOT NULL, number INTEGER NOT NULL,
    origin TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL UNIQUE, public_key TEXT NOT NULL,
    cert TEXT NOT NULL, size BIGINT NOT NULL, root TEXT NOT NULL, verify_state TEXT,
    checkpoint TEXT, cosigned TEXT, forked INTEGER NOT NULL DEFAULT 0, revoked_through BIGINT,
    enrolled_at TEXT NOT NULL, last_push_unix BIGINT, clock_offset BIGINT, enrol_answer TEXT);
CREATE INDEX IF NOT EXISTS stations_office ON stations (office);
CREATE INDEX IF NOT EXISTS stations_ref ON stations (ref);
CREATE TABLE IF NOT EXISTS entries (
    sid TEXT NOT NULL, seq BIGINT NOT NULL, leaf {blob} NOT NULL, dossier TEXT,
    action TEXT NOT NULL, officer TEXT NOT NULL, claimed_time TEXT NOT NULL, quarantine TEXT,
    detail TEXT, PRIMARY KEY (sid, seq));
CREATE TABLE IF NOT EXISTS nodes (
    sid TEXT NOT NULL, level INTEGER NOT NULL, idx BIGINT NOT NULL, hash {blob} NOT NULL,
    PRIMARY KEY (sid, level, idx));
CREATE TABLE IF NOT EXISTS checkpoints (
    sid TEXT NOT NULL, size BIGINT NOT NULL, note TEXT NOT NULL, cosigned TEXT NOT NULL,
    hub_unix BIGINT NOT NULL, PRIMARY KEY (sid, size));
CREATE TABLE IF NOT EXISTS certs (key_id TEXT PRIMARY KEY, sid TEXT NOT NULL, cert TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forks (
    sid TEXT NOT NULL, n INTEGER NOT NULL, at_unix BIGINT NOT NULL, evidence TEXT NOT NULL,
    PRIMARY KEY (sid, n));
CREATE TABLE IF NOT EXISTS dossiers (
    code TEXT PRIMARY KEY, office TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
    state TEXT NOT NULL, participants TEXT NOT NULL, events INTEGER NOT NULL,
    conflicts INTEGER NOT NULL DEFAULT 0, updated_unix BIGINT NOT NULL, portal TEXT);
CREATE INDEX IF NOT EXISTS dossiers_office ON dossiers (office, status);
CREATE TABLE IF NOT EXISTS dossier_offices (
    office TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (office, code));
CREATE TABLE IF NOT EXISTS dossier_events (
    code TEXT NOT NULL, n INTEGER NOT NULL, sid TEXT NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (code, n));
CREATE TABLE IF NOT EXISTS feed_counters (office TEXT PRIMARY KEY, next BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS feed (
    office TEXT NOT NULL, cursor BIGINT NOT NULL, author TEXT, item TEXT NOT NULL,
    PRIMARY KEY (office, cursor));
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_unix BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_unix);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY, length BIGINT NOT NULL, received BIGINT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0, updated_unix BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    code TEXT NOT NULL, version INTEGER NOT NULL, enqueued_unix BIGINT NOT NULL,
    PRIMARY KEY (code, version));
CREATE TABLE IF NOT EXISTS portal_dossiers (
    code TEXT PRIMARY KEY, office TEXT NOT NULL, day TEXT NOT NULL, pstatus INTEGER NOT NULL,
    version INTEGER NOT NULL, pending INTEGER NOT NULL, next_unix BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, at_portal INTEGER NOT NULL DEFAULT 0,
    sent_version INTEGER NOT NULL DEFAULT 0, rows_sent INTEGER NOT NULL DEFAULT 0,
    uncertain INTEGER NOT NULL DEFAULT 0, refused INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    accepted_version INTEGER NOT NULL DEFAULT 0, accepted_unix BIGINT,
    updated_unix BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS portal_due ON portal_dossiers (pending, next_unix);
CREATE INDEX IF NOT EXISTS portal_office_day ON portal_dossiers (office, day);
CREATE INDEX IF NOT EXISTS portal_accepted ON portal_dossiers (office, accepted_unix);
CREATE TABLE IF NOT EXISTS portal_errors (
    at_unix BIGINT NOT NULL, service TEXT NOT NULL, kind TEXT NOT NULL, code TEXT,
    detail TEXT NOT NULL, dossiers TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS portal_errors_at ON portal_errors (at_unix);
CREATE TABLE IF NOT EXISTS portal_reports (
    at_unix BIGINT NOT NULL, kind TEXT NOT NULL, report TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dossier_facts (
    code TEXT PRIMARY KEY, office TEXT NOT NULL, field TEXT, procedure TEXT, channel TEXT NOT NULL,
    status TEXT NOT NULL, received_at TEXT, due_at TEXT, resolved_at TEXT, returned_at TEXT,
    refused_at TEXT, stopped_at TEXT, withdrawn_at TEXT, updated_at TEXT,
    supplement_rounds INTEGER NOT NULL, is_open INTEGER NOT NULL, due_unix BIGINT,
    received_day TEXT, closed_day TEXT);
CREATE INDEX IF NOT EXISTS facts_office_received ON dossier_facts (office, received_day);
CREATE INDEX IF NOT EXISTS facts_office_open ON dossier_facts (office, is_open, due_unix);
CREATE TABLE IF NOT EXISTS office_counts (
    office TEXT NOT NULL, key TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (office, key));
CREATE INDEX IF NOT EXISTS office_counts_key ON office_counts (key);
CREATE TABLE IF NOT EXISTS station_reports (
    sid TEXT PRIMARY KEY, local_size BIGINT NOT NULL, reported_unix BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS portal_pending_office ON portal_dossiers (office) WHERE pending = 1;
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL,
    created_unix BIGINT NOT NULL, expires_unix BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_unix);
CREATE TABLE IF NOT EXISTS blob_chunks (
    sha256 TEXT NOT NULL, start BIGINT NOT NULL, data {blob} NOT NULL,
    PRIMARY KEY (sha256, start));
CREATE TABLE IF NOT EXISTS auditor_tokens (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, expires_unix BIGINT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
"""


class Tx:
    """One transaction's operations. The same SQL for both backends (`?` placeholders)."""

    def __init__(self, storage: Storage, conn: Any) -> None:
        self.storage = storage
        self.conn = conn
        self._lock = storage.lock_clause

    def _q(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.storage.sql(sql), args)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cur = self.conn.cursor()
            cur.executemany(self.storage.sql(sql), rows)

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._q(sql, args).fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return list(self._q(sql, args).fetchall())

    # -- meta --
    def meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM hub_meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta_once(self, key: str, value: str) -> str:
        """Set `key` unless another process already did; returns the value that won."""
        self._q(
            "INSERT INTO hub_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, value),
        )
        return str(self.meta(key))

    # -- offices and tokens --
    def add_office(self, code: str, name: str, at: str) -> None:
        self._q(
            "INSERT INTO offices (code, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            (code, name, at),
        )

    def office(self, code: str) -> dict[str, Any] | None:
        row = self.one("SELECT code, name, created_at FROM offices WHERE code = ?", (code,))
        return {"code": row[0], "name": row[1], "created_at": row[2]} if row else None

    def offices(self) -> list[dict[str, Any]]:
        rows = self.all("SELECT code, name, created_at FROM offices ORDER BY code")
        return [{"code": r[0], "name": r[1], "created_at": r[2]} for r in rows]

    def add_token(self, token_hash: str, office: str, expires_unix: int, at: str) -> None:
        self._q(
            "INSERT INTO tokens (hash, office, expires_unix, created_at) VALUES (?, ?, ?, ?)",
            (token_hash, office, expires_unix, at),
        )

    def token(self, token_hash: str) -> tuple[str, int, str | None] | None:
        row = self.one(
            f"SELECT office, expires_unix, used_by FROM tokens WHERE hash = ?{self._lock}",
            (token_hash,),
        )
        return (row[0], int(row[1]), row[2]) if row else None

    def use_token(self, token_hash: str, key_id: str) -> None:
        self._q("UPDATE tokens SET used_by = ? WHERE hash = ?", (key_id, token_hash))

    # -- stations --
    def add_station(self, st: StationRow) -> None:
        self._q(
            f"INSERT INTO stations ({_STATION_COLS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                st.sid,
                st.ref,
                st.office,
                st.number,
                st.origin,
                st.key_id,
                st.public_key,
                _dumps(st.cert),
                st.size,
                st.root,
                _dumps(st.verify_state) if st.verify_state is not None else None,
                st.checkpoint,
                st.cosigned,
                int(st.forked),
                st.revoked_through,
                st.enrolled_at,
                st.last_push_unix,
                st.clock_offset,
                _dumps(st.enrol_answer) if st.enrol_answer is not None else None,
            ),
        )

    def station(self, sid: str, *, lock: bool = False) -> StationRow | None:
        row = self.one(
            f"SELECT {_STATION_COLS} FROM stations WHERE sid = ?" + (self._lock if lock else ""),
            (sid,),
        )
        return _station(row) if row else None

    def station_by_key(self, key_id: str) -> StationRow | None:
        row = self.one(f"SELECT {_STATION_COLS} FROM stations WHERE key_id = ?", (key_id,))
        return _station(row) if row else None

    def stations(self, office: str | None = None) -> list[StationRow]:
        if office is None:
            rows = self.all(f"SELECT {_STATION_COLS} FROM stations ORDER BY sid")
        else:
            rows = self.all(
                f"SELECT {_STATION_COLS} FROM stations WHERE office = ? ORDER BY sid", (office,)
            )
        return [_station(r) for r in rows]

    def office_station_count(self, office: str) -> int:
        return int(self.one("SELECT COUNT(*) FROM stations WHERE office = ?", (office,))[0])

    def update_station(self, sid: str, **fields: Any) -> None:
        sets, args = [], []
        for name, value in fields.items():
            if name in ("verify_state", "cert", "enrol_answer") and value is not None:
                value = _dumps(value)
            if name == "forked":
                value = int(value)
            sets.append(f"{name} = ?")
            args.append(value)
        self._q(f"UPDATE stations SET {', '.join(sets)} WHERE sid = ?", (*args, sid))

    # -- the stored logs --
    def append_entries(self, sid: str, rows: Sequence[EntryRow]) -> None:
        self._many(
            "INSERT INTO entries (sid, seq, leaf, dossier, action, officer, claimed_time, "
            "quarantine, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    sid,
                    r.seq,
                    r.leaf,
                    r.dossier,
                    r.action,
                    r.officer,
                    r.claimed_time,
                    r.quarantine,
                    r.detail,
                )
                for r in rows
            ],
        )

    def leaves(self, sid: str, start: int, stop: int) -> list[bytes]:
        rows = self.all(
            "SELECT leaf FROM entries WHERE sid = ? AND seq >= ? AND seq < ? ORDER BY seq",
            (sid, start, stop),
        )
        return [bytes(r[0]) for r in rows]

    def quarantined(self, sid: str, start: int, stop: int) -> list[dict[str, Any]]:
        rows = self.all(
            "SELECT seq, quarantine, detail FROM entries WHERE sid = ? AND seq >= ? AND seq < ? "
            "AND quarantine IS NOT NULL ORDER BY seq",
            (sid, start, stop),
        )
        return [{"seq": int(r[0]), "reason": r[1], "detail": r[2]} for r in rows]

    def entry_count(self) -> int:
        return int(self.one("SELECT COUNT(*) FROM entries")[0])

    def get_node(self, sid: str, level: int, index: int) -> bytes | None:
        row = self.one(
            "SELECT hash FROM nodes WHERE sid = ? AND level = ? AND idx = ?", (sid, level, index)
        )
        return bytes(row[0]) if row else None

    def put_nodes(self, sid: str, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self._many(
            "INSERT INTO nodes (sid, level, idx, hash) VALUES (?, ?, ?, ?)",
            [(sid, level, idx, h) for level, idx, h in nodes],
        )

    def add_checkpoint(self, sid: str, size: int, note: str, cosigned: str, hub_unix: int) -> None:
        self._q(
            "INSERT INTO checkpoints (sid, size, note, cosigned, hub_unix) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (sid, size) DO NOTHING",
            (sid, size, note, cosigned, hub_unix),
        )

    def checkpoint(self, sid: str, size: int) -> tuple[str, str, int] | None:
        row = self.one(
            "SELECT note, cosigned, hub_unix FROM checkpoints WHERE sid = ? AND size = ?",
            (sid, size),
        )
        return (row[0], row[1], int(row[2])) if row else None

    def checkpoints(self, sid: str) -> list[dict[str, Any]]:
        rows = self.all(
            "SELECT size, cosigned, hub_unix FROM checkpoints WHERE sid = ? ORDER BY size", (sid,)
        )
        return [{"size": int(r[0]), "checkpoint": r[1], "hub_unix": int(r[2])} for r in rows]

    def checkpoint_page(self, sid: str, after: int, limit: int) -> list[tuple[int, str, str, int]]:
        """(size, station-signed note, cosigned note, hub unix) of sizes > `after`, in order."""
        rows = self.all(
            "SELECT size, note, cosigned, hub_unix FROM checkpoints WHERE sid = ? AND size > ? "
            "ORDER BY size LIMIT ?",
            (sid, after, limit),
        )
        return [(int(r[0]), r[1], r[2], int(r[3])) for r in rows]

    def checkpoint_count(self, sid: str, through: int) -> int:
        row = self.one(
            "SELECT COUNT(*) FROM checkpoints WHERE sid = ? AND size <= ?", (sid, through)
        )
        return int(row[0])

    def station_certs(self, sid: str) -> list[dict[str, Any]]:
        """The officer certificates a station enrolled in its log, by key id."""
        rows = self.all("SELECT cert FROM certs WHERE sid = ? ORDER BY key_id", (sid,))
        return [orjson.loads(r[0]) for r in rows]

    def add_cert(self, key_id: str, sid: str, cert: dict[str, Any]) -> None:
        self._q(
            "INSERT INTO certs (key_id, sid, cert) VALUES (?, ?, ?) "
            "ON CONFLICT (key_id) DO NOTHING",
            (key_id, sid, _dumps(cert)),
        )

    def cert(self, key_id: str) -> dict[str, Any] | None:
        row = self.one("SELECT cert FROM certs WHERE key_id = ?", (key_id,))
        return orjson.loads(row[0]) if row else None

    def add_fork(self, sid: str, at_unix: int, evidence: dict[str, Any]) -> None:
        n = int(self.one("SELECT COUNT(*) FROM forks WHERE sid = ?", (sid,))[0]) + 1
        self._q(
            "INSERT INTO forks (sid, n, at_unix, evidence) VALUES (?, ?, ?, ?)",
            (sid, n, at_unix, _dumps(evidence)),
        )

    def forks(self, sid: str | None = None) -> list[dict[str, Any]]:
        if sid is None:
            rows = self.all("SELECT sid, n, at_unix, evidence FROM forks ORDER BY sid, n")
        else:
            rows = self.all(
                "SELECT sid, n, at_unix, evidence FROM forks WHERE sid = ? ORDER BY n", (sid,)
            )
        return [
            {"sid": r[0], "n": int(r[1]), "at_unix": int(r[2]), "evidence": orjson.loads(r[3])}
            for r in rows
        ]

    # -- dossiers --
    def dossiers(self, codes: Sequence[str], *, lock: bool = False) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        wanted = sorted(set(codes))
        rows = []
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            # ORDER BY under FOR UPDATE: PostgreSQL locks the rows in code order (the lock
            # order of the module docstring), in one statement per 500 codes.
            rows += self.all(
                "SELECT code, office, status, version, state, participants, events, conflicts, "
                f"portal FROM dossiers WHERE code IN ({', '.join('?' * len(part))}) "
                "ORDER BY code" + (self._lock if lock else ""),
                part,
            )
        for row in rows:
            if row:
                code = row[0]
                out[code] = {
                    "code": row[0],
                    "office": row[1],
                    "status": row[2],
                    "version": int(row[3]),
                    "state": orjson.loads(row[4]),
                    "participants": orjson.loads(row[5]),
                    "events": int(row[6]),
                    "conflicts": int(row[7]),
                    "portal": row[8],
                }
        return out

    def put_dossiers(self, ds: Sequence[dict[str, Any]], now: int) -> None:
        # the offices a dossier was transferred to (besides the one that received it): their
        # stations see its portal state too (`sync_server.portal.store.accepted_since`)
        self._many(
            "INSERT INTO dossier_offices (office, code) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(o, d["code"]) for d in ds for o in d["participants"] if o != d["office"]],
        )
        self._many(
            "INSERT INTO dossiers (code, office, status, version, state, participants, events, "
            "conflicts, updated_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (code) DO UPDATE SET status = excluded.status, "
            "version = excluded.version, state = excluded.state, "
            "participants = excluded.participants, events = excluded.events, "
            "conflicts = excluded.conflicts, updated_unix = excluded.updated_unix",
            [
                (
                    d["code"],
                    d["office"],
                    d["status"],
                    d["version"],
                    _dumps(d["state"]),
                    _dumps(d["participants"]),
                    d["events"],
                    d["conflicts"],
                    now,
                )
                for d in ds
            ],
        )

    # -- the dashboard's aggregates (sync_server.aggregates) --
    def put_facts(self, rows: Sequence[Sequence[Any]]) -> None:
        from sync_server.aggregates import FACT_COLUMNS

        cols = ", ".join(FACT_COLUMNS)
        marks = ", ".join("?" * len(FACT_COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in FACT_COLUMNS[1:])
        self._many(
            f"INSERT INTO dossier_facts ({cols}) VALUES ({marks}) "
            f"ON CONFLICT (code) DO UPDATE SET {updates}",
            rows,
        )

    def add_counts(self, rows: Sequence[tuple[str, str, int]]) -> None:
        self._many(
            "INSERT INTO office_counts (office, key, n) VALUES (?, ?, ?) "
            "ON CONFLICT (office, key) DO UPDATE SET n = office_counts.n + excluded.n",
            rows,
        )
        # A counter back at zero (a due date with no open dossier left) is deleted, so the
        # table holds what is live, not every day a dossier was ever due.
        self._many(
            "DELETE FROM office_counts WHERE office = ? AND key = ? AND n = 0",
            [(office, key) for office, key, n in rows if n < 0],
        )

    def report_station_size(self, sid: str, local_size: int, now: int) -> None:
        self._q(
            "INSERT INTO station_reports (sid, local_size, reported_unix) VALUES (?, ?, ?) "
            "ON CONFLICT (sid) DO UPDATE SET local_size = excluded.local_size, "
            "reported_unix = excluded.reported_unix",
            (sid, local_size, now),
        )

    def outbox_enqueue(self, changed: Sequence[tuple[str, str, int, str, str]], now: int) -> None:
        """One outbox row per (dossier, version) that changed, and the dossier's portal-facing
        summary (office, day of receipt, portal status, version) kept for reconciliation. The
        dossier becomes due at once unless it is already backing off."""
        if not changed:
            return
        from sync_server.portal.mapping import portal_day, portal_status

        self._many(
            "INSERT INTO outbox (code, version, enqueued_unix) VALUES (?, ?, ?) "
            "ON CONFLICT (code, version) DO NOTHING",
            [(code, version, now) for code, _, version, _, _ in changed],
        )
        self._many(
            "INSERT INTO portal_dossiers (code, office, day, pstatus, version, pending, "
            "next_unix, updated_unix) VALUES (?, ?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT (code) DO UPDATE SET pstatus = excluded.pstatus, "
            "version = excluded.version, pending = 1, updated_unix = excluded.updated_unix",
            [
                (code, office, portal_day(received), portal_status(status), version, now, now)
                for code, office, version, status, received in changed
            ],
        )

    def add_dossier_events(self, rows: Sequence[tuple[str, int, str, int]]) -> None:
        self._many("INSERT INTO dossier_events (code, n, sid, seq) VALUES (?, ?, ?, ?)", rows)

    def dossier_events(self, code: str) -> list[tuple[str, int]]:
        rows = self.all("SELECT sid, seq FROM dossier_events WHERE code = ? ORDER BY n", (code,))
        return [(r[0], int(r[1])) for r in rows]

    # -- feeds --
    def feed_append(self, items: Sequence[tuple[str, str | None, dict[str, Any]]]) -> None:
        """Append (office, author sid, item) rows; cursors are per office, taken under the
        office's counter row lock, in office order (see the module docstring)."""
        by_office: dict[str, list[tuple[str | None, dict[str, Any]]]] = {}
        for office, author, item in items:
            by_office.setdefault(office, []).append((author, item))
        rows = []
        for office in sorted(by_office):
            batch = by_office[office]
            row = self.one(
                "INSERT INTO feed_counters (office, next) VALUES (?, ?) ON CONFLICT (office) "
                "DO UPDATE SET next = feed_counters.next + ? RETURNING next",
                (office, len(batch), len(batch)),
            )
            last = int(row[0])
            first = last - len(batch) + 1
            for i, (author, item) in enumerate(batch):
                cursor = first + i
                rows.append((office, cursor, author, _dumps({**item, "cursor": cursor})))
        self._many("INSERT INTO feed (office, cursor, author, item) VALUES (?, ?, ?, ?)", rows)

    def feed(self, office: str, after: int, limit: int, reader: str) -> list[tuple[int, bytes]]:
        rows = self.all(
            "SELECT cursor, item FROM feed WHERE office = ? AND cursor > ? "
            "AND (author IS NULL OR author <> ?) ORDER BY cursor LIMIT ?",
            (office, after, reader, limit),
        )
        return [(int(r[0]), r[1].encode() if isinstance(r[1], str) else bytes(r[1])) for r in rows]

    def feed_end(self, office: str) -> int:
        row = self.one("SELECT next FROM feed_counters WHERE office = ?", (office,))
        return int(row[0]) if row else 0

    # -- auditors' read-only tokens (only their SHA-256 is kept) --
    def put_auditor_token(self, name: str, token_hash: str, expires_unix: int, at: str) -> None:
        """Issue (or re-issue: the old token stops working) the token of auditor `name`."""
        self._q(
            "INSERT INTO auditor_tokens (name, token_hash, expires_unix, revoked, created_at) "
            "VALUES (?, ?, ?, 0, ?) ON CONFLICT (name) DO UPDATE SET "
            "token_hash = excluded.token_hash, expires_unix = excluded.expires_unix, "
            "revoked = 0, created_at = excluded.created_at",
            (name, token_hash, expires_unix, at),
        )

    def auditor_token(self, token_hash: str) -> tuple[str, int, bool] | None:
        """(name, expiry, revoked) of a token by its hash."""
        row = self.one(
            "SELECT name, expires_unix, revoked FROM auditor_tokens WHERE token_hash = ?",
            (token_hash,),
        )
        return (row[0], int(row[1]), bool(row[2])) if row else None

    def revoke_auditor_token(self, name: str) -> bool:
        cur = self._q("UPDATE auditor_tokens SET revoked = 1 WHERE name = ?", (name,))
        return bool(cur.rowcount == 1)

    def auditor_tokens(self) -> list[dict[str, Any]]:
        rows = self.all(
            "SELECT name, expires_unix, revoked, created_at FROM auditor_tokens ORDER BY name"
        )
        return [
            {"name": r[0], "expires_unix": int(r[1]), "revoked": bool(r[2]), "created_at": r[3]}
            for r in rows
        ]

    # -- nonces --
    def remember_nonce(self, nonce: str, expires_unix: int) -> bool:
        """False when the nonce was already used (a replay)."""
        cur = self._q(
            "INSERT INTO nonces (nonce, expires_unix) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING",
            (nonce, expires_unix),
        )
        return bool(cur.rowcount == 1)

    def purge_nonces(self, now: int) -> None:
        self._q("DELETE FROM nonces WHERE expires_unix < ?", (now,))

    # -- blobs --
    def blob(self, sha: str, *, lock: bool = False) -> tuple[int, int, bool] | None:
        row = self.one(
            "SELECT length, received, complete FROM blobs WHERE sha256 = ?"
            + (self._lock if lock else ""),
            (sha,),
        )
        return (int(row[0]), int(row[1]), bool(row[2])) if row else None

    def start_blob(self, sha: str, length: int, now: int) -> None:
        self._q(
            "INSERT INTO blobs (sha256, length, received, complete, updated_unix) "
            "VALUES (?, ?, 0, 0, ?) ON CONFLICT (sha256) DO NOTHING",
            (sha, length, now),
        )

    def add_blob_chunk(self, sha: str, start: int, data: bytes, now: int) -> None:
        self._q(
            "INSERT INTO blob_chunks (sha256, start, data) VALUES (?, ?, ?)", (sha, start, data)
        )
        self._q(
            "UPDATE blobs SET received = ?, updated_unix = ? WHERE sha256 = ?",
            (start + len(data), now, sha),
        )

    def blob_data(self, sha: str) -> bytes:
        rows = self.all("SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY start", (sha,))
        return b"".join(bytes(r[0]) for r in rows)

    def finish_blob(self, sha: str, ok: bool) -> None:
        if ok:
            self._q("UPDATE blobs SET complete = 1 WHERE sha256 = ?", (sha,))
        else:
            self._q("DELETE FROM blob_chunks WHERE sha256 = ?", (sha,))
            self._q("UPDATE blobs SET received = 0 WHERE sha256 = ?", (sha,))


class Storage(ABC):
    """Common behaviour; subclasses supply connections and the dialect."""

    url: str
    lock_clause = ""
    blob_type = "BLOB"

    def sql(self, text: str) -> str:
        return text

    @abstractmethod
    def connect(self) -> Any:
        """A new connection to this backend's database."""

    @abstractmethod
    def _begin(self, conn: Any) -> None:
        """Start a write transaction on `conn`."""

    def _retryable(self, exc: BaseException) -> bool:
        return False

    @abstractmethod
    def _setup_lock(self, tx: Tx) -> None:
        """Serialise table creation between processes."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Any] = []
        self._guard = threading.Lock()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect()
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn

    def setup(self) -> None:
        """Create the tables (idempotent; several processes may race here)."""
        with self.transaction() as tx:
            self._setup_lock(tx)
            for statement in SCHEMA.format(blob=self.blob_type).split(";"):
                if statement.strip():
                    tx.conn.execute(statement)
            self._migrate(tx)
            _backfill_dossier_offices(tx)

    @abstractmethod
    def _migrate(self, tx: Tx) -> None:
        """Bring a database made by an earlier version up to SCHEMA (idempotent)."""

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self._conn()
        self._begin(conn)
        try:
            yield Tx(self, conn)
        except BaseException:
            conn.rollback()  # both drivers end the open transaction (sqlite3 too, after BEGIN)
            raise
        conn.commit()

    def run(self, fn: Callable[[Tx], T], *, attempts: int = 8) -> T:
        """Run `fn` in a transaction, again from the start after a retryable conflict."""
        for attempt in range(attempts):
            try:
                with self.transaction() as tx:
                    return fn(tx)
            except Exception as exc:
                if not self._retryable(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.005 * (2**attempt))
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        try:
            with self.transaction() as tx:
                tx.one("SELECT 1")
        except Exception:
            return False
        return True

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:  # closing a broken connection: nothing left to do
                    continue
            self._all.clear()
        self._local = threading.local()


class SqliteStorage(Storage):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.url = f"sqlite:///{path}"
        path.parent.mkdir(parents=True, exist_ok=True)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=60.0, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # an accepted push survives power loss
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def _begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _setup_lock(self, tx: Tx) -> None:
        return  # BEGIN IMMEDIATE already holds the database's only write lock

    def _migrate(self, tx: Tx) -> None:
        # Before station epochs, `ref` (office/number) was UNIQUE; a replacement PC's log has
        # the same ref. SQLite cannot drop a column constraint: the table is copied.
        (ddl,) = tx.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'stations'"
        ).fetchone()
        if "ref TEXT NOT NULL UNIQUE" not in ddl:
            return
        tx.conn.execute("ALTER TABLE stations RENAME TO stations_before_epochs")
        tx.conn.execute(ddl.replace("ref TEXT NOT NULL UNIQUE", "ref TEXT NOT NULL"))
        tx.conn.execute("INSERT INTO stations SELECT * FROM stations_before_epochs")
        tx.conn.execute("DROP TABLE stations_before_epochs")
        tx.conn.execute("CREATE INDEX IF NOT EXISTS stations_office ON stations (office)")
        tx.conn.execute("CREATE INDEX IF NOT EXISTS stations_ref ON stations (ref)")


class PostgresStorage(Storage):
    lock_clause = " FOR UPDATE"
    blob_type = "BYTEA"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=False, connect_timeout=10)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc

    def _begin(self, conn: Any) -> None:
        # psycopg opens the transaction at the first statement; a broken connection from an
        # earlier failure is replaced so one bad moment does not poison a worker thread.
        if conn.closed or conn.broken:
            raise StorageError("PostgreSQL connection lost")

    def _retryable(self, exc: BaseException) -> bool:
        import psycopg.errors

        return isinstance(
            exc,
            psycopg.errors.DeadlockDetected
            | psycopg.errors.SerializationFailure
            | psycopg.errors.UniqueViolation,
        )

    def _setup_lock(self, tx: Tx) -> None:
        tx.conn.execute("SELECT pg_advisory_xact_lock(7215061)")

    def _migrate(self, tx: Tx) -> None:
        # see SqliteStorage._migrate: `ref` is no longer unique (station epochs)
        tx.conn.execute("ALTER TABLE stations DROP CONSTRAINT IF EXISTS stations_ref_key")

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and (conn.closed or conn.broken):
            self._local.conn = None
        return super()._conn()


def _backfill_dossier_offices(tx: Tx) -> None:
    """Fill `dossier_offices` once in a database made before it existed (idempotent)."""
    if tx.meta("dossier_offices") is not None:
        return
    rows = tx.all(
        "SELECT code, office, participants FROM dossiers WHERE participants LIKE ?", ("%,%",)
    )
    tx._many(
        "INSERT INTO dossier_offices (office, code) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(o, code) for code, office, parts in rows for o in orjson.loads(parts) if o != office],
    )
    tx.set_meta_once("dossier_offices", "1")


def open_storage(url: str | None, *, default_dir: Path | None = None) -> Storage:
    """`sqlite:///path`, `postgresql://...`, or None for the embedded default."""
    if url is None:
        base = default_dir or Path.cwd()
        storage: Storage = SqliteStorage(base / "hub.db")
    elif url.startswith("sqlite:///"):
        storage = SqliteStorage(Path(unquote(urlparse(url).path)))
    elif url.startswith(("postgresql://", "postgres://")):
        storage = PostgresStorage(url)
    else:
        raise StorageError(f"unsupported database URL {url!r} (sqlite:///… or postgresql://…)")
    try:
        storage.setup()
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot open the hub database {url or storage.url}: {exc}") from exc
    return storage
