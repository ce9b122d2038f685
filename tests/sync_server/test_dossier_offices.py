"""A dossier transferred to another office is that office's too: its stations get the portal's
acceptance of it (`/v1/offices/{office}/portal`), and a hub database made before
`dossier_offices` existed is filled in when it is opened. Both storage backends."""

from __future__ import annotations

from pathlib import Path

import orjson

from sync_server.portal.store import accepted_since
from sync_server.storage import Tx, open_storage

A, B, C = "000.00.31.H56", "000.00.32.H56", "000.00.33.H56"


def _dossier(code: str, office: str, participants: list[str]) -> dict[str, object]:
    state = {"code": code, "status": "processing", "version": 3}
    return {
        "code": code,
        "office": office,
        "status": "processing",
        "version": 3,
        "state": state,
        "participants": participants,
        "events": 3,
        "conflicts": 0,
    }


def _accept(tx: Tx, code: str, office: str, at: int) -> None:
    tx._q(
        "INSERT INTO portal_dossiers (code, office, day, pstatus, version, pending, next_unix, "
        "accepted_version, accepted_unix, updated_unix) VALUES (?, ?, ?, 4, 3, 0, 0, 3, ?, ?)",
        (code, office, "2026-11-24", at, at),
    )


def test_a_transferred_dossier_is_accepted_for_both_offices(hub_db: str, tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir(exist_ok=True)
    storage = open_storage(hub_db)
    try:
        with storage.transaction() as tx:
            tx.put_dossiers(
                [
                    _dossier(f"{A}-261124-0001", A, [A, B]),  # A transferred it to B
                    _dossier(f"{A}-261124-0002", A, [A]),
                    _dossier(f"{C}-261124-0001", C, [C]),
                ],
                100,
            )
            _accept(tx, f"{A}-261124-0001", A, 200)
            _accept(tx, f"{A}-261124-0002", A, 300)
            _accept(tx, f"{C}-261124-0001", C, 250)
        with storage.transaction() as tx:
            assert [r[0] for r in accepted_since(tx, A, 0, 10)] == [
                f"{A}-261124-0001",
                f"{A}-261124-0002",
            ]
            assert accepted_since(tx, B, 0, 10) == [(f"{A}-261124-0001", 3, 200)]
            assert accepted_since(tx, B, 201, 10) == []  # the cursor still works
            assert [r[0] for r in accepted_since(tx, C, 0, 10)] == [f"{C}-261124-0001"]
            # the old database: no dossier_offices rows and no mark that they were filled in
            tx._q("DELETE FROM dossier_offices")
            tx._q("DELETE FROM hub_meta WHERE key = 'dossier_offices'")
            assert accepted_since(tx, B, 0, 10) == []
    finally:
        storage.close()
    again = open_storage(hub_db)  # opening it fills the table in from `participants`
    try:
        with again.transaction() as tx:
            assert accepted_since(tx, B, 0, 10) == [(f"{A}-261124-0001", 3, 200)]
            rows = tx.all("SELECT office, code FROM dossier_offices")
            assert [tuple(r) for r in rows] == [(B, f"{A}-261124-0001")]
            assert orjson.loads(
                tx.one("SELECT participants FROM dossiers WHERE code = ?", (f"{A}-261124-0001",))[0]
            ) == [A, B]
    finally:
        again.close()
