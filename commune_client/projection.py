"""Projections: the `dossiers` table and its search index, derived from the ledger only.

`project` writes one dossier's state (inside the caller's transaction); `rebuild` recomputes
every projection from the entries, so `commune rebuild` gives identical state (DESIGN 4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from commune_client.store import Store
from commune_client.textfold import fold
from schemas.lifecycle import apply_event

__all__ = ["dossier_state", "project", "rebuild", "search_text"]


def search_text(state: dict[str, Any]) -> str:
    a = state["applicant"]
    parts = [
        state["code"],
        a["name"],
        a["id_number"],
        a.get("phone") or "",
        state["procedure"]["name"],
        (state.get("representative") or {}).get("name", ""),
    ]
    return fold(" ".join(parts))


def project(conn: sqlite3.Connection, state: dict[str, Any]) -> None:
    a = state["applicant"]
    conn.execute(
        "INSERT INTO dossiers (code, status, field, procedure_code, channel, applicant_name, "
        "applicant_id, phone, received_at, due_at, updated_at, version, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET "
        "status = excluded.status, due_at = excluded.due_at, updated_at = excluded.updated_at, "
        "version = excluded.version, state = excluded.state",
        (
            state["code"],
            state["status"],
            state["procedure"]["field"],
            state["procedure"]["code"],
            state["channel"],
            a["name"],
            a["id_number"],
            a.get("phone"),
            state["received_at"],
            state.get("due_at"),
            state["updated_at"],
            state["version"],
            orjson.dumps(state, option=orjson.OPT_SORT_KEYS).decode(),
        ),
    )
    if state["version"] == 1:
        conn.execute(
            "INSERT INTO dossier_search (rowid, text) "
            "VALUES ((SELECT rowid FROM dossiers WHERE code = ?), ?)",
            (state["code"], search_text(state)),
        )


def dossier_state(conn: sqlite3.Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT state FROM dossiers WHERE code = ?", (code,)).fetchone()
    return orjson.loads(row[0]) if row else None


def rebuild(store: Store) -> int:
    """Recompute all projections from the ledger in one transaction; returns dossiers built."""
    states: dict[str, dict[str, Any]] = {}
    for event in _dossier_events(store.leaves()):
        code = event["dossier"]
        states[code] = apply_event(states.get(code), event)
    with store.write() as conn:
        conn.execute("DELETE FROM dossiers")
        conn.execute("DELETE FROM dossier_search")
        for state in states.values():
            first = {**state, "version": 1}
            project(conn, first)  # inserts the search row once
            if state["version"] != 1:
                project(conn, state)
    return len(states)


def _dossier_events(leaves: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    for leaf in leaves:
        event = orjson.loads(leaf)
        if event.get("dossier"):
            yield event
