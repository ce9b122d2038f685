"""Biểu 06 (Circular 01/2020/TT-VPCP, "II.06a" for service centres) as pure functions.

No I/O and no Textual: the input is any iterable of dossier records, i.e. mappings shaped like
`schemas.types.to_record(schemas.dossier.Dossier)` (keys `code`, `procedure{field,...}`,
`channel`, `status`, `received_at`, `due_at`, `resolved_at`, `returned_at`, `refused_at`,
`stopped_at`, `withdrawn_at`, `supplement_rounds`...). Times are RFC 3339 strings; every
comparison below is between **dates in Vietnam local time (+07:00)**: an instant is converted to
+07:00 and its calendar date is used. A time without an offset is taken as +07:00. The period
`[date_from, date_to]` is inclusive at both ends.

Definitions (DOMAIN "Reports"):

- A dossier is **refused** when its status is `refused` or it has `refused_at`. It was never
  accepted for processing, so it is left out of received/resolved/pending/withdrawn/stopped
  entirely; it appears only in `refused`, counted when its refusal date (`refused_at`, else
  `received_at`) falls in the period. A dossier still `submitted` (filed online, not yet accepted
  at the desk) is not counted anywhere either.
- A dossier is **closed** at the earliest of: end of processing (`resolved_at`; `returned_at`
  when `resolved_at` is missing, since the return follows the resolution), `stopped_at`,
  `withdrawn_at`. The closing kind is the one that came first. A record whose status says it is
  resolved/returned/stopped/withdrawn but lacks the matching time is closed at `updated_at`
  (else at `received_at`), so it is never reported as pending forever. A closing date earlier
  than the receipt date (a wrong clock) counts as the receipt date.
- **received** (not refused): `online` = channel `online` and received in the period;
  `direct_or_postal` = channel `direct` or `postal` and received in the period; `carried_over` =
  received before `from` and not closed before `from` (closed on/after `from`, or still open);
  `total` = online + direct_or_postal + carried_over.
- **resolved**: processing ended (`resolved` closing) with its date in the period. `early` when
  the end date < due date; `on_time` when the end date == due date or there is no due date;
  `late` when the end date > due date. `due_at` is the dossier's current due date (already moved
  by supplements and reschedules).
- **pending** at the end of `to`: received on/before `to` and not closed on/before `to`.
  `within_deadline` when due date >= `to` or no due date; `overdue` when due date < `to`.
- **withdrawn** / **stopped**: the closing is a withdrawal / a stop with its date in the period
  (stopped dossiers are not resolved).

So every dossier counted in `received.total` is exactly one of: resolved in the period,
withdrawn in the period, stopped in the period, pending at `to`; hence the identity
`received.total == resolved.total + withdrawn + stopped + pending.total`, per field and in total.

National service index (Decision 766/QĐ-TTg): over the dossiers of the period (resolved in the
period, withdrawn in the period, pending at `to`),

    on_time_rate = (resolved.early + resolved.on_time + withdrawn + pending.within_deadline
                    - late_by_supplement)
                   / (resolved.total + withdrawn + pending.total)

`None` when the denominator is 0; an exact float in [0, 1], not rounded. More than one
supplement request counts as late for the national index: `late_by_supplement` is the number of
dossiers with `supplement_rounds > 1` that would otherwise be on time, i.e. resolved early or on
time, or pending within the deadline. Withdrawn dossiers always count as on time (a withdrawal
is the applicant's act). Stopped dossiers are outside the index. `more_than_one_supplement`
reports how many dossiers of the index (numerator or not) had `supplement_rounds > 1`.

The extra lists (`due_within_24h`, `overdue`, `awaiting_supplement`) compare instants with a
given `now`, not dates: they are the desk's to-do lists, not the Biểu 06 columns.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, TypedDict, TypeVar

__all__ = [
    "UNKNOWN_FIELD",
    "VN_TZ",
    "Bieu06",
    "DossierFacts",
    "FieldReport",
    "PendingCounts",
    "Period",
    "ReceivedCounts",
    "ResolvedCounts",
    "awaiting_supplement",
    "bieu06",
    "dossier_facts",
    "due_within_24h",
    "overdue",
]

VN_TZ = timezone(timedelta(hours=7), "ICT")
"""Vietnam local time (Asia/Ho_Chi_Minh has no daylight saving time: a fixed +07:00)."""

UNKNOWN_FIELD = "(Chưa xác định lĩnh vực)"
"""Group of dossiers whose procedure has no field (lĩnh vực)."""

R = TypeVar("R", bound=Mapping[str, Any])

ClosingKind = Literal["resolved", "stopped", "withdrawn"]


class ReceivedCounts(TypedDict):
    total: int
    online: int
    direct_or_postal: int
    carried_over: int


class ResolvedCounts(TypedDict):
    total: int
    early: int
    on_time: int
    late: int


class PendingCounts(TypedDict):
    total: int
    within_deadline: int
    overdue: int


class FieldReport(TypedDict):
    field: str
    received: ReceivedCounts
    resolved: ResolvedCounts
    pending: PendingCounts
    withdrawn: int
    stopped: int
    refused: int
    more_than_one_supplement: int


Period = TypedDict("Period", {"from": str, "to": str})
"""`{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}` (`from` is a Python keyword)."""


class Bieu06(TypedDict):
    """The report: the top-level groups are the totals, `by_field` the same groups per field."""

    period: Period
    received: ReceivedCounts
    resolved: ResolvedCounts
    pending: PendingCounts
    withdrawn: int
    stopped: int
    refused: int
    more_than_one_supplement: int
    on_time_rate: float | None
    by_field: list[FieldReport]


# --------------------------------------------------------------------------------------------
# Reading records


def _code(record: Mapping[str, Any]) -> str:
    code = record.get("code")
    return code if isinstance(code, str) else "?"


def _instant(record: Mapping[str, Any], key: str) -> datetime | None:
    """The time under `key` as an aware datetime in +07:00, or None when absent."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"Hồ sơ {_code(record)}: {key} phải là chuỗi thời gian RFC 3339")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"Hồ sơ {_code(record)}: {key} không phải thời gian hợp lệ: {value!r}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=VN_TZ)
    return parsed.astimezone(VN_TZ)


def _field_name(record: Mapping[str, Any]) -> str:
    procedure = record.get("procedure")
    if isinstance(procedure, Mapping):
        name = procedure.get("field")
        if isinstance(name, str) and name.strip():
            return unicodedata.normalize("NFC", name.strip())
    return UNKNOWN_FIELD


_CLOSED_STATUS: dict[str, ClosingKind] = {
    "resolved": "resolved",
    "returned": "resolved",
    "stopped": "stopped",
    "withdrawn": "withdrawn",
}


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the report needs of one accepted (not refused) dossier."""

    field: str
    channel: str
    received: date
    due: date | None
    closing: ClosingKind | None
    closed: date | None
    supplement_rounds: int


def _closing(record: Mapping[str, Any], received: datetime) -> tuple[ClosingKind, datetime] | None:
    end = _instant(record, "resolved_at") or _instant(record, "returned_at")
    options: tuple[tuple[ClosingKind, datetime | None], ...] = (
        ("resolved", end),
        ("withdrawn", _instant(record, "withdrawn_at")),
        ("stopped", _instant(record, "stopped_at")),
    )
    candidates = [(at, rank, kind) for rank, (kind, at) in enumerate(options) if at is not None]
    if not candidates:
        kind_by_status = _CLOSED_STATUS.get(str(record.get("status")))
        if kind_by_status is None:
            return None
        at = _instant(record, "updated_at") or received
        return kind_by_status, at
    at, _, kind = min(candidates)
    return kind, at


def _is_refused(record: Mapping[str, Any]) -> bool:
    return record.get("status") == "refused" or record.get("refused_at") is not None


def _facts(record: Mapping[str, Any]) -> _Facts | None:
    """None for a refused or not yet accepted (`submitted`) dossier."""
    if _is_refused(record) or record.get("status") == "submitted":
        return None
    received = _instant(record, "received_at")
    if received is None:
        raise ValueError(f"Hồ sơ {_code(record)}: thiếu received_at")
    due = _instant(record, "due_at")
    closing = _closing(record, received)
    rounds = record.get("supplement_rounds", 0)
    if isinstance(rounds, bool) or not isinstance(rounds, int):
        rounds = 0
    closed: date | None = None
    kind: ClosingKind | None = None
    if closing is not None:
        kind = closing[0]
        closed = max(closing[1].date(), received.date())
    return _Facts(
        field=_field_name(record),
        channel=str(record.get("channel", "direct")),
        received=received.date(),
        due=None if due is None else due.date(),
        closing=kind,
        closed=closed,
        supplement_rounds=rounds,
    )


DossierFacts = _Facts
"""What Biểu 06 needs of one accepted dossier (public for the hub's aggregates)."""


def dossier_facts(record: Mapping[str, Any]) -> DossierFacts | None:
    """The report's view of one dossier record; None when it is refused or not yet accepted.
    Raises ValueError on a record with a bad time."""
    return _facts(record)


# --------------------------------------------------------------------------------------------
# Counting


@dataclass(slots=True)
class _Counts:
    online: int = 0
    direct_or_postal: int = 0
    carried_over: int = 0
    early: int = 0
    on_time: int = 0
    late: int = 0
    within_deadline: int = 0
    overdue: int = 0
    withdrawn: int = 0
    stopped: int = 0
    refused: int = 0
    more_than_one_supplement: int = 0
    late_by_supplement: int = 0

    def add(self, facts: _Facts, start: date, end: date) -> None:
        if facts.received > end:
            return
        if facts.closed is not None and facts.closed < start:
            return  # closed before the period: not part of it
        if facts.received < start:
            self.carried_over += 1
        elif facts.channel == "online":
            self.online += 1
        else:
            self.direct_or_postal += 1
        multi = facts.supplement_rounds > 1
        if facts.closed is not None and facts.closed <= end:
            in_index = facts.closing != "stopped"
            if facts.closing == "resolved":
                if facts.due is None or facts.closed == facts.due:
                    self.on_time += 1
                    self.late_by_supplement += int(multi)
                elif facts.closed < facts.due:
                    self.early += 1
                    self.late_by_supplement += int(multi)
                else:
                    self.late += 1
            elif facts.closing == "withdrawn":
                self.withdrawn += 1
            else:
                self.stopped += 1
        else:
            in_index = True
            if facts.due is None or facts.due >= end:
                self.within_deadline += 1
                self.late_by_supplement += int(multi)
            else:
                self.overdue += 1
        if in_index:
            self.more_than_one_supplement += int(multi)

    def merge(self, other: _Counts) -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def received(self) -> ReceivedCounts:
        return {
            "total": self.online + self.direct_or_postal + self.carried_over,
            "online": self.online,
            "direct_or_postal": self.direct_or_postal,
            "carried_over": self.carried_over,
        }

    def resolved(self) -> ResolvedCounts:
        return {
            "total": self.early + self.on_time + self.late,
            "early": self.early,
            "on_time": self.on_time,
            "late": self.late,
        }

    def pending(self) -> PendingCounts:
        return {
            "total": self.within_deadline + self.overdue,
            "within_deadline": self.within_deadline,
            "overdue": self.overdue,
        }

    def on_time_rate(self) -> float | None:
        denominator = (
            self.early + self.on_time + self.late + self.withdrawn + self.within_deadline
        ) + self.overdue
        if denominator == 0:
            return None
        numerator = (
            self.early + self.on_time + self.withdrawn + self.within_deadline
        ) - self.late_by_supplement
        return numerator / denominator


_COUNTERS = (
    "online",
    "direct_or_postal",
    "carried_over",
    "early",
    "on_time",
    "late",
    "within_deadline",
    "overdue",
    "withdrawn",
    "stopped",
    "refused",
    "more_than_one_supplement",
    "late_by_supplement",
)


def _sort_key(name: str) -> tuple[str, str]:
    """Vietnamese reading order, near enough: ignore diacritics (đ as d), then exact text."""
    folded = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return plain.casefold(), name


def _check_period(date_from: date, date_to: date) -> None:
    for value in (date_from, date_to):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError("date_from và date_to phải là ngày (datetime.date), không kèm giờ")
    if date_from > date_to:
        raise ValueError(
            f"Ngày bắt đầu phải trước ngày kết thúc (từ {date_from.isoformat()}"
            f" đến {date_to.isoformat()})"
        )


def bieu06(dossiers: Iterable[Mapping[str, Any]], date_from: date, date_to: date) -> Bieu06:
    """The Biểu 06 report for `[date_from, date_to]` (inclusive, +07:00 dates); see the module
    docstring for every definition. Raises ValueError on an inverted period or a bad record."""
    _check_period(date_from, date_to)
    groups: dict[str, _Counts] = {}
    for record in dossiers:
        name = _field_name(record)
        counts = groups.get(name)
        if counts is None:
            counts = groups[name] = _Counts()
        if _is_refused(record):
            at = _instant(record, "refused_at") or _instant(record, "received_at")
            if at is not None and date_from <= at.date() <= date_to:
                counts.refused += 1
            continue
        facts = _facts(record)
        if facts is not None:
            counts.add(facts, date_from, date_to)

    total = _Counts()
    by_field: list[FieldReport] = []
    for name in sorted(groups, key=_sort_key):
        counts = groups[name]
        total.merge(counts)
        by_field.append(
            {
                "field": name,
                "received": counts.received(),
                "resolved": counts.resolved(),
                "pending": counts.pending(),
                "withdrawn": counts.withdrawn,
                "stopped": counts.stopped,
                "refused": counts.refused,
                "more_than_one_supplement": counts.more_than_one_supplement,
            }
        )
    return {
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "received": total.received(),
        "resolved": total.resolved(),
        "pending": total.pending(),
        "withdrawn": total.withdrawn,
        "stopped": total.stopped,
        "refused": total.refused,
        "more_than_one_supplement": total.more_than_one_supplement,
        "on_time_rate": total.on_time_rate(),
        "by_field": by_field,
    }


# --------------------------------------------------------------------------------------------
# The desk's lists


def _now(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise TypeError("now phải là datetime")
    return now.replace(tzinfo=VN_TZ) if now.tzinfo is None else now.astimezone(VN_TZ)


def _open_with_due(dossiers: Iterable[R]) -> list[tuple[datetime, str, R]]:
    """Open dossiers (accepted, not refused, not closed) that have a due date."""
    out: list[tuple[datetime, str, R]] = []
    for record in dossiers:
        facts = _facts(record)
        if facts is None or facts.closing is not None:
            continue
        due = _instant(record, "due_at")
        if due is not None:
            out.append((due, _code(record), record))
    return out


def due_within_24h(dossiers: Iterable[R], now: datetime) -> list[R]:
    """Open dossiers due in the next 24 hours (`now <= due_at < now + 24 h`), soonest first.

    A naive `now` is taken as +07:00."""
    start = _now(now)
    stop = start + timedelta(hours=24)
    found = [item for item in _open_with_due(dossiers) if start <= item[0] < stop]
    return [record for _, _, record in sorted(found, key=lambda item: item[:2])]


def overdue(dossiers: Iterable[R], now: datetime) -> list[R]:
    """Open dossiers whose due time has passed (`due_at < now`), most overdue first."""
    start = _now(now)
    found = [item for item in _open_with_due(dossiers) if item[0] < start]
    return [record for _, _, record in sorted(found, key=lambda item: item[:2])]


def awaiting_supplement(dossiers: Iterable[R]) -> list[R]:
    """Dossiers waiting for the applicant's supplement (status `supplement_requested`), oldest
    receipt first."""
    found: list[tuple[datetime, str, R]] = []
    for record in dossiers:
        if record.get("status") != "supplement_requested":
            continue
        received = _instant(record, "received_at")
        found.append((received or datetime.min.replace(tzinfo=VN_TZ), _code(record), record))
    return [record for _, _, record in sorted(found, key=lambda item: item[:2])]
