"""Events: the discriminated union, the envelope rules, drafts and signing bodies."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import (
    ACTIONS,
    DOSSIER_ACTIONS,
    EVENT_ADAPTER,
    STATION_ACTIONS,
    AcceptEvent,
    Beacon,
    CalendarUpdateEvent,
    ContinuityEvent,
    OfficerEnrolEvent,
    OfficerRetireEvent,
    PayEvent,
    RateEvent,
    ReceiveDraft,
    ReceiveEvent,
    RefuseData,
    RefuseDraft,
    RefuseEvent,
    RequestPaymentEvent,
    RequestSupplementEvent,
    RescheduleEvent,
    ResolveEvent,
    ReturnEvent,
    StationOpenEvent,
    StopEvent,
    SupplementEvent,
    TransferEvent,
    WithdrawEvent,
    canonical,
    draft_event,
    parse_draft,
    parse_event,
    to_record,
)

Record = dict[str, Any]
MakeEvent = Callable[..., Record]
ROOT = base64.b64encode(bytes(range(32))).decode()
SIG = base64.urlsafe_b64encode(bytes(range(64))).rstrip(b"=").decode()

MODEL_OF_ACTION: dict[str, type] = {
    "station-open": StationOpenEvent,
    "officer-enrol": OfficerEnrolEvent,
    "officer-retire": OfficerRetireEvent,
    "continuity": ContinuityEvent,
    "calendar-update": CalendarUpdateEvent,
    "receive": ReceiveEvent,
    "request-supplement": RequestSupplementEvent,
    "supplement": SupplementEvent,
    "refuse": RefuseEvent,
    "transfer": TransferEvent,
    "accept": AcceptEvent,
    "request-payment": RequestPaymentEvent,
    "pay": PayEvent,
    "stop": StopEvent,
    "withdraw": WithdrawEvent,
    "reschedule": RescheduleEvent,
    "resolve": ResolveEvent,
    "return": ReturnEvent,
    "rate": RateEvent,
}


def messages(record: Record) -> list[str]:
    with pytest.raises(ValidationError) as info:
        parse_event(record)
    return [str(e["msg"]) for e in info.value.errors()]


def test_nineteen_actions() -> None:
    assert len(ACTIONS) == 19 == len(MODEL_OF_ACTION)
    assert set(ACTIONS) == set(MODEL_OF_ACTION)
    assert set(ACTIONS) == STATION_ACTIONS | DOSSIER_ACTIONS
    assert {
        "station-open",
        "officer-enrol",
        "officer-retire",
        "continuity",
        "calendar-update",
    } == STATION_ACTIONS


@pytest.mark.parametrize("action", ACTIONS)
def test_union_picks_the_model_of_each_action(action: str, make_event: MakeEvent) -> None:
    record = make_event(action)
    event = parse_event(record)
    assert type(event) is MODEL_OF_ACTION[action]
    assert event.action == action
    assert to_record(event) == record  # the samples are in canonical form
    assert parse_event(to_record(event)) == event


@pytest.mark.parametrize("action", sorted(STATION_ACTIONS))
def test_station_action_refuses_a_dossier(action: str, make_event: MakeEvent) -> None:
    errors = messages(make_event(action, dossier="H56.14-260302-0001"))
    assert errors == ["Input should be None"]


@pytest.mark.parametrize("action", sorted(DOSSIER_ACTIONS))
def test_dossier_action_needs_a_dossier(action: str, make_event: MakeEvent) -> None:
    assert messages(make_event(action, dossier=None)) == ["Input should be a valid string"]
    record = make_event(action)
    del record["dossier"]
    assert messages(record) == ["Field required"]


def test_dossier_code_checked_in_events(make_event: MakeEvent) -> None:
    assert messages(make_event("refuse", dossier="H56.14-260230-0001")) == [
        "Ngày trong mã hồ sơ không tồn tại: 260230"
    ]


def test_unknown_or_missing_action(make_event: MakeEvent) -> None:
    errors = messages(make_event("refuse", action="delete"))
    assert len(errors) == 1 and "does not match any of the expected tags" in errors[0]
    record = make_event("refuse")
    del record["action"]
    assert "Unable to extract tag using discriminator 'action'" in messages(record)[0]


def test_envelope_is_strict(make_event: MakeEvent) -> None:
    assert messages(make_event("refuse", extra=1)) == ["Extra inputs are not permitted"]
    assert messages(make_event("refuse", type="commune.cert/v1"))[0].startswith("Input should be")
    assert "RFC 3339" in messages(make_event("refuse", claimed_time="2026-03-02T08:30:00"))[0]
    messages(make_event("refuse", seq=-1))
    messages(make_event("refuse", seq=3.0))
    messages(make_event("refuse", prev=ROOT.rstrip("=")))
    messages(make_event("refuse", station="H56.14"))
    messages(make_event("refuse", officer="ABCDEF0123456789"))
    record = make_event("refuse")
    del record["beacon"]
    assert messages(record) == ["Field required"]  # always present, null allowed


def test_data_is_strict(make_event: MakeEvent) -> None:
    assert messages(make_event("refuse", {"reason": "x", "note": "y"})) == [
        "Extra inputs are not permitted"
    ]
    assert messages(make_event("rate", {"rating": 4})) == ["Input should be 1, 2 or 3"]
    assert messages(make_event("return", {"via": "email"})) == ["Input should be 'desk' or 'post'"]
    for amount in (0, -100, 50_000.0, "50000"):
        messages(make_event("pay", {"amount": amount}))


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("refuse", {"reason": ""}),
        ("refuse", {"reason": "   "}),
        ("stop", {"reason": ""}),
        ("request-supplement", {"reason": "", "documents": ["Giấy chứng sinh"]}),
        ("reschedule", {"new_due": "2026-03-05T16:00:00+07:00", "reason": ""}),
    ],
)
def test_required_reasons_not_empty(action: str, data: Record, make_event: MakeEvent) -> None:
    assert messages(make_event(action, data)) == ["Không được để trống"]


@pytest.mark.parametrize("action", ["refuse", "stop", "request-supplement", "reschedule"])
def test_required_reasons_present(action: str, make_event: MakeEvent) -> None:
    data = dict(make_event(action)["data"])
    del data["reason"]
    assert messages(make_event(action, data)) == ["Field required"]


def test_receive_data_rules(make_event: MakeEvent, receive: Record) -> None:
    nfd = unicodedata.normalize("NFD", "Trần Thị Bình")
    receive["applicant"]["name"] = nfd
    event = parse_event(make_event("receive", receive))
    assert isinstance(event, ReceiveEvent)
    assert event.data.applicant.name == "Trần Thị Bình"
    assert to_record(event)["data"]["applicant"]["name"] == "Trần Thị Bình"

    bad_fee = {**receive, "fees": [{"name": "Lệ phí", "amount": 8000.5}]}
    assert messages(make_event("receive", bad_fee)) == ["Input should be a valid integer"]
    bad_id = {**receive, "applicant": {**receive["applicant"], "id_number": "12345"}}
    assert messages(make_event("receive", bad_id)) == ["Số CCCD phải gồm 12 chữ số"]
    assert messages(make_event("receive", {**receive, "received_at": "2026-02-30T08:00:00Z"}))
    assert messages(make_event("receive", {**receive, "sets": 0}))
    no_deadline = {k: v for k, v in receive.items() if k != "due_at"}
    assert "due_at" not in to_record(parse_event(make_event("receive", no_deadline)))["data"]


def test_station_open_must_describe_its_own_station(make_event: MakeEvent) -> None:
    record = make_event("station-open", station="H56.14/2")
    assert messages(record) == ["Trạm H56.14/2 không khớp với đơn vị và số trạm khai báo"]
    data = make_event("station-open")["data"]
    data["station_cert"]["role"] = "officer"
    assert "Chứng thư trạm" in messages(make_event("station-open", data))[0]


def test_officer_enrol_cert_belongs_to_station(make_event: MakeEvent) -> None:
    assert messages(make_event("officer-enrol", station="H56.14/3")) == [
        "Chứng thư cán bộ không thuộc trạm H56.14/3"
    ]


def test_calendar_update_days(make_event: MakeEvent) -> None:
    twice = {"version": "2026.2", "holidays": ["2026-04-30", "2026-04-30"]}
    assert messages(make_event("calendar-update", twice)) == [
        "Ngày bị lặp trong danh sách holidays"
    ]
    both = {"version": "2026.2", "holidays": ["2026-04-30"], "makeup_workdays": ["2026-04-30"]}
    assert "vừa là ngày nghỉ" in messages(make_event("calendar-update", both))[0]
    assert messages(make_event("calendar-update", {"version": "v1", "holidays": ["2026-02-30"]}))


# Null fields and drafts ----------------------------------------------------------------------


def test_beacon_and_dossier_written_as_null(make_event: MakeEvent) -> None:
    record = to_record(parse_event(make_event("station-open")))
    assert record["beacon"] is None and record["dossier"] is None
    beacon = {"origin": "hub.example/hub", "size": 10, "root": ROOT}
    with_beacon = to_record(parse_event(make_event("refuse", beacon=beacon)))
    assert with_beacon["beacon"] == beacon
    # optional data fields are omitted, not written as null
    assert to_record(parse_event(make_event("withdraw")))["data"] == {}


def test_draft_signable_and_signed(make_event: MakeEvent) -> None:
    draft = draft_event(
        RefuseData(reason="Không thuộc thẩm quyền"),
        station="H56.14/1",
        seq=3,
        prev=ROOT,
        beacon=None,
        claimed_time="2026-03-02T08:30:00+07:00",
        officer="0123456789abcdef",
        dossier="H56.14-260302-0001",
    )
    assert type(draft) is RefuseDraft
    body = draft.signable()
    assert "sig" not in body and body["beacon"] is None and body["action"] == "refuse"
    assert canonical(body).startswith(b'{"action":"refuse","beacon":null,')
    event = draft.signed(SIG)
    assert type(event) is RefuseEvent
    assert to_record(event) == make_event("refuse")
    assert event.signable() == body
    assert parse_draft(body) == draft


def test_draft_event_with_beacon_and_nfd_text() -> None:
    draft = draft_event(
        RefuseData(reason=unicodedata.normalize("NFD", "Hồ sơ giả mạo")),
        station="H56.14/1",
        seq=0,
        prev=ROOT,
        beacon=Beacon(origin="hub.example/hub", size=2, root=ROOT),
        claimed_time="2026-03-02T08:30:00Z",
        officer="0123456789abcdef",
        dossier="H56.14-260302-0001",
    )
    assert draft.signable()["data"]["reason"] == "Hồ sơ giả mạo"
    assert draft.signable()["beacon"] == {"origin": "hub.example/hub", "size": 2, "root": ROOT}


def test_draft_refuses_sig_and_signed_needs_it(make_event: MakeEvent) -> None:
    with pytest.raises(ValidationError):
        parse_draft(make_event("refuse"))
    assert messages(make_event("refuse", signed=False)) == ["Field required"]
    messages(make_event("refuse", sig=SIG + "A"))
    with pytest.raises(ValidationError):
        draft_event(
            RefuseData(reason="x"),
            station="H56.14/1",
            seq=0,
            prev=ROOT,
            beacon=None,
            claimed_time="2026-03-02T08:30:00Z",
            officer="0123456789abcdef",
        )  # a dossier action without a dossier


def test_receive_draft_builds_directly(make_event: MakeEvent) -> None:
    fields = make_event("receive", signed=False)
    draft = ReceiveDraft.model_validate(fields)
    assert draft.signable() == fields
    assert EVENT_ADAPTER.validate_python({**fields, "sig": SIG}).action == "receive"
