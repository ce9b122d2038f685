"""The simulator's SQLite file: dossiers, progress rows, and the resent-row counter.

One connection behind one lock: the simulator is a test and demo stand-in, and serialising
every access keeps each call all-or-nothing without reasoning about SQLite's locking.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from sync_server.portal._sim_validate import PortalError, agency_of, is_reception

SCHEMA = """
CREATE TABLE IF NOT EXISTS dossier (
    mahoso  TEXT PRIMARY KEY,
    madonvi TEXT NOT NULL,
    day     TEXT NOT NULL,              -- yyyyMMdd of NgayTiepNhan: the reconciliation period
    status  INTEGER NOT NULL,
    nrows   INTEGER NOT NULL DEFAULT 0, -- PhienBan, kept here so summaries never count rows
    record  BLOB NOT NULL               -- the record as received (JSON)
);
-- Covers DoiSoatHoSo: (madonvi, day range) -> code, status, version without the table.
CREATE INDEX IF NOT EXISTS dossier_by_day ON dossier (madonvi, day, mahoso, status, nrows);
CREATE TABLE IF NOT EXISTS progress (
    id       INTEGER PRIMARY KEY,       -- arrival order; a replaced row keeps its id
    mahoso   TEXT NOT NULL,
    thoidiem TEXT NOT NULL,
    trangthai INTEGER NOT NULL,
    noidung  TEXT NOT NULL,
    row      BLOB NOT NULL,
    UNIQUE (mahoso, thoidiem, trangthai, noidung)
);
CREATE INDEX IF NOT EXISTS progress_by_dossier ON progress (mahoso, id);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def digest(lines: Iterable[tuple[str, int, int]]) -> str:
    """First 16 hex of SHA-256 over `MaHoSo\\tTrangThaiHoSo\\tPhienBan\\n`, sorted by code."""
    h = hashlib.sha256()
    for code, status, version in sorted(lines):
        h.update(f"{code}\t{status}\t{version}\n".encode())
    return h.hexdigest()[:16]


def not_found(code: str) -> PortalError:
    return PortalError(6, f"Không tìm thấy hồ sơ {code}")


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process, enough here
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # -- protocol --------------------------------------------------------------------------

    def save_dossiers(self, madonvi: str, records: list[dict[str, Any]], *, updating: bool) -> None:
        with self.write() as db:
            for record in records:
                code = record["MaHoSo"]
                row = (
                    madonvi,
                    record["NgayTiepNhan"][:8],
                    record["TrangThaiHoSo"],
                    orjson.dumps(record),
                    code,
                )
                if updating:
                    cur = db.execute(
                        "UPDATE dossier SET madonvi=?, day=?, status=?, record=? WHERE mahoso=?"
                        " AND madonvi=?",
                        (*row, madonvi),
                    )
                    if cur.rowcount == 0:
                        raise not_found(code)
                else:
                    if db.execute("SELECT 1 FROM dossier WHERE mahoso=?", (code,)).fetchone():
                        raise PortalError(5, f"Hồ sơ {code} đã tồn tại")
                    db.execute(
                        "INSERT INTO dossier (madonvi, day, status, record, mahoso)"
                        " VALUES (?, ?, ?, ?, ?)",
                        row,
                    )

    def add_rows(self, madonvi: str, rows: list[dict[str, Any]], *, count_resent: bool) -> None:
        with self.write() as db:
            resent = 0
            for row in rows:
                code = row["MaHoSo"]
                found = db.execute(
                    "SELECT nrows FROM dossier WHERE mahoso=? AND madonvi=?", (code, madonvi)
                ).fetchone()
                if found is None:
                    raise not_found(code)
                if found[0] == 0 and not is_reception(row):
                    raise PortalError(
                        7,
                        "Giá trị không hợp lệ: NoiDungXuLy (dòng tiến độ đầu tiên của hồ sơ"
                        f' {code} phải là "Tiếp nhận hồ sơ" với TrangThai 2)',
                    )
                if self._put_row(db, row):
                    resent += 1
            if resent and count_resent:
                self._bump(db, "rows_resent", resent)

    @staticmethod
    def _put_row(db: sqlite3.Connection, row: Mapping[str, Any]) -> bool:
        """Insert a row or replace the identical one in place; True when it replaced."""
        key = (
            str(row.get("MaHoSo", "")),
            str(row.get("ThoiDiemXuLy", "")),
            row.get("TrangThai") if type(row.get("TrangThai")) is int else 0,
            str(row.get("NoiDungXuLy", "")),
        )
        blob = orjson.dumps(row)
        cur = db.execute(
            "UPDATE progress SET row=? WHERE mahoso=? AND thoidiem=? AND trangthai=? AND noidung=?",
            (blob, *key),
        )
        if cur.rowcount:
            return True
        db.execute(
            "INSERT INTO progress (mahoso, thoidiem, trangthai, noidung, row)"
            " VALUES (?, ?, ?, ?, ?)",
            (*key, blob),
        )
        db.execute("UPDATE dossier SET nrows = nrows + 1 WHERE mahoso=?", (key[0],))
        return False

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, by: int) -> None:
        db.execute(
            "INSERT INTO counter VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def lookup(self, madonvi: str | None, code: str) -> dict[str, Any]:
        with self.lock:
            if madonvi is None:
                found = self.db.execute(
                    "SELECT record FROM dossier WHERE mahoso=?", (code,)
                ).fetchone()
            else:
                found = self.db.execute(
                    "SELECT record FROM dossier WHERE mahoso=? AND madonvi=?", (code, madonvi)
                ).fetchone()
            if found is None:
                raise not_found(code)
            rows = self.db.execute(
                "SELECT row FROM progress WHERE mahoso=? ORDER BY id", (code,)
            ).fetchall()
        record: dict[str, Any] = orjson.loads(found[0])
        record["TienDoXuLy"] = [orjson.loads(r[0]) for r in rows]
        return record

    def summaries(self, madonvi: str, level: str, first: str, last: str) -> list[dict[str, Any]]:
        """DoiSoatHoSo: per month or day (count + digest), or per dossier."""
        with self.lock:
            found = self.db.execute(
                "SELECT mahoso, status, nrows, day FROM dossier"
                " WHERE madonvi=? AND day BETWEEN ? AND ?",
                (madonvi, first, last),
            ).fetchall()
        if level == "hoso":
            return [
                {"MaHoSo": code, "TrangThaiHoSo": status, "PhienBan": version}
                for code, status, version, _ in sorted(found)
            ]
        width = 6 if level == "thang" else 8
        periods: dict[str, list[tuple[str, int, int]]] = {}
        for code, status, version, day in found:
            periods.setdefault(day[:width], []).append((code, status, version))
        return [
            {"ky": ky, "soluong": len(lines), "digest": digest(lines)}
            for ky, lines in sorted(periods.items())
        ]

    # -- control (/_sim/) ------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.lock:
            dossiers = self.db.execute("SELECT count(*) FROM dossier").fetchone()[0]
            rows = self.db.execute("SELECT count(*) FROM progress").fetchone()[0]
            resent = self.db.execute(
                "SELECT value FROM counter WHERE name='rows_resent'"
            ).fetchone()
        return {"rows_resent": resent[0] if resent else 0, "dossiers": dossiers, "rows": rows}

    def dump(self, madonvi: str | None) -> list[dict[str, Any]]:
        """Every dossier (of `madonvi`) with its rows, sorted by code, in TraCuuHoSo's shape."""
        with self.lock:
            if madonvi is None:
                dossiers = self.db.execute(
                    "SELECT mahoso, record FROM dossier ORDER BY mahoso"
                ).fetchall()
                rows = self.db.execute("SELECT mahoso, row FROM progress ORDER BY id").fetchall()
            else:
                dossiers = self.db.execute(
                    "SELECT mahoso, record FROM dossier WHERE madonvi=? ORDER BY mahoso",
                    (madonvi,),
                ).fetchall()
                rows = self.db.execute(
                    "SELECT p.mahoso, p.row FROM progress p JOIN dossier d USING (mahoso)"
                    " WHERE d.madonvi=? ORDER BY p.id",
                    (madonvi,),
                ).fetchall()
        by_code: dict[str, list[Any]] = {}
        for code, blob in rows:
            by_code.setdefault(code, []).append(orjson.loads(blob))
        out = []
        for code, blob in dossiers:
            record: dict[str, Any] = orjson.loads(blob)
            record["TienDoXuLy"] = by_code.get(code, [])
            out.append(record)
        return out

    def delete(self, code: str) -> None:
        with self.write() as db:
            if db.execute("DELETE FROM dossier WHERE mahoso=?", (code,)).rowcount == 0:
                raise not_found(code)
            db.execute("DELETE FROM progress WHERE mahoso=?", (code,))

    def set_status(self, code: str, status: int) -> None:
        with self.write() as db:
            found = db.execute("SELECT record FROM dossier WHERE mahoso=?", (code,)).fetchone()
            if found is None:
                raise not_found(code)
            record = orjson.loads(found[0])
            record["TrangThaiHoSo"] = status
            db.execute(
                "UPDATE dossier SET status=?, record=? WHERE mahoso=?",
                (status, orjson.dumps(record), code),
            )

    def drop_row(self, code: str, index: int) -> dict[str, Any]:
        with self.write() as db:
            if db.execute("SELECT 1 FROM dossier WHERE mahoso=?", (code,)).fetchone() is None:
                raise not_found(code)
            ids = db.execute(
                "SELECT id, row FROM progress WHERE mahoso=? ORDER BY id", (code,)
            ).fetchall()
            try:
                row_id, blob = ids[index]
            except IndexError:
                raise PortalError(6, f"Hồ sơ {code} không có dòng tiến độ {index}") from None
            db.execute("DELETE FROM progress WHERE id=?", (row_id,))
            db.execute("UPDATE dossier SET nrows = nrows - 1 WHERE mahoso=?", (code,))
        dropped: dict[str, Any] = orjson.loads(blob)
        return dropped

    def add_raw(
        self, record: dict[str, Any], rows: list[dict[str, Any]], madonvi: str | None
    ) -> None:
        """Plant a dossier without validation (replacing one with the same code)."""
        code = str(record["MaHoSo"])
        status = record.get("TrangThaiHoSo")
        received = record.get("NgayTiepNhan")
        with self.write() as db:
            db.execute("DELETE FROM dossier WHERE mahoso=?", (code,))
            db.execute("DELETE FROM progress WHERE mahoso=?", (code,))
            db.execute(
                "INSERT INTO dossier (mahoso, madonvi, day, status, record) VALUES (?,?,?,?,?)",
                (
                    code,
                    madonvi or agency_of(code) or "",
                    received[:8] if isinstance(received, str) else "",
                    status if type(status) is int else 0,
                    orjson.dumps(record),
                ),
            )
            for row in rows:
                self._put_row(db, {**row, "MaHoSo": code})
