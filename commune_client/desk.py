"""The officer's actions at the desk, one function per action (used by the CLI and the TUI).

`receive` takes a dossier in and returns its code, status, due date and signed receipt;
`act` applies any later lifecycle action. Both validate everything before anything is
written, then append one signed event in one transaction (`Session.record`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from commune_client import deadlines
from commune_client.clock import iso
from commune_client.errors import BadInput, NotFound, from_validation
from commune_client.procedures import get_procedure
from commune_client.projection import dossier_state
from commune_client.receipts import build_receipt
from commune_client.station import Session
from commune_client.store import Store
from schemas import event as ev
from schemas.dossier import Applicant, DossierDocument, Representative
from schemas.lifecycle import TRANSITIONS
from schemas.types import to_record

__all__ = [
    "ACTIONS",
    "act",
    "calendar",
    "office_hours",
    "receive",
    "record_receive",
    "update_calendar",
]

ACTIONS = tuple(TRANSITIONS)  # every action after `receive`, in lifecycle order
_DATA_MODEL: dict[str, type[BaseModel]] = {
    "request-supplement": ev.RequestSupplementData,
    "supplement": ev.SupplementData,
    "refuse": ev.RefuseData,
    "transfer": ev.TransferData,
    "accept": ev.AcceptData,
    "request-payment": ev.RequestPaymentData,
    "pay": ev.PayData,
    "stop": ev.StopData,
    "withdraw": ev.WithdrawData,
    "reschedule": ev.RescheduleData,
    "resolve": ev.ResolveData,
    "return": ev.ReturnData,
    "rate": ev.RateData,
}
BLOCK = 1000  # daily sequence numbers per station: station n uses [(n-1)*1000, n*1000)


def calendar(store: Store) -> deadlines.Calendar:
    """The station's working calendar: the `holidays` package's Vietnam calendar plus the
    overrides of the newest `calendar-update` event in the ledger (make-up Saturdays, bridge
    days), so every due date is computed from a calendar the ledger itself records."""
    row = store.conn.execute(
        "SELECT leaf FROM entries WHERE action = 'calendar-update' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return deadlines.Calendar()
    data = orjson.loads(row[0])["data"]
    return deadlines.Calendar(
        deadlines.CalendarOverrides(
            version=data["version"],
            holidays=frozenset(date.fromisoformat(d) for d in data.get("holidays", [])),
            makeup_workdays=frozenset(
                date.fromisoformat(d) for d in data.get("makeup_workdays", [])
            ),
        )
    )


def update_calendar(session: Session, overrides: Mapping[str, Any], *, now: datetime) -> str:
    """Record a new calendar override table (signed by the station key); returns its version."""
    data = _model(ev.CalendarUpdateData, overrides)
    try:
        deadlines.Calendar(
            deadlines.CalendarOverrides(
                version=data["version"],
                holidays=frozenset(date.fromisoformat(d) for d in data.get("holidays", [])),
                makeup_workdays=frozenset(
                    date.fromisoformat(d) for d in data.get("makeup_workdays", [])
                ),
            )
        )
    except ValueError as exc:
        raise BadInput(f"Lịch làm việc không hợp lệ: {exc}") from exc
    body = {
        "claimed_time": iso(now),
        "beacon": session.beacon(),
        "dossier": None,
        "action": "calendar-update",
        "data": data,
    }
    session.record(lambda _: body, signer=session.station_key)
    return str(data["version"])


def office_hours(store: Store) -> deadlines.OfficeHours:
    raw = store.meta("office_hours")
    return deadlines.OfficeHours.parse(raw) if raw else deadlines.DEFAULT_HOURS


def _model(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return to_record(model.model_validate(dict(data)))
    except ValidationError as exc:
        raise from_validation(exc) from exc


def receive(
    session: Session,
    *,
    procedure: str,
    applicant: Mapping[str, Any],
    now: datetime,
    channel: str = "direct",
    summary: str | None = None,
    documents: Sequence[Mapping[str, Any]] | None = None,
    representative: Mapping[str, Any] | None = None,
    return_via: str = "desk",
) -> dict[str, Any]:
    """Receive a dossier (Form 01): returns {code, status, due_at, receipt}."""
    store = session.store
    proc = get_procedure(store, procedure)
    who = _model(Applicant, applicant)
    rep = _model(Representative, representative) if representative else None
    docs = (
        [_model(DossierDocument, d) for d in documents]
        if documents is not None
        else [
            {"name": d.name, "originals": d.originals, "copies": d.copies} for d in proc.documents
        ]
    )
    cal, hours = calendar(store), office_hours(store)
    cutoff = time.fromisoformat(proc.cutoff) if proc.cutoff else None
    due = deadlines.compute_due(
        now, proc.time_limit, proc.time_unit, calendar=cal, hours=hours, cutoff=cutoff
    )
    data: dict[str, Any] = {
        "procedure": to_record(proc.ref()),
        "applicant": who,
        "channel": channel,
        "documents": docs,
        "sets": 1,
        "fees": [{"name": "Phí, lệ phí", "amount": proc.fee}] if proc.fee else [],
        "received_at": iso(now),
        "due_at": iso(due),
        "due_inputs": deadlines.due_inputs(
            proc.time_limit, proc.time_unit, calendar=cal, hours=hours, cutoff=cutoff
        ),
        "return_via": return_via,
    }
    if summary:
        data["summary"] = summary
    if rep:
        data["representative"] = rep
    _model(ev.ReceiveData, {**data, "book_row": 1})  # every error before the write lock
    info = session.station.info

    def prepare(store: Store) -> dict[str, Any]:
        day = now.astimezone(deadlines.VN_TZ)
        first = max(1, (info.station - 1) * BLOCK)
        if info.epoch and store.meta("epoch_day") == f"{day:%y%m%d}":
            first += BLOCK // 2  # a replacement PC's first day (Station.create)
        number = store.take(f"code:{day:%y%m%d}", first)
        if number >= info.station * BLOCK or number > 9999:
            raise BadInput(f"Trạm {info.station} đã dùng hết số hồ sơ của ngày {day:%d/%m/%Y}")
        data["book_row"] = store.take(f"book:{day:%Y}", 1)
        return {
            "claimed_time": iso(now),
            "beacon": session.beacon(),
            "action": "receive",
            "dossier": f"{info.office}-{day:%y%m%d}-{number:04d}",
            "data": data,
        }

    return record_receive(session, prepare)


def record_receive(session: Session, prepare: Callable[[Store], dict[str, Any]]) -> dict[str, Any]:
    """Append the `receive` event `prepare` builds (in the write transaction) and answer what
    the officer hands the citizen: {code, status, due_at, receipt}."""
    appended, state = session.record(prepare)
    assert state is not None
    return {
        "code": state["code"],
        "status": state["status"],
        "due_at": state.get("due_at"),
        "receipt": build_receipt(session.station, appended.index),
    }


def act(
    session: Session,
    code: str,
    action: str,
    *,
    now: datetime,
    reason: str | None = None,
    to: str | None = None,
    new_due: str | None = None,
    amount: int | None = None,
    rating: int | None = None,
    via: str | None = None,
    documents: Sequence[Mapping[str, Any]] | Sequence[str] | None = None,
) -> dict[str, Any]:
    """Apply a lifecycle action to dossier `code`; returns the dossier's new state."""
    if action not in _DATA_MODEL:
        raise BadInput(f"Thao tác không hợp lệ: {action!r}. Chọn một trong: {', '.join(ACTIONS)}")
    if session.station.dossier(code) is None:
        raise NotFound(f"Không tìm thấy hồ sơ {code}")
    fields = _fields(
        action,
        reason=reason,
        to=to,
        new_due=new_due,
        amount=amount,
        rating=rating,
        via=via,
        documents=documents,
    )
    _model(_DATA_MODEL[action], fields)  # validate before taking the write lock

    def prepare(store: Store) -> dict[str, Any]:
        state = dossier_state(store.conn, code)
        if state is None:
            raise NotFound(f"Không tìm thấy hồ sơ {code}")
        data = dict(fields)
        if action == "supplement" and state.get("due_at") and state.get("paused_at"):
            inputs = state["due_inputs"]
            moved = deadlines.shift_for_pause(
                deadlines.parse_rfc3339(state["due_at"]),
                deadlines.parse_rfc3339(state["paused_at"]),
                now,
                calendar(store),
                deadlines.hours_from_inputs(inputs),
            )
            data["due_at"] = iso(moved)
        return {
            "claimed_time": iso(now),
            "beacon": session.beacon(),
            "dossier": code,
            "action": action,
            "data": _model(_DATA_MODEL[action], data),
        }

    _, state = session.record(prepare)
    assert state is not None
    return state


def _fields(
    action: str,
    *,
    reason: str | None,
    to: str | None,
    new_due: str | None,
    amount: int | None,
    rating: int | None,
    via: str | None,
    documents: Any,
) -> dict[str, Any]:
    def need(value: Any, what: str) -> Any:
        if value is None or value == "":
            raise BadInput(f"Thao tác {action} cần {what}")
        return value

    if action in ("request-supplement", "refuse", "stop"):
        data: dict[str, Any] = {"reason": need(reason, "lý do (--reason)")}
        if action == "request-supplement" and documents:
            data["documents"] = [d if isinstance(d, str) else d["name"] for d in documents]
        return data
    if action == "supplement":
        data = {"note": reason} if reason else {}
        if documents:
            data["documents"] = [{"name": d} if isinstance(d, str) else dict(d) for d in documents]
        return data
    if action == "transfer":
        return {"to": need(to, "đơn vị nhận (--to)"), **({"reason": reason} if reason else {})}
    if action in ("accept", "withdraw"):
        key = "note" if action == "accept" else "reason"
        return {key: reason} if reason else {}
    if action in ("request-payment", "pay"):
        return {
            "amount": need(amount, "số tiền (--amount)"),
            **({"reason": reason} if reason and action == "request-payment" else {}),
        }
    if action == "reschedule":
        return {
            "new_due": _due(need(new_due, "ngày hẹn mới (--new-due)")),
            "reason": need(reason, "lý do xin lỗi (--reason)"),
        }
    if action == "resolve":
        return {"result": reason or "Đã giải quyết xong, kết quả sẵn sàng trả"}
    if action == "return":
        return {"via": via or "desk"}
    return {"rating": need(rating, "mức đánh giá (--rating 1-3)")}  # rate


def _due(text: str) -> str:
    """`YYYY-MM-DD` means the end of office hours that day; a full RFC 3339 time is kept."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return iso(datetime.combine(day, time(17, 0), deadlines.VN_TZ))
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput(f"Ngày hẹn mới không hợp lệ: {text!r} (dạng 2026-12-01)") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=deadlines.VN_TZ)
    return iso(value)
