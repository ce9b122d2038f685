"""The station's SQLite file: the append-only ledger and the projections rebuilt from it.

One file per station (`<data dir>/station.db`), WAL mode with `synchronous=FULL`, so a commit the
officer was told about survives `kill -9` and power loss. Several processes (two TUIs and a CLI)
may share it: every write is one `BEGIN IMMEDIATE` transaction, which serialises writers, and
each writer re-reads the log size inside it.

Ledger tables (`entries`, `tree_nodes`, `checkpoints`, and the sync agent's `cosigned` and
`foreign_entries`) refuse UPDATE and DELETE by trigger. Projections (`dossiers`,
`dossier_search`) are derived: `rebuild` recomputes them from the ledger.
The schema evolves through sqlite-utils migrations (`_sqlite_migrations`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson
import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["DB_NAME", "SqliteNodeStore", "Store", "open_store"]

DB_NAME = "station.db"
migrations = Migrations("commune-station")


def _run(db: sqlite_utils.Database, statements: Sequence[str]) -> None:
    # Statement by statement: executescript() would COMMIT the migration's transaction midway.
    for statement in statements:
        db.execute(statement)


@migrations()
def m001_ledger(db: sqlite_utils.Database) -> None:
    _run(
        db,
        [
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE officers (
            key_id TEXT PRIMARY KEY, name TEXT NOT NULL, title TEXT, cert TEXT NOT NULL,
            key_file BLOB NOT NULL, station_secret BLOB NOT NULL,
            enrolled_seq INTEGER NOT NULL, retired_seq INTEGER)""",
            """CREATE TABLE station_key (
            id INTEGER PRIMARY KEY CHECK (id = 1), key_file BLOB NOT NULL)""",
            """CREATE TABLE entries (
            seq INTEGER PRIMARY KEY, leaf BLOB NOT NULL, action TEXT NOT NULL, dossier TEXT,
            officer TEXT NOT NULL, claimed_time TEXT NOT NULL)""",
            "CREATE INDEX entries_dossier ON entries (dossier, seq)",
            """CREATE TABLE tree_nodes (
            level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
            PRIMARY KEY (level, idx)) WITHOUT ROWID""",
            "CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL)",
            "CREATE TABLE counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL)",
            """CREATE TABLE catalog (
            code TEXT PRIMARY KEY, data TEXT NOT NULL, demo INTEGER NOT NULL)""",
        ],
    )
    for table in ("entries", "tree_nodes", "checkpoints"):
        for verb in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"
            )


@migrations()
def m002_projections(db: sqlite_utils.Database) -> None:
    _run(
        db,
        [
            """CREATE TABLE dossiers (
            code TEXT PRIMARY KEY, status TEXT NOT NULL, field TEXT NOT NULL,
            procedure_code TEXT NOT NULL, channel TEXT NOT NULL, applicant_name TEXT NOT NULL,
            applicant_id TEXT NOT NULL, phone TEXT, received_at TEXT NOT NULL, due_at TEXT,
            updated_at TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL)""",
            "CREATE INDEX dossiers_status ON dossiers (status, due_at)",
            "CREATE INDEX dossiers_received ON dossiers (received_at)",
            "CREATE INDEX dossiers_due ON dossiers (due_at)",
            """CREATE VIRTUAL TABLE dossier_search USING fts5 (
            code UNINDEXED, text, tokenize = 'unicode61 remove_diacritics 0')""",
        ],
    )


@migrations()
def m003_search_by_rowid(db: sqlite_utils.Database) -> None:
    # The search row shares the dossier's rowid (insertion order = receipt order), so FTS5 can
    # walk matches newest first and stop after one page instead of sorting every match.
    _run(
        db,
        [
            "DROP TABLE dossier_search",
            """CREATE VIRTUAL TABLE dossier_search USING fts5 (
            text, tokenize = 'unicode61 remove_diacritics 0')""",
        ],
    )
    from commune_client.projection import search_text

    rows = db.execute("SELECT rowid, state FROM dossiers").fetchall()
    for rowid, state in rows:
        db.execute(
            "INSERT INTO dossier_search (rowid, text) VALUES (?, ?)",
            (rowid, search_text(orjson.loads(state))),
        )


@migrations()
def m004_search_prefix_index(db: sqlite_utils.Database) -> None:
    # Search-as-you-type sends 1-3 character prefixes; "0*" alone expands to every ID number and
    # phone (~100,000 terms at a busy ward: 117 ms). FTS5 prefix indexes make them ~1 ms.
    _run(
        db,
        [
            "CREATE TABLE _search_copy AS SELECT rowid AS id, text FROM dossier_search",
            "DROP TABLE dossier_search",
            """CREATE VIRTUAL TABLE dossier_search USING fts5 (
            text, tokenize = 'unicode61 remove_diacritics 0', prefix = '1 2 3')""",
            "INSERT INTO dossier_search (rowid, text) SELECT id, text FROM _search_copy",
            "DROP TABLE _search_copy",
        ],
    )


@migrations()
def m005_entries_by_action(db: sqlite_utils.Database) -> None:
    # Every receipt looks up the newest calendar-update entry; without this index that is a
    # scan of the whole log (438,000 entries at a busy ward).
    db.execute("CREATE INDEX entries_action ON entries (action, seq)")


@migrations()
def m006_sync(db: sqlite_utils.Database) -> None:
    # The sync agent (commune_client/sync.py, docs/sync.md "Station side"):
    # - `cosigned`: the station's own checkpoints as the hub cosigned them (append-only);
    # - `foreign_entries`: verified events of other stations from the office feed, in the order
    #   they were applied (`local_size` = own log size at import; `commune rebuild` merges them
    #   with the own entries in that order; append-only);
    # - `quarantine`: what the hub refused to act on, and feed items this station refused;
    # - `blobs` (scans, content-addressed) and `blobs_at_hub` (uploads the hub confirmed).
    _run(
        db,
        [
            """CREATE TABLE cosigned (
            size INTEGER PRIMARY KEY, note TEXT NOT NULL, hub_unix INTEGER NOT NULL)""",
            """CREATE TABLE foreign_entries (
            id INTEGER PRIMARY KEY, local_size INTEGER NOT NULL, cursor INTEGER NOT NULL,
            origin TEXT NOT NULL, station TEXT NOT NULL, seq INTEGER NOT NULL,
            leaf BLOB NOT NULL, dossier TEXT, action TEXT NOT NULL, claimed_time TEXT NOT NULL,
            proof TEXT NOT NULL, officer_cert TEXT NOT NULL, station_cert TEXT NOT NULL,
            UNIQUE (origin, seq))""",
            "CREATE INDEX foreign_entries_dossier ON foreign_entries (dossier, id)",
            "CREATE INDEX foreign_entries_order ON foreign_entries (local_size, id)",
            """CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, station TEXT NOT NULL,
            seq INTEGER NOT NULL, cursor INTEGER NOT NULL, reason TEXT NOT NULL,
            detail TEXT NOT NULL, dossier TEXT, at TEXT NOT NULL,
            UNIQUE (source, station, seq, cursor, reason))""",
            """CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY, data BLOB NOT NULL, size INTEGER NOT NULL)""",
            "CREATE TABLE blobs_at_hub (sha256 TEXT PRIMARY KEY, at TEXT NOT NULL)",
        ],
    )
    for table in ("cosigned", "foreign_entries"):
        for verb in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"
            )


class Store:
    """A station database. Plain methods over one connection; callers own transactions."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock at once, so the log size
        read inside cannot change under us (other processes wait, up to the busy timeout)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- ledger -------------------------------------------------------------------------------
    def size(self) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM entries").fetchone()
        return int(row[0])

    def leaves(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        sql = "SELECT leaf FROM entries WHERE seq >= ?" + (
            " AND seq < ?" if stop is not None else ""
        )
        args: tuple[int, ...] = (start, stop) if stop is not None else (start,)
        for (leaf,) in self.conn.execute(sql + " ORDER BY seq", args):
            yield bytes(leaf)

    def leaf(self, seq: int) -> bytes | None:
        row = self.conn.execute("SELECT leaf FROM entries WHERE seq = ?", (seq,)).fetchone()
        return bytes(row[0]) if row else None

    def dossier_leaves(self, code: str) -> list[bytes]:
        rows = self.conn.execute("SELECT leaf FROM entries WHERE dossier = ? ORDER BY seq", (code,))
        return [bytes(r[0]) for r in rows]

    def add_entry(
        self,
        seq: int,
        leaf: bytes,
        action: str,
        dossier: str | None,
        officer: str,
        claimed_time: str,
    ) -> None:
        self.conn.execute(
            "INSERT INTO entries (seq, leaf, action, dossier, officer, claimed_time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (seq, leaf, action, dossier, officer, claimed_time),
        )

    def latest_checkpoint(self) -> tuple[int, str] | None:
        row = self.conn.execute(
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def checkpoint_at_least(self, size: int) -> tuple[int, str] | None:
        row = self.conn.execute(
            "SELECT size, note FROM checkpoints WHERE size >= ? ORDER BY size LIMIT 1", (size,)
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def checkpoint_at(self, size: int) -> str | None:
        row = self.conn.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
        return str(row[0]) if row else None

    def add_checkpoint(self, size: int, note: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO checkpoints (size, note) VALUES (?, ?)", (size, note)
        )

    # -- counters (dossier codes, book rows) ------------------------------------------------------
    def take(self, name: str, first: int) -> int:
        """Next value of a counter, starting at `first`; inside the caller's write transaction,
        so a value is used at most once and survives only if the transaction commits."""
        row = self.conn.execute(
            "INSERT INTO counters (name, next) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET next = next + 1 RETURNING next",
            (name, first),
        ).fetchone()
        return int(row[0])


class SqliteNodeStore:
    """`ledger.merkle.NodeStore` over the `tree_nodes` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, level: int, index: int) -> bytes:
        row = self.conn.execute(
            "SELECT hash FROM tree_nodes WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        if row is None:
            raise KeyError((level, index))
        return bytes(row[0])

    def put(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self.conn.executemany("INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")  # the ledger: durable at COMMIT, even on power loss
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def open_store(data_dir: Path, *, create: bool = False) -> Store:
    """Open (or with `create`, create) the station database and apply pending migrations."""
    path = data_dir / DB_NAME
    if not create and not path.exists():
        raise FileNotFoundError(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    store = Store(path, conn)
    if migrations.pending(store.db):
        # Under the write lock: one process migrates; the others wait, then find nothing to do.
        # Each migration nests as a savepoint, so all of them land or none does.
        with store.write():
            migrations.apply(store.db)
    return store
