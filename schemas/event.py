"""Events (`commune.event/v1`): the entries of a station's log (DESIGN section 4).

Envelope fields, exactly: `type, station, seq, prev, beacon, claimed_time, officer, dossier,
action, data, sig`. `beacon` and `dossier` are always written (`null` when absent); everything
optional inside `data` is omitted when absent. Each action has its own data model, and one
envelope model per action pins `action` to a literal, so `Event` is a discriminated union on
`action` and an unknown action is an error.

Station-level actions (`station-open`, `officer-enrol`, `officer-retire`, `continuity`,
`calendar-update`) require `"dossier": null`; all other actions require a dossier code.

Drafts and signed events. Every action has two models: `<Name>Draft`, the event without `sig`
(what is signed), and `<Name>Event(<Name>Draft)`, which adds the required `sig`. To write an
event::

    draft = draft_event(RefuseData(reason="..."), station="H56.14/1", seq=7, prev=root,
                        beacon=None, claimed_time="2026-03-02T08:30:00+07:00",
                        officer=key_id, dossier="H56.14-260302-0001")
    body = draft.signable()          # the dict to sign (canonical bytes = schemas.canonical(body))
    event = draft.signed(sig_b64url) # the validated signed event; to_record(event) is the entry

A verifier checks the signature over the raw dict it received; `to_record(parse_event(raw)) ==
raw` additionally says the entry is in canonical form (NFC text, defaults written, no nulls).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal, Self, get_args

from pydantic import ConfigDict, Field, StrictInt, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

from schemas.catalog import ProcedureRef
from schemas.certificate import Certificate
from schemas.dossier import (
    Applicant,
    Channel,
    DossierDocument,
    DueInputs,
    Fee,
    Outcome,
    Representative,
    ReturnVia,
)
from schemas.office import Office
from schemas.types import (
    Count,
    Date,
    DossierCode,
    HashB64,
    KeyId,
    Label,
    OfficeCode,
    Origin,
    PositiveDong,
    Rating,
    RawText,
    Reason,
    Record,
    Rfc3339,
    SignatureB64,
    SignedRecord,
    StationNumber,
    StationRef,
    Summary,
    Version,
    to_record,
)

__all__ = [
    "ACTIONS",
    "DOSSIER_ACTIONS",
    "DRAFT_ADAPTER",
    "EVENT_ADAPTER",
    "EVENT_TYPE",
    "STATION_ACTIONS",
    "AcceptData",
    "AcceptDraft",
    "AcceptEvent",
    "Action",
    "ActionData",
    "Beacon",
    "CalendarUpdateData",
    "CalendarUpdateDraft",
    "CalendarUpdateEvent",
    "ContinuityData",
    "ContinuityDraft",
    "ContinuityEvent",
    "Event",
    "EventDraft",
    "OfficerEnrolData",
    "OfficerEnrolDraft",
    "OfficerEnrolEvent",
    "OfficerRetireData",
    "OfficerRetireDraft",
    "OfficerRetireEvent",
    "PayData",
    "PayDraft",
    "PayEvent",
    "RateData",
    "RateDraft",
    "RateEvent",
    "ReceiveData",
    "ReceiveDraft",
    "ReceiveEvent",
    "RefuseData",
    "RefuseDraft",
    "RefuseEvent",
    "RequestPaymentData",
    "RequestPaymentDraft",
    "RequestPaymentEvent",
    "RequestSupplementData",
    "RequestSupplementDraft",
    "RequestSupplementEvent",
    "RescheduleData",
    "RescheduleDraft",
    "RescheduleEvent",
    "ResolveData",
    "ResolveDraft",
    "ResolveEvent",
    "ReturnData",
    "ReturnDraft",
    "ReturnEvent",
    "StationOpenData",
    "StationOpenDraft",
    "StationOpenEvent",
    "StopData",
    "StopDraft",
    "StopEvent",
    "SupplementData",
    "SupplementDraft",
    "SupplementEvent",
    "TransferData",
    "TransferDraft",
    "TransferEvent",
    "WithdrawData",
    "WithdrawDraft",
    "WithdrawEvent",
    "draft_event",
    "parse_draft",
    "parse_event",
]

EVENT_TYPE: Final = "commune.event/v1"

Action = Literal[
    "station-open",
    "officer-enrol",
    "officer-retire",
    "continuity",
    "calendar-update",
    "receive",
    "request-supplement",
    "supplement",
    "refuse",
    "transfer",
    "accept",
    "request-payment",
    "pay",
    "stop",
    "withdraw",
    "reschedule",
    "resolve",
    "return",
    "rate",
]
ACTIONS: Final[tuple[str, ...]] = get_args(Action)
STATION_ACTIONS: Final = frozenset(ACTIONS[:5])
"""Actions about the station itself: their events carry `"dossier": null`."""
DOSSIER_ACTIONS: Final = frozenset(ACTIONS[5:])
"""Actions on one dossier: their events carry its code (the `commune act` actions + receive)."""


def _fail(code: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(code, message, context or None)


# --------------------------------------------------------------------------------------------
# Action data


class StationOpenData(Record):
    """First event of a station's log (and of each new epoch): who and where the station is."""

    office: Office
    station: StationNumber
    station_cert: Certificate
    epoch: Count

    @model_validator(mode="after")
    def _cert_matches(self) -> Self:
        cert = self.station_cert
        if (
            cert.role != "station"
            or cert.office != self.office.code
            or cert.station != self.station
        ):
            raise _fail(
                "station_cert", "Chứng thư trạm phải thuộc vai trò station, đúng đơn vị và số trạm"
            )
        return self


class OfficerEnrolData(Record):
    """An officer's certificate (signed by the station key) enters the log."""

    cert: Certificate
    title: Label | None = None
    """Job title (chức danh)."""

    @model_validator(mode="after")
    def _officer_role(self) -> Self:
        if self.cert.role != "officer":
            raise _fail("officer_cert", "Chứng thư ghi danh phải có vai trò officer")
        return self


class OfficerRetireData(Record):
    """An officer's key stops being used on this station (left, lost key, ...)."""

    key_id: KeyId
    reason: Reason


class ContinuityData(Record):
    """Opens a new epoch after a lost PC, naming the previous epoch's last cosigned checkpoint."""

    previous_origin: Origin
    checkpoint: RawText
    """Text of the last hub-cosigned checkpoint of the previous epoch, byte for byte."""
    reason: Reason


class CalendarUpdateData(Record):
    """A new working calendar: holidays and make-up working days (Saturdays) on top of the base."""

    version: Version
    holidays: list[Date] = Field(default_factory=list)
    makeup_workdays: list[Date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct_days(self) -> Self:
        for name, days in (("holidays", self.holidays), ("makeup_workdays", self.makeup_workdays)):
            if len(set(days)) != len(days):
                raise _fail("calendar_duplicate", "Ngày bị lặp trong danh sách {name}", name=name)
        both = sorted(set(self.holidays) & set(self.makeup_workdays))
        if both:
            raise _fail(
                "calendar_conflict",
                "Một ngày không thể vừa là ngày nghỉ vừa là ngày làm bù: {days}",
                days=", ".join(both),
            )
        return self


class Reattestation(Record):
    """A receipt that a lost station PC issued after its last hub-cosigned checkpoint, brought
    back by the citizen and re-attested by the replacement station (`commune reattest`): the
    old signed event and its officer's certificate, so an auditor can check both offline."""

    origin: Origin
    """The previous epoch's log, where the event was entry `event.seq`."""
    event: dict[str, Any]
    """The old signed `receive` event, as the receipt carries it."""
    cert: Certificate
    """The officer certificate of the old event (signed by the old station key)."""


class ReceiveData(Record):
    """Form 01: the dossier is accepted at the desk (Giấy tiếp nhận hồ sơ và hẹn trả kết quả)."""

    procedure: ProcedureRef
    applicant: Applicant
    representative: Representative | None = None
    channel: Channel = "direct"
    summary: Summary | None = None
    documents: list[DossierDocument] = Field(default_factory=list)
    sets: Annotated[StrictInt, Field(ge=1, le=99)] = 1
    fees: list[Fee] = Field(default_factory=list)
    received_at: Rfc3339
    due_at: Rfc3339 | None = None
    """Appointment for the result; absent when the procedure has no deadline."""
    due_inputs: DueInputs
    return_via: ReturnVia = "desk"
    book_row: Annotated[StrictInt, Field(ge=1)] | None = None
    """Row number in the tracking book (Sổ theo dõi hồ sơ)."""
    reattests: Reattestation | None = None
    """Set when this receipt re-attests one a lost PC issued (same code and data)."""


class RequestSupplementData(Record):
    """Form 02: papers to supply (the deadline clock pauses until they are supplied)."""

    reason: Reason
    documents: list[Label] = Field(default_factory=list)


class SupplementData(Record):
    """The applicant supplied what was asked; the deadline clock resumes."""

    note: Reason | None = None
    documents: list[DossierDocument] = Field(default_factory=list)
    due_at: Rfc3339 | None = None
    """The new appointment: the old one moved by the working time the dossier waited (computed
    by the station with the calendar of `due_inputs`, so every fold agrees without one)."""


class RefuseData(Record):
    """Form 03: refusal, with its reason."""

    reason: Reason


class TransferData(Record):
    """Sent to another agency (liên thông); it appears in that office's feed."""

    to: OfficeCode
    reason: Reason | None = None


class AcceptData(Record):
    """The receiving unit accepts a transferred dossier (or acknowledges a hand-off)."""

    note: Reason | None = None


class RequestPaymentData(Record):
    """The applicant must pay fees or taxes (nghĩa vụ tài chính) before processing continues."""

    amount: PositiveDong
    reason: Reason | None = None


class PayData(Record):
    """Payment collected."""

    amount: PositiveDong
    receipt_no: Label | None = None
    """Number of the fee receipt (biên lai), when one was issued."""


class StopData(Record):
    """Notice that processing is stopped (Thông báo dừng giải quyết hồ sơ)."""

    reason: Reason


class WithdrawData(Record):
    """The applicant withdraws the dossier."""

    reason: Reason | None = None


class RescheduleData(Record):
    """Apology and new appointment (Phiếu xin lỗi và hẹn lại ngày trả kết quả)."""

    new_due: Rfc3339
    reason: Reason


class ResolveData(Record):
    """Processing finished: the result is ready for return."""

    result: Reason
    """What was decided, in a sentence (e.g. "Đã cấp Giấy khai sinh số 123")."""
    outcome: Outcome = "approved"
    documents: list[Label] = Field(default_factory=list)
    """Result papers (giấy tờ kết quả)."""


class ReturnData(Record):
    """The result was handed over, at the desk or by post."""

    via: ReturnVia


class RateData(Record):
    """The applicant's satisfaction: 1 very satisfied, 2 satisfied, 3 not satisfied."""

    rating: Rating


ActionData = (
    StationOpenData
    | OfficerEnrolData
    | OfficerRetireData
    | ContinuityData
    | CalendarUpdateData
    | ReceiveData
    | RequestSupplementData
    | SupplementData
    | RefuseData
    | TransferData
    | AcceptData
    | RequestPaymentData
    | PayData
    | StopData
    | WithdrawData
    | RescheduleData
    | ResolveData
    | ReturnData
    | RateData
)


# --------------------------------------------------------------------------------------------
# Envelope


class Beacon(Record):
    """The latest hub checkpoint the station had seen: proves the event is not older than it."""

    origin: Origin
    size: Count
    root: HashB64


def _require_action(schema: dict[str, Any]) -> None:
    # `action` has a default so drafts can be built without repeating it, but the discriminated
    # unions need it in every input: say so in the exported schema.
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "action" not in required:
        required.append("action")


class _Envelope(SignedRecord):
    model_config = ConfigDict(json_schema_extra=_require_action)

    keep_null: ClassVar[tuple[str, ...]] = ("beacon", "dossier")

    type: Literal["commune.event/v1"] = "commune.event/v1"
    station: StationRef
    """`<office code>/<station number>` of the log this event belongs to."""
    seq: Count
    """Index of this event in the station's log."""
    prev: HashB64
    """Root of the log's Merkle tree of size `seq` (binds the event to the whole history)."""
    beacon: Beacon | None
    claimed_time: Rfc3339
    """The device clock when signed: a claim, bracketed by hub checkpoints."""
    officer: KeyId
    """Key id of the signing officer."""

    def signable(self) -> dict[str, Any]:
        """The record without `sig`: what the officer key signs (as canonical bytes)."""
        record = to_record(self)
        record.pop("sig", None)
        return record

    def signed(self, sig: str) -> Event:
        """This event with `sig` (base64url of the Ed25519 signature over `signable()`)."""
        return parse_event({**self.signable(), "sig": sig})


class _StationDraft(_Envelope):
    dossier: None
    """Always `null`: station-level actions concern no dossier."""


class _DossierDraft(_Envelope):
    dossier: DossierCode


def _station_of(ref: str) -> tuple[str, int]:
    office, _, number = ref.rpartition("/")
    return office, int(number)


class StationOpenDraft(_StationDraft):
    action: Literal["station-open"] = "station-open"
    data: StationOpenData

    @model_validator(mode="after")
    def _same_station(self) -> Self:
        if _station_of(self.station) != (self.data.office.code, self.data.station):
            raise _fail(
                "station_mismatch",
                "Trạm {station} không khớp với đơn vị và số trạm khai báo",
                station=self.station,
            )
        return self


class OfficerEnrolDraft(_StationDraft):
    action: Literal["officer-enrol"] = "officer-enrol"
    data: OfficerEnrolData

    @model_validator(mode="after")
    def _same_station(self) -> Self:
        cert = self.data.cert
        if _station_of(self.station) != (cert.office, cert.station):
            raise _fail(
                "station_mismatch",
                "Chứng thư cán bộ không thuộc trạm {station}",
                station=self.station,
            )
        return self


class OfficerRetireDraft(_StationDraft):
    action: Literal["officer-retire"] = "officer-retire"
    data: OfficerRetireData


class ContinuityDraft(_StationDraft):
    action: Literal["continuity"] = "continuity"
    data: ContinuityData


class CalendarUpdateDraft(_StationDraft):
    action: Literal["calendar-update"] = "calendar-update"
    data: CalendarUpdateData


class ReceiveDraft(_DossierDraft):
    action: Literal["receive"] = "receive"
    data: ReceiveData


class RequestSupplementDraft(_DossierDraft):
    action: Literal["request-supplement"] = "request-supplement"
    data: RequestSupplementData


class SupplementDraft(_DossierDraft):
    action: Literal["supplement"] = "supplement"
    data: SupplementData


class RefuseDraft(_DossierDraft):
    action: Literal["refuse"] = "refuse"
    data: RefuseData


class TransferDraft(_DossierDraft):
    action: Literal["transfer"] = "transfer"
    data: TransferData


class AcceptDraft(_DossierDraft):
    action: Literal["accept"] = "accept"
    data: AcceptData


class RequestPaymentDraft(_DossierDraft):
    action: Literal["request-payment"] = "request-payment"
    data: RequestPaymentData


class PayDraft(_DossierDraft):
    action: Literal["pay"] = "pay"
    data: PayData


class StopDraft(_DossierDraft):
    action: Literal["stop"] = "stop"
    data: StopData


class WithdrawDraft(_DossierDraft):
    action: Literal["withdraw"] = "withdraw"
    data: WithdrawData


class RescheduleDraft(_DossierDraft):
    action: Literal["reschedule"] = "reschedule"
    data: RescheduleData


class ResolveDraft(_DossierDraft):
    action: Literal["resolve"] = "resolve"
    data: ResolveData


class ReturnDraft(_DossierDraft):
    action: Literal["return"] = "return"
    data: ReturnData


class RateDraft(_DossierDraft):
    action: Literal["rate"] = "rate"
    data: RateData


# Signed events: the draft plus its signature.


class StationOpenEvent(StationOpenDraft):
    sig: SignatureB64


class OfficerEnrolEvent(OfficerEnrolDraft):
    sig: SignatureB64


class OfficerRetireEvent(OfficerRetireDraft):
    sig: SignatureB64


class ContinuityEvent(ContinuityDraft):
    sig: SignatureB64


class CalendarUpdateEvent(CalendarUpdateDraft):
    sig: SignatureB64


class ReceiveEvent(ReceiveDraft):
    sig: SignatureB64


class RequestSupplementEvent(RequestSupplementDraft):
    sig: SignatureB64


class SupplementEvent(SupplementDraft):
    sig: SignatureB64


class RefuseEvent(RefuseDraft):
    sig: SignatureB64


class TransferEvent(TransferDraft):
    sig: SignatureB64


class AcceptEvent(AcceptDraft):
    sig: SignatureB64


class RequestPaymentEvent(RequestPaymentDraft):
    sig: SignatureB64


class PayEvent(PayDraft):
    sig: SignatureB64


class StopEvent(StopDraft):
    sig: SignatureB64


class WithdrawEvent(WithdrawDraft):
    sig: SignatureB64


class RescheduleEvent(RescheduleDraft):
    sig: SignatureB64


class ResolveEvent(ResolveDraft):
    sig: SignatureB64


class ReturnEvent(ReturnDraft):
    sig: SignatureB64


class RateEvent(RateDraft):
    sig: SignatureB64


EventDraft = Annotated[
    StationOpenDraft
    | OfficerEnrolDraft
    | OfficerRetireDraft
    | ContinuityDraft
    | CalendarUpdateDraft
    | ReceiveDraft
    | RequestSupplementDraft
    | SupplementDraft
    | RefuseDraft
    | TransferDraft
    | AcceptDraft
    | RequestPaymentDraft
    | PayDraft
    | StopDraft
    | WithdrawDraft
    | RescheduleDraft
    | ResolveDraft
    | ReturnDraft
    | RateDraft,
    Field(discriminator="action"),
]
"""An event before signing (no `sig`)."""

Event = Annotated[
    StationOpenEvent
    | OfficerEnrolEvent
    | OfficerRetireEvent
    | ContinuityEvent
    | CalendarUpdateEvent
    | ReceiveEvent
    | RequestSupplementEvent
    | SupplementEvent
    | RefuseEvent
    | TransferEvent
    | AcceptEvent
    | RequestPaymentEvent
    | PayEvent
    | StopEvent
    | WithdrawEvent
    | RescheduleEvent
    | ResolveEvent
    | ReturnEvent
    | RateEvent,
    Field(discriminator="action"),
]
"""A signed event: one entry of a station's log."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
DRAFT_ADAPTER: TypeAdapter[EventDraft] = TypeAdapter(EventDraft)

_ACTION_OF_DATA: Final[dict[type[Record], str]] = {
    StationOpenData: "station-open",
    OfficerEnrolData: "officer-enrol",
    OfficerRetireData: "officer-retire",
    ContinuityData: "continuity",
    CalendarUpdateData: "calendar-update",
    ReceiveData: "receive",
    RequestSupplementData: "request-supplement",
    SupplementData: "supplement",
    RefuseData: "refuse",
    TransferData: "transfer",
    AcceptData: "accept",
    RequestPaymentData: "request-payment",
    PayData: "pay",
    StopData: "stop",
    WithdrawData: "withdraw",
    RescheduleData: "reschedule",
    ResolveData: "resolve",
    ReturnData: "return",
    RateData: "rate",
}


def parse_event(obj: Any) -> Event:
    """Validate a signed event (a dict parsed from JSON); raises pydantic.ValidationError."""
    return EVENT_ADAPTER.validate_python(obj)


def parse_draft(obj: Any) -> EventDraft:
    """Validate an unsigned event (no `sig`); raises pydantic.ValidationError."""
    return DRAFT_ADAPTER.validate_python(obj)


def draft_event(
    data: ActionData,
    *,
    station: str,
    seq: int,
    prev: str,
    beacon: Beacon | None,
    claimed_time: str,
    officer: str,
    dossier: str | None = None,
) -> EventDraft:
    """Build and validate an unsigned event; the action follows from the type of `data`."""
    return parse_draft(
        {
            "type": EVENT_TYPE,
            "station": station,
            "seq": seq,
            "prev": prev,
            "beacon": beacon,
            "claimed_time": claimed_time,
            "officer": officer,
            "dossier": dossier,
            "action": _ACTION_OF_DATA[type(data)],
            "data": data,
        }
    )
