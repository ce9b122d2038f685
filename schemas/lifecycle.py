"""The dossier lifecycle: which action is allowed in which state, and the fold of events into a
dossier's state. Pure functions over plain dicts (JSON-ready `Dossier` records), shared by the
station and the hub so both compute the same state from the same events (DESIGN section 6).

States (`DossierStatus`) and the actions that move them:

    receive             (none)                                   -> received
    request-supplement  received, processing                     -> supplement_requested
    supplement          supplement_requested                     -> the status before the request
    refuse              received, supplement_requested           -> refused
    transfer            received, processing                     -> transferred
    accept              received, transferred                    -> processing
    request-payment     received, processing                     -> awaiting_payment
    pay                 awaiting_payment                         -> processing
    stop                any open state                           -> stopped
    withdraw            any open state                           -> withdrawn
    reschedule          any open state (new due after the old)   -> unchanged, due_at moves
    resolve             received, processing                     -> resolved
    return              resolved                                 -> returned
    rate                resolved, returned (once)                -> unchanged, rating set

Open states: received, processing, supplement_requested, awaiting_payment, transferred.
Times: each event's `claimed_time`, except `receive`, which carries `received_at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from schemas.dossier import STATUS_LABEL_VI, DossierStatus

__all__ = [
    "ACTION_LABEL_EN",
    "ACTION_LABEL_VI",
    "OPEN_STATES",
    "TRANSITIONS",
    "TransitionError",
    "allowed_actions",
    "apply_event",
    "check_transition",
    "fold",
]

S = DossierStatus
OPEN_STATES: Final = frozenset(
    {S.RECEIVED, S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.AWAITING_PAYMENT, S.TRANSFERRED}
)
_OPEN = tuple(sorted(OPEN_STATES))
RESUME: Final = "resume"  # target marker: back to the status before the supplement request

# action -> {from status: to status (None = unchanged)}
TRANSITIONS: Final[dict[str, dict[DossierStatus, DossierStatus | str | None]]] = {
    "request-supplement": {
        S.RECEIVED: S.SUPPLEMENT_REQUESTED,
        S.PROCESSING: S.SUPPLEMENT_REQUESTED,
    },
    "supplement": {S.SUPPLEMENT_REQUESTED: RESUME},
    "refuse": {S.RECEIVED: S.REFUSED, S.SUPPLEMENT_REQUESTED: S.REFUSED},
    "transfer": {S.RECEIVED: S.TRANSFERRED, S.PROCESSING: S.TRANSFERRED},
    "accept": {S.RECEIVED: S.PROCESSING, S.TRANSFERRED: S.PROCESSING},
    "request-payment": {S.RECEIVED: S.AWAITING_PAYMENT, S.PROCESSING: S.AWAITING_PAYMENT},
    "pay": {S.AWAITING_PAYMENT: S.PROCESSING},
    "stop": dict.fromkeys(_OPEN, S.STOPPED),
    "withdraw": dict.fromkeys(_OPEN, S.WITHDRAWN),
    "reschedule": dict.fromkeys(_OPEN, None),
    "resolve": {S.RECEIVED: S.RESOLVED, S.PROCESSING: S.RESOLVED},
    "return": {S.RESOLVED: S.RETURNED},
    "rate": {S.RESOLVED: None, S.RETURNED: None},
}

ACTION_LABEL_VI: Final[dict[str, str]] = {
    "receive": "tiếp nhận",
    "request-supplement": "yêu cầu bổ sung",
    "supplement": "nhận bổ sung",
    "refuse": "từ chối tiếp nhận",
    "transfer": "chuyển liên thông",
    "accept": "nhận xử lý",
    "request-payment": "yêu cầu thực hiện nghĩa vụ tài chính",
    "pay": "thu phí, lệ phí",
    "stop": "dừng giải quyết",
    "withdraw": "rút hồ sơ",
    "reschedule": "hẹn lại ngày trả kết quả",
    "resolve": "hoàn thành giải quyết",
    "return": "trả kết quả",
    "rate": "ghi nhận đánh giá",
}
ACTION_LABEL_EN: Final[dict[str, str]] = {
    "receive": "receive",
    "request-supplement": "request a supplement for",
    "supplement": "record the supplement of",
    "refuse": "refuse",
    "transfer": "transfer",
    "accept": "accept",
    "request-payment": "request payment for",
    "pay": "record payment for",
    "stop": "stop",
    "withdraw": "withdraw",
    "reschedule": "reschedule",
    "resolve": "resolve",
    "return": "return",
    "rate": "rate",
}


class TransitionError(ValueError):
    """An action that is impossible in the dossier's state. Messages in Vietnamese and English."""

    def __init__(self, code: str, message_vi: str, message_en: str) -> None:
        super().__init__(message_vi)
        self.code = code
        self.message_vi = message_vi
        self.message_en = message_en


def allowed_actions(state: Mapping[str, Any] | None) -> list[str]:
    """Actions an officer may take next (the TUI offers exactly these)."""
    if state is None:
        return ["receive"]
    status = DossierStatus(state["status"])
    out = [a for a, table in TRANSITIONS.items() if status in table]
    if "rate" in out and state.get("rating") is not None:
        out.remove("rate")
    return out


def _label(status: Any) -> str:
    return STATUS_LABEL_VI[DossierStatus(status)]


def check_transition(
    state: Mapping[str, Any] | None, action: str, data: Mapping[str, Any], at: str
) -> None:
    """Raise TransitionError unless `action` with `data` at time `at` is valid in `state`."""
    if action == "receive":
        if state is not None:
            raise TransitionError(
                "already-received",
                f"Hồ sơ {state['code']} đã được tiếp nhận",
                f"dossier {state['code']} was already received",
            )
        return
    if state is None:
        raise TransitionError("unknown-dossier", "Không tìm thấy hồ sơ", "no such dossier")
    table = TRANSITIONS.get(action)
    if table is None:
        raise TransitionError(
            "unknown-action", f"Thao tác không hợp lệ: {action}", f"unknown action {action!r}"
        )
    status = DossierStatus(state["status"])
    if status not in table:
        raise TransitionError(
            "invalid-transition",
            f"Không thể {ACTION_LABEL_VI[action]} hồ sơ đang ở trạng thái «{_label(status)}»",
            f"cannot {ACTION_LABEL_EN[action]} a dossier that is {status.value}",
        )
    if action == "rate" and state.get("rating") is not None:
        raise TransitionError(
            "already-rated", "Hồ sơ đã được ghi nhận đánh giá", "the dossier was already rated"
        )
    if action == "reschedule":
        new_due = datetime.fromisoformat(data["new_due"])
        old = state.get("due_at")
        if old is not None and new_due <= datetime.fromisoformat(old):
            raise TransitionError(
                "reschedule-earlier",
                "Ngày hẹn mới phải sau ngày hẹn trả cũ",
                "the new due date must be after the old one",
            )
        if new_due <= datetime.fromisoformat(at):
            raise TransitionError(
                "reschedule-past",
                "Ngày hẹn mới phải ở tương lai",
                "the new due date must be in the future",
            )
    if datetime.fromisoformat(at) < datetime.fromisoformat(state["received_at"]):
        raise TransitionError(
            "before-receipt",
            "Thời điểm thao tác trước thời điểm tiếp nhận",
            "the action is dated before the dossier was received",
        )


def apply_event(state: dict[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """The state after `event` (a signed or draft event dict); raises TransitionError.

    Returns a new dict; `state` is not modified.
    """
    action = event["action"]
    data = event.get("data") or {}
    at = data["received_at"] if action == "receive" else event["claimed_time"]
    check_transition(state, action, data, at)
    if action == "receive":
        return _received(event, data)
    assert state is not None
    if state["code"] != event.get("dossier"):
        raise TransitionError(
            "wrong-dossier",
            "Thao tác không thuộc hồ sơ này",
            "the event belongs to another dossier",
        )
    new = dict(state)
    status = DossierStatus(state["status"])
    target = TRANSITIONS[action][status]
    if target == RESUME:
        target = DossierStatus(state.get("resume_status") or S.RECEIVED)
    if target is not None:
        new["status"] = DossierStatus(target).value
    _effects(new, state, action, data, at)
    new["version"] = state["version"] + 1
    new["updated_at"] = event["claimed_time"]
    return new


def _received(event: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {
        "code": event["dossier"],
        "station": event["station"],
        "seq": event["seq"],
        "procedure": data["procedure"],
        "applicant": data["applicant"],
        "channel": data.get("channel", "direct"),
        "status": S.RECEIVED.value,
        "received_at": data["received_at"],
        "due_inputs": data["due_inputs"],
        "documents": list(data.get("documents", [])),
        "sets": data.get("sets", 1),
        "fees": list(data.get("fees", [])),
        "return_via": data.get("return_via", "desk"),
        "supplement_rounds": 0,
        "paused_seconds": 0,
        "conflicts": 0,
        "updated_at": event["claimed_time"],
        "version": 1,
    }
    for key in ("representative", "summary", "due_at", "book_row"):
        if data.get(key) is not None:
            state[key] = data[key]
    return state


def _effects(
    new: dict[str, Any], old: Mapping[str, Any], action: str, data: Mapping[str, Any], at: str
) -> None:
    if action == "request-supplement":
        new["paused_at"] = at
        new["resume_status"] = old["status"]
        new["supplement_rounds"] = old.get("supplement_rounds", 0) + 1
    elif action == "supplement":
        paused = old.get("paused_at")
        if paused is not None:
            waited = datetime.fromisoformat(at) - datetime.fromisoformat(paused)
            new["paused_seconds"] = old.get("paused_seconds", 0) + max(
                0, int(waited.total_seconds())
            )
        if data.get("due_at") is not None:
            new["due_at"] = data["due_at"]
        new.pop("paused_at", None)
        new.pop("resume_status", None)
        new["documents"] = [*old.get("documents", []), *data.get("documents", [])]
    elif action == "refuse":
        new["refused_at"] = at
    elif action == "transfer":
        new["handling_office"] = data["to"]
    elif action == "pay":
        new["fees"] = [
            *old.get("fees", []),
            {"name": "Phí, lệ phí đã thu", "amount": data["amount"]},
        ]
    elif action == "stop":
        new["stopped_at"] = at
    elif action == "withdraw":
        new["withdrawn_at"] = at
    elif action == "reschedule":
        new["due_at"] = data["new_due"]
    elif action == "resolve":
        new["resolved_at"] = at
        new["outcome"] = data.get("outcome", "approved")
    elif action == "return":
        new["returned_at"] = at
        new["return_via"] = data["via"]
    elif action == "rate":
        new["rating"] = data["rating"]
    if action in ("refuse", "stop", "withdraw"):
        new.pop("paused_at", None)
        new.pop("resume_status", None)


def fold(events: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The state of one dossier after its events in order. An event that is invalid in the
    state it lands on is kept as a fact but does not change the state: it is counted in
    `conflicts` for a human to decide (DESIGN section 6)."""
    state: dict[str, Any] | None = None
    for event in events:
        try:
            state = apply_event(state, event)
        except TransitionError:
            if state is not None:
                state = {**state, "conflicts": state.get("conflicts", 0) + 1}
    return state
