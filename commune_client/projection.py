"""Projections: the `dossiers` table and its search index, derived from the ledger only.

`project` writes one dossier's state (inside the caller's transaction); `rebuild` recomputes
every projection from the entries, so `commune rebuild` gives identical state (DESIGN 4).

Two sources feed the dossiers: the station's own log (`entries`) and the events of other
stations that the sync agent verified and imported from the office feed (`foreign_entries`,
e.g. a dossier transferred here, or the receiving office's answer to a transfer). Each foreign
entry records `local_size`, the own log's size when it was imported, so the order in which
events were applied is known exactly: a foreign entry imported when the own log had n entries
comes after own entry n-1 and before own entry n (ties by import id). `rebuild` replays that
order. Foreign events are facts: one that is impossible in the state it lands on does not
change the state but is counted in `conflicts` (the `schemas.lifecycle.fold` rule).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from commune_client.store import Store
from commune_client.textfold import fold
from schemas.lifecycle import TransitionError, apply_event

__all__ = [
    "apply_foreign",
    "dossier_state",
    "fold_step",
    "merged_leaves",
    "project",
    "rebuild",
    "search_text",
]


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


def fold_step(state: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """One step of `schemas.lifecycle.fold`: the state after `event`, or, when the event is
    impossible in `state`, the same state with one more conflict (None stays None)."""
    try:
        return apply_event(state, event)
    except TransitionError:
        if state is None:
            return None
        return {**state, "conflicts": state.get("conflicts", 0) + 1}


def apply_foreign(conn: sqlite3.Connection, event: dict[str, Any]) -> dict[str, Any] | None:
    """Fold an imported event into its dossier's projection (inside the caller's transaction)."""
    code = event.get("dossier")
    if not code:
        return None
    before = dossier_state(conn, code)
    after = fold_step(before, event)
    if after is not None and after != before:
        project(conn, after)
    return after


def merged_leaves(store: Store, dossier: str | None = None) -> Iterator[tuple[bool, bytes]]:
    """(own?, leaf) of every event in the order it was applied at this station: own entries by
    seq, each foreign entry after the own entries that existed when it was imported."""
    if dossier is None:
        own = store.conn.execute("SELECT seq, leaf FROM entries ORDER BY seq")
        foreign = store.conn.execute(
            "SELECT local_size, leaf FROM foreign_entries ORDER BY local_size, id"
        )
    else:
        own = store.conn.execute(
            "SELECT seq, leaf FROM entries WHERE dossier = ? ORDER BY seq", (dossier,)
        )
        foreign = store.conn.execute(
            "SELECT local_size, leaf FROM foreign_entries WHERE dossier = ? "
            "ORDER BY local_size, id",
            (dossier,),
        )
    pending = foreign.fetchone()
    for seq, leaf in own:
        while pending is not None and pending[0] <= seq:
            yield False, bytes(pending[1])
            pending = foreign.fetchone()
        yield True, bytes(leaf)
    while pending is not None:
        yield False, bytes(pending[1])
        pending = foreign.fetchone()


def rebuild(store: Store) -> int:
    """Recompute all projections from the ledger (own and imported entries, in the order they
    were applied) in one transaction; returns dossiers built."""
    states: dict[str, dict[str, Any]] = {}
    for event in _dossier_events(leaf for _, leaf in merged_leaves(store)):
        code = event["dossier"]
        after = fold_step(states.get(code), event)
        if after is not None:
            states[code] = after
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
