"""The working calendar and due-date arithmetic (DOMAIN "Deadlines"): pure functions, no I/O.

Time
    Every datetime is timezone-aware and handled in Vietnam time, `VN_TZ` (UTC+07:00; Vietnam has
    no daylight saving time, so a fixed offset is exact). Inputs with another offset are converted
    first; naive datetimes are refused with `ValueError`. Arithmetic is to the whole second
    (microseconds are dropped on input).

Working days
    Monday to Friday, minus holidays, plus make-up working days (Saturdays the government declares
    working days). Holidays and make-up days come from the `holidays` package's Vietnam calendar
    (it computes the lunar dates: Tết 2026-02-17, 2027-02-06, and the government's published day
    swaps, e.g. Saturday 2026-08-22 worked for Monday 2026-08-31 off), corrected by a versioned
    override table pushed from the hub (`CalendarOverrides`): added holidays, added make-up working
    days, removed holidays. A holiday always wins over a make-up day; to turn a holiday into a
    working day, remove it. `Calendar.version` names both sources, so a stored due date says which
    calendar produced it.

Office hours
    Configurable blocks, default 07:00-11:30 and 13:30-17:00: one working day = 8 working hours.
    The cut-off (default 17:00; a procedure may have its own, e.g. 15:00) decides where counting
    starts (`adjusted_start`):

    - a receipt after the cut-off, or on a non-working day, counts from the opening time of the
      next working day;
    - a receipt before opening on a working day counts from that day's opening time;
    - a receipt during a break (lunch) counts from the start of the next block (13:30);
    - blocks are half-open for this purpose: a receipt at exactly 11:30 counts from 13:30, one at
      exactly 17:00 from the next working morning (no working time is left that day anyway).

Time limits (`compute_due`)
    - `working_days` N: start + N x (working seconds of one day), walking the office hours across
      working days (Monday 09:15 + 1 working day = Tuesday 09:15; Friday 16:00 + 1 = Monday 16:00).
    - `working_hours` N: start + N working hours, the same way.
    - A due time that lands exactly at the end of a block stays there: 17:00 (or 11:30) of that
      day, not the next block's opening.
    - `calendar_days` N: start + N days at the same clock time; if that day is not a working day,
      the due date moves to the next working day at the same clock time (our decision: a result
      cannot be returned on a day the desk is closed).
    - limit 0 (on-the-spot procedures): due = the adjusted start.

Supplement pause
    The deadline moves by the working time between the supplement request and the supplement, so a
    pause over a weekend or a holiday does not stretch it by the days off (`shift_for_pause`).

Reports (Biểu 06)
    `timeliness` compares dates, as the report does: early if the end of processing is on a day
    before the due day, on time on the due day (or when there is no due date), late after it.

Audit
    `due_inputs` returns the `schemas.dossier.DueInputs` dict of a computation (limit, unit,
    calendar version, cut-off, office hours); `hours_from_inputs` and `recompute_due` rebuild the
    computation from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal

from holidays.utils import country_holidays
from holidays.version import __version__ as _PACKAGE_VERSION

__all__ = [
    "DEFAULT_HOURS",
    "TIME_UNITS",
    "VN_TZ",
    "Calendar",
    "CalendarOverrides",
    "OfficeHours",
    "add_working_seconds",
    "adjusted_start",
    "compute_due",
    "due_inputs",
    "format_vn",
    "hours_from_inputs",
    "parse_rfc3339",
    "recompute_due",
    "shift_for_pause",
    "timeliness",
    "to_rfc3339",
    "to_vn",
    "working_seconds_between",
]

VN_TZ = timezone(timedelta(hours=7))
"""Asia/Ho_Chi_Minh: UTC+07:00 all year."""

TIME_UNITS = ("working_days", "calendar_days", "working_hours")
"""The values of `schemas.types.TimeUnit`."""

_DAY = timedelta(days=1)
_HHMM_RE = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
_VERSION_RE = re.compile(r"[A-Za-z0-9._-]{1,25}")
_ADDED_HOLIDAY_NAME = "Ngày nghỉ (điều chỉnh)"


# --------------------------------------------------------------------------------------------
# Time helpers


def to_vn(value: datetime) -> datetime:
    """`value` in Vietnam time, to the whole second; naive datetimes are refused."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} refused: give a UTC offset")
    return value.astimezone(VN_TZ).replace(microsecond=0)


def _hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _parse_hhmm(value: str | time, what: str) -> time:
    if isinstance(value, time):
        return value
    text = value.strip()
    if _HHMM_RE.fullmatch(text) is None:
        raise ValueError(f"{what} {value!r} is not a time HH:MM (24 h), e.g. 07:00")
    return time(int(text[:2]), int(text[3:]))


def _seconds(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def _at(day: date, seconds: int) -> datetime:
    """The instant `seconds` after midnight of `day`, in Vietnam time."""
    return datetime(day.year, day.month, day.day, tzinfo=VN_TZ) + timedelta(seconds=seconds)


# --------------------------------------------------------------------------------------------
# Office hours


@dataclass(frozen=True)
class OfficeHours:
    """Blocks of office hours in order, and the default cut-off of receipts."""

    blocks: tuple[tuple[time, time], ...]
    cutoff: time
    _spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ValueError("office hours need at least one block, e.g. 07:00-11:30")
        spans: list[tuple[int, int]] = []
        previous_end: time | None = None
        for block in self.blocks:
            if len(block) != 2:
                raise ValueError(f"an office-hours block is (start, end), got {block!r}")
            start, end = block
            for value in (start, end):
                _check_clock(value, "office hours")
            label = f"{_hhmm(start)}-{_hhmm(end)}"
            if not start < end:
                raise ValueError(f"office-hours block {label}: the start must be before the end")
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"office-hours block {label} starts before the previous block ends at "
                    f"{_hhmm(previous_end)}: blocks must be in order and must not overlap"
                )
            previous_end = end
            spans.append((_seconds(start), _seconds(end)))
        _check_clock(self.cutoff, "cut-off")
        if not self.cutoff > self.blocks[0][0]:
            raise ValueError(
                f"cut-off {_hhmm(self.cutoff)} must be after the opening time "
                f"{_hhmm(self.blocks[0][0])}"
            )
        object.__setattr__(self, "_spans", tuple(spans))

    @classmethod
    def parse(cls, blocks: str | Iterable[str], cutoff: str | time = "17:00") -> OfficeHours:
        """From `"07:00-11:30,13:30-17:00"` or `["07:00-11:30", "13:30-17:00"]` and `"17:00"`."""
        items = blocks.split(",") if isinstance(blocks, str) else list(blocks)
        parsed: list[tuple[time, time]] = []
        for item in items:
            if not isinstance(item, str):
                raise ValueError(f"an office-hours block is a string HH:MM-HH:MM, got {item!r}")
            start, sep, end = item.strip().partition("-")
            if not sep:
                raise ValueError(f"office-hours block {item!r} is not HH:MM-HH:MM")
            parsed.append((_parse_hhmm(start, "office hours"), _parse_hhmm(end, "office hours")))
        return cls(tuple(parsed), _parse_hhmm(cutoff, "cut-off"))

    @property
    def seconds_per_day(self) -> int:
        """Working seconds in one working day (28,800 for the default hours)."""
        return sum(end - start for start, end in self._spans)

    @property
    def opening(self) -> time:
        return self.blocks[0][0]

    def block_strings(self) -> list[str]:
        """The blocks as stored in `DueInputs.office_hours`: `["07:00-11:30", "13:30-17:00"]`."""
        return [f"{_hhmm(start)}-{_hhmm(end)}" for start, end in self.blocks]

    def worked_by(self, seconds: int) -> int:
        """Working seconds of a working day before the clock time `seconds` after midnight."""
        total = 0
        for start, end in self._spans:
            if seconds <= start:
                break
            total += min(seconds, end) - start
        return total

    def clock_at(self, worked: int) -> int:
        """The earliest clock time (seconds after midnight) by which `worked` > 0 seconds of a
        working day are done; lands on a block's end rather than the next block's start."""
        for start, end in self._spans:
            length = end - start
            if worked <= length:
                return start + worked
            worked -= length
        raise ValueError("more working time than one working day")  # pragma: no cover

    def next_open(self, seconds: int) -> int | None:
        """The clock time from which counting starts for an instant `seconds` after midnight of a
        working day (inside a block: itself; otherwise the next block's start), None if no block
        is left that day."""
        for start, end in self._spans:
            if seconds < start:
                return start
            if seconds < end:
                return seconds
        return None

    def contains(self, seconds: int) -> bool:
        """Whether a clock time is within office hours, block ends included."""
        return any(start <= seconds <= end for start, end in self._spans)


def _check_clock(value: object, what: str) -> None:
    if not isinstance(value, time):
        raise ValueError(f"{what}: expected a time, got {value!r}")
    if value.tzinfo is not None:
        raise ValueError(f"{what} {value} must be a clock time without a time zone")
    if value.second or value.microsecond:
        raise ValueError(f"{what} {value} must be whole minutes (HH:MM)")


DEFAULT_HOURS = OfficeHours.parse("07:00-11:30,13:30-17:00", cutoff="17:00")


# --------------------------------------------------------------------------------------------
# Calendar


@dataclass(frozen=True)
class CalendarOverrides:
    """The hub's corrections to the package's calendar, with the version of the table."""

    version: str
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    removed_holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or _VERSION_RE.fullmatch(self.version) is None:
            raise ValueError(
                f"override version {self.version!r} must be 1-25 characters of "
                "letters, digits, '.', '_' and '-'"
            )
        for name in ("holidays", "makeup_workdays", "removed_holidays"):
            value = frozenset(getattr(self, name))
            if any(not isinstance(d, date) or isinstance(d, datetime) for d in value):
                raise ValueError(f"overrides.{name} must hold dates")
            object.__setattr__(self, name, value)
        for a, b in (("holidays", "makeup_workdays"), ("holidays", "removed_holidays")):
            clash = getattr(self, a) & getattr(self, b)
            if clash:
                days = ", ".join(sorted(d.isoformat() for d in clash))
                raise ValueError(f"overrides list {days} both in {a} and in {b}")


@lru_cache(maxsize=256)
def _package_year(year: int) -> tuple[dict[date, str], frozenset[date]]:
    """The package's holidays (Vietnamese names) and make-up working days of one year.

    A day swap can cross a year boundary (2015-01-02 off for 2014-12-27 worked), so the
    neighbouring years are built too and filtered.
    """
    years = [y for y in (year - 1, year, year + 1) if 1 <= y <= 9999]
    table = country_holidays("VN", years=years, language="vi")
    named = {d: str(n) for d, n in table.items() if d.year == year}
    makeup = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
    return named, makeup


@dataclass(frozen=True)
class _Year:
    holidays: dict[date, str]
    makeup: frozenset[date]


class Calendar:
    """Working days: Monday-Friday, minus holidays, plus make-up working days."""

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self._overrides = overrides
        self._years: dict[int, _Year] = {}
        package = re.sub(r"[^A-Za-z0-9.-]", "-", _PACKAGE_VERSION)
        base = f"holidays-{package}"
        self._version = base if overrides is None else f"{base}_{overrides.version}"

    @property
    def version(self) -> str:
        """`holidays-<package version>`, plus `_<overrides version>` when there are overrides.

        Fits `schemas.types.Version` (letters, digits, `.`, `_`, `-`; at most 40 characters).
        """
        return self._version

    @property
    def overrides(self) -> CalendarOverrides | None:
        return self._overrides

    def __repr__(self) -> str:
        return f"Calendar(version={self._version!r})"

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        named, makeup = _package_year(year)
        named = dict(named)
        extra: set[date] = set(makeup)
        o = self._overrides
        if o is not None:
            for d in o.removed_holidays:
                named.pop(d, None)
            for d in o.holidays:
                if d.year == year:
                    named.setdefault(d, _ADDED_HOLIDAY_NAME)
            extra |= {d for d in o.makeup_workdays if d.year == year}
        built = _Year(dict(sorted(named.items())), frozenset(extra - named.keys()))
        self._years[year] = built
        return built

    def is_working_day(self, d: date) -> bool:
        if isinstance(d, datetime):
            d = to_vn(d).date()
        y = self._year(d.year)
        if d in y.holidays:
            return False
        return d.weekday() < 5 or d in y.makeup

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        d += _DAY
        while not self.is_working_day(d):
            d += _DAY
        return d

    def holidays_in(self, year: int) -> dict[date, str]:
        """The holidays of `year` in date order, with their Vietnamese names."""
        return dict(self._year(year).holidays)

    def makeup_workdays_in(self, year: int) -> list[date]:
        """The weekend days of `year` that are working days."""
        return sorted(self._year(year).makeup)


# --------------------------------------------------------------------------------------------
# Arithmetic


def _first_open(day: date, calendar: Calendar, hours: OfficeHours) -> datetime:
    """Opening time of the first working day on or after `day`."""
    if not calendar.is_working_day(day):
        day = calendar.next_working_day(day)
    return _at(day, _seconds(hours.opening))


def _effective_cutoff(hours: OfficeHours, cutoff: time | None) -> time:
    if cutoff is None:
        return hours.cutoff
    _check_clock(cutoff, "cut-off")
    if not cutoff > hours.opening:
        raise ValueError(
            f"cut-off {_hhmm(cutoff)} must be after the opening time {_hhmm(hours.opening)}"
        )
    return cutoff


def adjusted_start(
    received_at: datetime,
    *,
    calendar: Calendar,
    hours: OfficeHours = DEFAULT_HOURS,
    cutoff: time | None = None,
) -> datetime:
    """The instant from which a receipt's time limit counts (see the module docstring)."""
    received = to_vn(received_at)
    limit = _effective_cutoff(hours, cutoff)
    day = received.date()
    if not calendar.is_working_day(day):
        return _first_open(day, calendar, hours)
    clock = received.time()
    if clock > limit:
        return _first_open(day + _DAY, calendar, hours)
    opens = hours.next_open(_seconds(clock))
    if opens is None:
        return _first_open(day + _DAY, calendar, hours)
    return _at(day, opens)


def add_working_seconds(
    start: datetime, seconds: int, calendar: Calendar, hours: OfficeHours = DEFAULT_HOURS
) -> datetime:
    """`start` plus `seconds` of working time; 0 gives `start` (in Vietnam time).

    A result at the end of a block stays there (17:00), never the next opening. One step per
    day, O(1) each.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise TypeError(f"seconds must be an int, got {seconds!r}")
    if seconds < 0:
        raise ValueError(f"cannot add a negative working time ({seconds} s)")
    begin = to_vn(start)
    if seconds == 0:
        return begin
    per_day = hours.seconds_per_day
    day = begin.date()
    if calendar.is_working_day(day):
        clock = _seconds(begin.time())
        done = hours.worked_by(clock)
        if seconds <= per_day - done:
            return _at(day, hours.clock_at(done + seconds))
        seconds -= per_day - done
    while True:
        day = calendar.next_working_day(day)
        if seconds <= per_day:
            return _at(day, hours.clock_at(seconds))
        seconds -= per_day


def working_seconds_between(
    a: datetime, b: datetime, calendar: Calendar, hours: OfficeHours = DEFAULT_HOURS
) -> int:
    """Working seconds in [a, b]; 0 when b <= a. One step per day between them."""
    first, last = to_vn(a), to_vn(b)
    if last <= first:
        return 0
    d1, d2 = first.date(), last.date()
    w1 = hours.worked_by(_seconds(first.time())) if calendar.is_working_day(d1) else None
    w2 = hours.worked_by(_seconds(last.time())) if calendar.is_working_day(d2) else None
    if d1 == d2:
        return 0 if w1 is None or w2 is None else w2 - w1
    per_day = hours.seconds_per_day
    total = (0 if w1 is None else per_day - w1) + (0 if w2 is None else w2)
    day = d1 + _DAY
    while day < d2:
        if calendar.is_working_day(day):
            total += per_day
        day += _DAY
    return total


def shift_for_pause(
    due: datetime,
    paused_from: datetime,
    paused_to: datetime,
    calendar: Calendar,
    hours: OfficeHours = DEFAULT_HOURS,
) -> datetime:
    """The due date after a supplement pause: moved by the working time the pause lasted."""
    pause = working_seconds_between(paused_from, paused_to, calendar, hours)
    return add_working_seconds(due, pause, calendar, hours)


def _check_limit(time_limit: int, time_unit: str) -> None:
    if isinstance(time_limit, bool) or not isinstance(time_limit, int):
        raise TypeError(f"time_limit must be an int, got {time_limit!r}")
    if time_limit < 0:
        raise ValueError(f"time_limit {time_limit} is negative")
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit {time_unit!r} is not one of {', '.join(TIME_UNITS)}")


def compute_due(
    received_at: datetime,
    time_limit: int,
    time_unit: str,
    *,
    calendar: Calendar,
    hours: OfficeHours = DEFAULT_HOURS,
    cutoff: time | None = None,
) -> datetime:
    """The due date (NgayHenTra) of a receipt, in Vietnam time (rules in the module docstring)."""
    _check_limit(time_limit, time_unit)
    start = adjusted_start(received_at, calendar=calendar, hours=hours, cutoff=cutoff)
    if time_limit == 0:
        return start
    if time_unit == "working_days":
        return add_working_seconds(start, time_limit * hours.seconds_per_day, calendar, hours)
    if time_unit == "working_hours":
        return add_working_seconds(start, time_limit * 3600, calendar, hours)
    due = start + timedelta(days=time_limit)
    while not calendar.is_working_day(due.date()):
        due += _DAY
    return due


def due_inputs(
    time_limit: int,
    time_unit: str,
    *,
    calendar: Calendar,
    hours: OfficeHours = DEFAULT_HOURS,
    cutoff: time | None = None,
) -> dict[str, Any]:
    """The `DueInputs` dict of a `compute_due` call with the same arguments."""
    _check_limit(time_limit, time_unit)
    limit = _effective_cutoff(hours, cutoff)
    return {
        "time_limit": time_limit,
        "time_unit": time_unit,
        "calendar_version": calendar.version,
        "cutoff": _hhmm(limit),
        "office_hours": hours.block_strings(),
    }


def hours_from_inputs(inputs: Mapping[str, Any]) -> OfficeHours:
    """The office hours (with the recorded cut-off) of a stored `DueInputs` dict."""
    return OfficeHours.parse(inputs["office_hours"], cutoff=inputs["cutoff"])


def recompute_due(
    received_at: datetime, inputs: Mapping[str, Any], *, calendar: Calendar
) -> datetime:
    """Recompute a due date from its stored `DueInputs`; the calendar must be the one recorded
    (`ValueError` otherwise, since another calendar version may give another date)."""
    if inputs["calendar_version"] != calendar.version:
        raise ValueError(
            f"due date computed with calendar {inputs['calendar_version']!r}, "
            f"not {calendar.version!r}"
        )
    hours = hours_from_inputs(inputs)
    return compute_due(
        received_at, inputs["time_limit"], inputs["time_unit"], calendar=calendar, hours=hours
    )


# --------------------------------------------------------------------------------------------
# Reports and formatting


def timeliness(end: datetime, due: datetime | None) -> Literal["early", "on_time", "late"]:
    """Biểu 06 by date: early before the due day, on time on it (or no due date), late after."""
    end_day = to_vn(end).date()
    if due is None:
        return "on_time"
    due_day = to_vn(due).date()
    if end_day < due_day:
        return "early"
    if end_day == due_day:
        return "on_time"
    return "late"


def format_vn(dt: datetime) -> str:
    """Form 01 style: `09 giờ 15 phút, ngày 23/11/2026`."""
    v = to_vn(dt)
    return f"{v.hour:02d} giờ {v.minute:02d} phút, ngày {v.day:02d}/{v.month:02d}/{v.year:04d}"


def to_rfc3339(dt: datetime) -> str:
    """`2026-11-23T09:15:00+07:00`: Vietnam time, seconds precision."""
    return to_vn(dt).isoformat(timespec="seconds")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 instant with seconds and an offset (`Z` or `+HH:MM`), in Vietnam time."""
    if not isinstance(text, str) or _RFC3339_RE.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2026-11-23T09:15:00+07:00")
    return to_vn(datetime.fromisoformat(text.replace("Z", "+00:00")))
