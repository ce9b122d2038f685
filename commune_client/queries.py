"""Reading the station: dossier lists that page from SQLite, one dossier with its timeline
(the control slip), and the ledger's export, trust kit and rebuild check."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from commune_client.clock import iso
from commune_client.deadlines import parse_rfc3339, timeliness
from commune_client.errors import BadInput, NotFound
from commune_client.projection import merged_leaves, rebuild
from commune_client.station import Station
from commune_client.textfold import fts_query
from ledger.records import sign_record
from schemas.dossier import STATUS_LABEL_VI, DossierStatus
from schemas.lifecycle import ACTION_LABEL_VI, OPEN_STATES, allowed_actions

__all__ = [
    "export_ledger",
    "list_dossiers",
    "projection_digest",
    "rebuild_and_compare",
    "show_dossier",
    "timeline",
    "trust_kit",
]

_OPEN = tuple(s.value for s in OPEN_STATES)
LEDGER_EXPORT_TYPE = "commune.ledger-export/v1"
COSIGNED_TYPE = "commune.cosigned/v1"
FOREIGN_ENTRY_TYPE = "commune.foreign-entry/v1"
DOSSIER_STATE_TYPE = "commune.dossier-state/v1"


def list_dossiers(
    station: Station,
    *,
    now: datetime,
    status: str | None = None,
    overdue: bool = False,
    search: str | None = None,
    due_before: str | None = None,
    procedure: str | None = None,
    channel: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One page of dossiers, newest first, never more than `limit` rows from SQLite."""
    if status is not None and status not in {s.value for s in DossierStatus}:
        raise BadInput(
            f"Trạng thái không hợp lệ: {status!r}. Chọn: "
            + ", ".join(s.value for s in DossierStatus)
        )
    if not 1 <= limit <= 1000 or offset < 0:
        raise BadInput("Số dòng mỗi trang phải từ 1 đến 1000")
    where, args = [], []
    if status:
        where.append("d.status = ?")
        args.append(status)
    if overdue:
        where.append(f"d.status IN ({','.join('?' * len(_OPEN))}) AND d.due_at < ?")
        args += [*_OPEN, iso(now)]
    if due_before:
        where.append(f"d.status IN ({','.join('?' * len(_OPEN))}) AND d.due_at < ?")
        args += [*_OPEN, due_before]
    if procedure:
        where.append("d.procedure_code = ?")
        args.append(procedure)
    if channel:
        where.append("d.channel = ?")
        args.append(channel)
    columns = (
        "d.code, d.status, d.procedure_code, d.field, d.applicant_name, d.applicant_id, "
        "d.phone, d.received_at, d.due_at, d.channel"
    )
    if search:
        match = fts_query(search)
        if match is None:
            return []
        # Newest first by rowid (= receipt order): FTS5 walks its matches in that order and
        # stops after one page, however common the word ("Nguyễn", "khai sinh").
        where.insert(0, "dossier_search MATCH ?")
        args.insert(0, match)
        sql = (
            f"SELECT {columns} FROM dossier_search s JOIN dossiers d ON d.rowid = s.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY s.rowid DESC LIMIT ? OFFSET ?"
        )
    else:
        sql = (
            f"SELECT {columns} FROM dossiers d "
            + (f"WHERE {' AND '.join(where)} " if where else "")
            + "ORDER BY d.received_at DESC, d.code DESC LIMIT ? OFFSET ?"
        )
    rows = station.store.conn.execute(sql, [*args, limit, offset]).fetchall()
    keys = (
        "code",
        "status",
        "procedure",
        "field",
        "applicant",
        "id_number",
        "phone",
        "received_at",
        "due_at",
        "channel",
    )
    from commune_client.sync import sync_states

    states = sync_states(station, [row[0] for row in rows])
    out = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["sync"] = states[item["code"]]
        item["status_vi"] = STATUS_LABEL_VI[DossierStatus(item["status"])]
        item["overdue"] = bool(
            item["due_at"] and item["status"] in _OPEN and item["due_at"] < iso(now)
        )
        out.append(item)
    return out


def timeline(station: Station, code: str) -> list[dict[str, Any]]:
    """The dossier's events as control-slip rows: who, what, when, and early/on time/late.

    Events of other stations (a transferred dossier, the other office's answer) come from the
    verified feed entries, in the order this station applied them; `station` says whose."""
    names = {o["key_id"]: o["name"] for o in station.officers()}
    for (raw,) in station.store.conn.execute(
        "SELECT officer_cert FROM foreign_entries WHERE dossier = ?", (code,)
    ):
        cert = orjson.loads(raw)
        names.setdefault(cert["key_id"], cert.get("name") or cert["key_id"])
    rows, due = [], None
    for _, leaf in merged_leaves(station.store, code):
        event = orjson.loads(leaf)
        data = event.get("data") or {}
        at = data.get("received_at", event["claimed_time"])
        if event["action"] == "receive":
            due = data.get("due_at")
        rows.append(
            {
                "seq": event["seq"],
                "station": event["station"],
                "action": event["action"],
                "step": ACTION_LABEL_VI.get(event["action"], event["action"]).capitalize(),
                "officer": names.get(event["officer"], event["officer"]),
                "at": at,
                "due": due,
                "timeliness": timeliness(parse_rfc3339(at), parse_rfc3339(due) if due else None),
                "note": data.get("reason") or data.get("result") or data.get("note") or "",
            }
        )
        if event["action"] == "reschedule":
            due = data["new_due"]
        elif event["action"] == "supplement" and data.get("due_at"):
            due = data["due_at"]
    return rows


def show_dossier(station: Station, code: str) -> dict[str, Any]:
    from commune_client.sync import SYNC_STATE_VI, sync_states

    state = station.dossier(code)
    if state is None:
        raise NotFound(f"Không tìm thấy hồ sơ {code}")
    sync = sync_states(station, [code])[code]
    return {
        "dossier": state,
        "status_vi": STATUS_LABEL_VI[DossierStatus(state["status"])],
        "next_actions": allowed_actions(state),
        "timeline": timeline(station, code),
        "sync": sync,
        "sync_vi": SYNC_STATE_VI[sync],
    }


def projection_digest(station: Station) -> str:
    h = hashlib.sha256()
    for code, state in station.store.conn.execute("SELECT code, state FROM dossiers ORDER BY code"):
        h.update(code.encode() + b"\0" + state.encode() + b"\n")
    for code, text in station.store.conn.execute(
        "SELECT d.code, s.text FROM dossier_search s JOIN dossiers d ON d.rowid = s.rowid "
        "ORDER BY d.code"
    ):
        h.update(code.encode() + b"\0" + text.encode() + b"\n")
    return h.hexdigest()


def rebuild_and_compare(station: Station) -> dict[str, Any]:
    before = projection_digest(station)
    count = rebuild(station.store)
    after = projection_digest(station)
    return {"dossiers": count, "before": before, "after": after, "identical": before == after}


def export_ledger(station: Station, path: Path) -> dict[str, Any]:
    """JSON lines (docs/audit.md "The export"), from one consistent snapshot of the station:

    1. a header `{"type": "commune.ledger-export/v1", "origin", "station", "station_cert",
       "entries", "checkpoints", "cosigned", "foreign", "dossiers"}`;
    2. every leaf byte for byte (canonical JSON is one line), `entries` lines;
    3. what the auditor compares with the log: each checkpoint as the hub cosigned it
       (`{"type": "commune.cosigned/v1", "size", "hub_unix", "note"}`), each verified event of
       another station applied here from the office feed (`{"type":
       "commune.foreign-entry/v1", "local_size", "origin", "station", "seq", "leaf", "proof",
       "officer_cert", "station_cert"}`, in the order applied), and each dossier's state as the
       office holds it (`{"type": "commune.dossier-state/v1", "code", "state"}`);
    4. every signed station checkpoint as a JSON string, `checkpoints` lines, last.

    Readers of the first format (header, leaves, then checkpoints as JSON strings) keep working
    when they take the leaves by the header's count and the checkpoints from the end; the new
    lines are JSON objects, the checkpoints JSON strings. `commune-audit ledger` reads it."""
    store = station.store
    conn = store.conn
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")  # one snapshot (WAL): appends meanwhile land after it
    try:
        size = store.size()
        checkpoints = [
            r[0]
            for r in conn.execute(
                "SELECT note FROM checkpoints WHERE size <= ? ORDER BY size", (size,)
            )
        ]
        cosigned = conn.execute(
            "SELECT size, hub_unix, note FROM cosigned WHERE size <= ? ORDER BY size", (size,)
        ).fetchall()
        foreign = conn.execute(
            "SELECT local_size, origin, station, seq, leaf, proof, officer_cert, station_cert "
            "FROM foreign_entries WHERE local_size <= ? ORDER BY local_size, id",
            (size,),
        ).fetchall()
        dossiers = conn.execute("SELECT code, state FROM dossiers ORDER BY code").fetchall()
        header = {
            "type": LEDGER_EXPORT_TYPE,
            "origin": station.info.origin,
            "station": station.info.ref,
            "station_cert": station.info.station_cert,
            "entries": size,
            "checkpoints": len(checkpoints),
            "cosigned": len(cosigned),
            "foreign": len(foreign),
            "dossiers": len(dossiers),
        }
        tmp = path.with_name(path.name + ".part")
        with tmp.open("wb") as out:
            out.write(orjson.dumps(header) + b"\n")
            for leaf in store.leaves(0, size):
                out.write(leaf + b"\n")
            for cp_size, hub_unix, note in cosigned:
                line = {"type": COSIGNED_TYPE, "size": cp_size, "hub_unix": hub_unix, "note": note}
                out.write(orjson.dumps(line) + b"\n")
            for local_size, origin, ref, seq, leaf, proof, officer_cert, station_cert in foreign:
                item = {
                    "type": FOREIGN_ENTRY_TYPE,
                    "local_size": local_size,
                    "origin": origin,
                    "station": ref,
                    "seq": seq,
                    "leaf": bytes(leaf).decode("utf-8"),
                    "proof": proof,
                    "officer_cert": orjson.loads(officer_cert),
                    "station_cert": orjson.loads(station_cert),
                }
                out.write(orjson.dumps(item) + b"\n")
            for code, state in dossiers:
                item = {"type": DOSSIER_STATE_TYPE, "code": code, "state": orjson.loads(state)}
                out.write(orjson.dumps(item) + b"\n")
            for note in checkpoints:
                out.write(orjson.dumps(note) + b"\n")
    finally:
        if began:
            conn.execute("COMMIT")
    tmp.replace(path)
    return {
        "file": str(path),
        "entries": size,
        "checkpoints": len(checkpoints),
        "cosigned": len(cosigned),
        "foreign": len(foreign),
        "dossiers": len(dossiers),
    }


def trust_kit(station: Station, session_key: Any, path: Path, *, now: datetime) -> dict[str, Any]:
    """A stand-alone station's trust kit: its own station certificate and log origin, signed by
    the station key. An enrolled station writes the hub's kit it received at enrolment."""
    hub_kit = station.store.meta("trust_kit")
    if hub_kit is not None and orjson.loads(hub_kit):
        kit_doc = orjson.loads(hub_kit)
        path.write_bytes(orjson.dumps(kit_doc, option=orjson.OPT_INDENT_2) + b"\n")
        stations = kit_doc.get("stations") if isinstance(kit_doc, dict) else None
        return {
            "file": str(path),
            "stations": len(stations) if isinstance(stations, list) else 0,
            "hub": True,
        }
    kit = {
        "type": "commune.trust-kit/v1",
        "issued_at": iso(now),
        "issuer": None,
        "hub": None,
        "stations": [station.info.station_cert],
        "origins": [
            {
                "origin": station.info.origin,
                "station": station.info.ref,
                "key_id": station.info.station_cert["key_id"],
            }
        ],
        "revocations": [],
    }
    signed = sign_record(kit, session_key)
    path.write_bytes(orjson.dumps(signed, option=orjson.OPT_INDENT_2) + b"\n")
    return {"file": str(path), "stations": 1}
