"""Dossiers (hồ sơ): the people and papers of a `receive` event, and the dossier state record.

`Dossier` is the projection that stations and the hub expose: a fold over the dossier's events,
rebuildable from the ledger at any time (DESIGN section 4). `DossierStatus` is the finer local
state machine; `PORTAL_STATUS` maps it to the provincial portal's TrangThaiHoSo codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from pydantic import (
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.catalog import ProcedureRef
from schemas.types import (
    Address,
    ApplicantKind,
    Count,
    Date,
    Dong,
    DossierCode,
    Email,
    HourMinute,
    IdKind,
    Label,
    Name,
    OfficeCode,
    OfficeHours,
    Phone,
    Rating,
    Record,
    Rfc3339,
    Sha256Hex,
    StationRef,
    Summary,
    TimeUnit,
    Version,
    check_id_number,
)

__all__ = [
    "PORTAL_CHANNEL",
    "PORTAL_RETURN_VIA",
    "PORTAL_STATUS",
    "STATUS_LABEL_VI",
    "Applicant",
    "Channel",
    "Dossier",
    "DossierDocument",
    "DossierStatus",
    "DueInputs",
    "Fee",
    "IdNumber",
    "Outcome",
    "Representative",
    "ReturnVia",
]

Channel = Literal["direct", "online", "postal"]
ReturnVia = Literal["desk", "post"]
Outcome = Literal["approved", "denied"]

PORTAL_CHANNEL: Final[dict[str, int]] = {"direct": 1, "online": 2, "postal": 3}
"""KenhThucHien: 1 direct at the desk, 2 online, 3 public postal service."""

PORTAL_RETURN_VIA: Final[dict[str, int]] = {"desk": 0, "post": 1}
"""HinhThuc (how the result is returned): 0 at the desk, 1 by post."""

IdNumber = Annotated[
    StrictStr,
    WithJsonSchema({"type": "string", "pattern": r"^[0-9A-Z]{6,20}$"}),
]
"""An identity number; its rule depends on the `id_kind` beside it (see `check_id_number`)."""

FeeCode = Annotated[StrictStr, Field(pattern=r"^[0-9A-Za-z._-]{1,40}$")]


def _id_number(value: str, info: ValidationInfo) -> str:
    kind = info.data.get("id_kind")
    if kind is None:  # id_kind itself was invalid and already reported
        return value
    return check_id_number(kind, value)


class Applicant(Record):
    """The applicant (chủ hồ sơ), as written on Form 01.

    `id_kind`: 1 CCCD (12 digits), 2 CMND (9 digits), 3 passport (6-20 letters or digits; our
    addition, the portal knows only 1 and 2). Passport numbers are stored upper-case.
    """

    name: Name
    kind: ApplicantKind = 1
    id_kind: IdKind = 1
    id_number: IdNumber
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    birth_date: Date | None = None

    @field_validator("id_number")
    @classmethod
    def _check_id(cls, value: str, info: ValidationInfo) -> str:
        return _id_number(value, info)


class Representative(Record):
    """An authorised representative who files for the applicant (người được ủy quyền)."""

    name: Name
    id_kind: IdKind = 1
    id_number: IdNumber
    phone: Phone | None = None

    @field_validator("id_number")
    @classmethod
    def _check_id(cls, value: str, info: ValidationInfo) -> str:
        return _id_number(value, info)


class DossierDocument(Record):
    """One paper handed in: name, number of originals and copies, optional scan (blob hash)."""

    name: Label
    originals: Count = 1
    copies: Count = 0
    blob: Sha256Hex | None = None
    """SHA-256 (hex) of the scanned file, a content-addressed blob synced separately."""


class Fee(Record):
    """A fee or charge (phí, lệ phí) collected for the dossier."""

    name: Label
    code: FeeCode | None = None
    amount: Dong


class DueInputs(Record):
    """Everything the due date was computed from, so it can be recomputed and audited."""

    time_limit: Count
    time_unit: TimeUnit
    calendar_version: Version
    cutoff: HourMinute
    """Receipts after this hour count from the next working morning."""
    office_hours: Annotated[list[OfficeHours], Field(min_length=1)]
    """Blocks of office hours in order, e.g. `["07:00-11:30", "13:30-17:00"]`."""

    @model_validator(mode="after")
    def _hours_in_order(self) -> Self:
        end = ""
        for block in self.office_hours:
            start, _, stop = block.partition("-")
            if start < end:
                raise PydanticCustomError(
                    "office_hours_order", "Các khung giờ làm việc phải theo thứ tự, không chồng lấn"
                )
            end = stop
        return self


class DossierStatus(StrEnum):
    """The local state of a dossier (finer than the portal's; see `PORTAL_STATUS`)."""

    SUBMITTED = "submitted"
    """Filed online, not yet checked at the desk (portal 1). No local action produces it yet."""
    RECEIVED = "received"
    """Accepted at the desk, Form 01 issued (portal 2)."""
    SUPPLEMENT_REQUESTED = "supplement_requested"
    """Waiting for the applicant to supply papers, Form 02; the deadline clock pauses (portal 5)."""
    REFUSED = "refused"
    """Refused, Form 03 (portal 3)."""
    TRANSFERRED = "transferred"
    """Sent to another agency for decision (liên thông); still being processed (portal 4)."""
    PROCESSING = "processing"
    """Being processed by the competent unit (portal 4)."""
    AWAITING_PAYMENT = "awaiting_payment"
    """Waiting for the applicant's fees or taxes (portal 6)."""
    STOPPED = "stopped"
    """Processing stopped by notice (Thông báo dừng giải quyết) (portal 8)."""
    WITHDRAWN = "withdrawn"
    """Withdrawn by the applicant (portal 7)."""
    RESOLVED = "resolved"
    """Processed, result ready for return (portal 9)."""
    RETURNED = "returned"
    """Result handed to the applicant, at the desk or by post (portal 10)."""


PORTAL_STATUS: Final[dict[DossierStatus, int]] = {
    DossierStatus.SUBMITTED: 1,  # Mới đăng ký (online, chưa tiếp nhận)
    DossierStatus.RECEIVED: 2,  # Được tiếp nhận
    DossierStatus.REFUSED: 3,  # Không được tiếp nhận
    DossierStatus.TRANSFERRED: 4,  # Đang xử lý (at the receiving agency)
    DossierStatus.PROCESSING: 4,  # Đang xử lý
    DossierStatus.SUPPLEMENT_REQUESTED: 5,  # Yêu cầu bổ sung giấy tờ
    DossierStatus.AWAITING_PAYMENT: 6,  # Yêu cầu thực hiện nghĩa vụ tài chính
    DossierStatus.WITHDRAWN: 7,  # Công dân yêu cầu rút hồ sơ
    DossierStatus.STOPPED: 8,  # Dừng xử lý
    DossierStatus.RESOLVED: 9,  # Đã xử lý xong
    DossierStatus.RETURNED: 10,  # Đã trả kết quả
}
"""Local status -> portal TrangThaiHoSo (DOMAIN "Portal status codes"), used at the boundary."""

STATUS_LABEL_VI: Final[dict[DossierStatus, str]] = {
    DossierStatus.SUBMITTED: "Chờ tiếp nhận",
    DossierStatus.RECEIVED: "Đã tiếp nhận",
    DossierStatus.SUPPLEMENT_REQUESTED: "Chờ bổ sung hồ sơ",
    DossierStatus.REFUSED: "Từ chối tiếp nhận",
    DossierStatus.TRANSFERRED: "Đã chuyển liên thông",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.AWAITING_PAYMENT: "Chờ thực hiện nghĩa vụ tài chính",
    DossierStatus.STOPPED: "Dừng giải quyết",
    DossierStatus.WITHDRAWN: "Đã rút hồ sơ",
    DossierStatus.RESOLVED: "Đã có kết quả",
    DossierStatus.RETURNED: "Đã trả kết quả",
}


class Dossier(Record):
    """A dossier's state: the fold over its events (identical at the station and the hub).

    `version` is the number of the dossier's events applied; the portal outbox is idempotent by
    (code, version). The `*_at` fields are the `claimed_time` or data times of the events that set
    them; `paused_seconds` is the supplement time that does not count against the deadline.
    """

    code: DossierCode
    station: StationRef
    """The station that received it."""
    seq: Count
    """Log index of the `receive` event in the receiving station's log."""
    handling_office: OfficeCode | None = None
    """The office now handling it, after a transfer (liên thông); absent while at the receiver."""
    procedure: ProcedureRef
    applicant: Applicant
    representative: Representative | None = None
    channel: Channel
    summary: Summary | None = None
    status: DossierStatus
    received_at: Rfc3339
    due_at: Rfc3339 | None = None
    """Current due date (moved by supplements and reschedules); absent: no deadline."""
    due_inputs: DueInputs
    documents: list[DossierDocument] = Field(default_factory=list)
    sets: Annotated[StrictInt, Field(ge=1, le=99)] = 1
    fees: list[Fee] = Field(default_factory=list)
    return_via: ReturnVia = "desk"
    book_row: Annotated[StrictInt, Field(ge=1)] | None = None
    outcome: Outcome | None = None
    resolved_at: Rfc3339 | None = None
    returned_at: Rfc3339 | None = None
    refused_at: Rfc3339 | None = None
    stopped_at: Rfc3339 | None = None
    withdrawn_at: Rfc3339 | None = None
    supplement_rounds: Count = 0
    paused_seconds: Count = 0
    paused_at: Rfc3339 | None = None
    """When the open supplement request was made (the deadline clock is paused since)."""
    resume_status: DossierStatus | None = None
    """The status to return to when the supplement arrives."""
    rating: Rating | None = None
    conflicts: Count = 0
    """Events kept but marked `conflict` (invalid in the state they landed on, DESIGN 6)."""
    updated_at: Rfc3339 | None = None
    """`claimed_time` of the last event applied."""
    version: Annotated[StrictInt, Field(ge=1)]
