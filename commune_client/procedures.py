"""The station's procedure catalogue (thủ tục hành chính): stored rows, looked up at intake.

The catalogue is configuration, not ledger: each `receive` event carries a snapshot of its
procedure (`ProcedureRef`), so changing the catalogue never changes a signed record.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from commune_client.errors import NotFound
from commune_client.store import Store
from commune_client.textfold import fold
from schemas.catalog import Procedure

__all__ = ["get_procedure", "list_procedures", "save_catalog"]


def save_catalog(store: Store, procedures: Iterable[Procedure]) -> int:
    """Insert or replace procedures by code, all in one transaction."""
    rows = [(p.code, p.model_dump_json(exclude_none=True), int(p.demo)) for p in procedures]
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO catalog (code, data, demo) VALUES (?, ?, ?) ON CONFLICT (code) "
            "DO UPDATE SET data = excluded.data, demo = excluded.demo",
            rows,
        )
    return len(rows)


def get_procedure(store: Store, code: str) -> Procedure:
    row = store.conn.execute("SELECT data FROM catalog WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise NotFound(
            f"Không có thủ tục mã {code!r} trong danh mục. Nhập danh mục bằng "
            "`commune catalog import FILE` hoặc `commune catalog demo`."
        )
    return Procedure.model_validate(orjson.loads(row[0]))


def list_procedures(store: Store, search: str | None = None) -> list[Procedure]:
    rows = store.conn.execute("SELECT data FROM catalog ORDER BY code").fetchall()
    procs = [Procedure.model_validate(orjson.loads(r[0])) for r in rows]
    if search:
        needle = fold(search)
        procs = [p for p in procs if needle in fold(f"{p.code} {p.name} {p.field}")]
    return procs
