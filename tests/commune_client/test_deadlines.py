"""Due-date arithmetic on real Vietnamese calendars (holidays 0.109's Vietnam calendar).

Every expectation is worked out by hand in the comments: default office hours 07:00-11:30 and
13:30-17:00 (8 h a day), cut-off 17:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from holidays.version import __version__ as HOLIDAYS_VERSION
from hypothesis import given, settings
from hypothesis import strategies as st

from commune_client.deadlines import (
    DEFAULT_HOURS,
    VN_TZ,
    Calendar,
    CalendarOverrides,
    OfficeHours,
    add_working_seconds,
    adjusted_start,
    compute_due,
    due_inputs,
    format_vn,
    hours_from_inputs,
    parse_rfc3339,
    recompute_due,
    shift_for_pause,
    timeliness,
    to_rfc3339,
    working_seconds_between,
)
from schemas.dossier import DueInputs

CAL = Calendar()
HOUR = 3600


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN_TZ)


def due(
    received: datetime,
    limit: int,
    unit: str = "working_days",
    *,
    calendar: Calendar = CAL,
    hours: OfficeHours = DEFAULT_HOURS,
    cutoff: time | None = None,
) -> datetime:
    return compute_due(received, limit, unit, calendar=calendar, hours=hours, cutoff=cutoff)


# --- the package's calendar, as these tests rely on it -----------------------------------------


def test_package_calendar_has_the_dates_these_tests_use() -> None:
    h26, h27 = CAL.holidays_in(2026), CAL.holidays_in(2027)
    assert date(2026, 11, 24) in h26  # Ngày Văn hóa Việt Nam, from 2026
    assert [d for d in h26 if d.month == 2] == [date(2026, 2, d) for d in range(16, 21)]
    assert h26[date(2026, 2, 17)] == "Tết Nguyên Đán"
    assert [d for d in h27 if d.month == 2] == [date(2027, 2, d) for d in range(4, 11)]
    assert h27[date(2027, 2, 6)] == "Tết Nguyên Đán"
    assert {date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)} <= h26.keys()
    assert h26[date(2026, 9, 2)] == "Quốc khánh"
    assert {date(2027, 9, 2), date(2027, 9, 3)} <= h27.keys()
    assert {date(2026, 4, 26), date(2026, 4, 27), date(2026, 4, 30), date(2026, 5, 1)} <= h26.keys()
    assert h26[date(2026, 1, 1)] == "Tết Dương lịch"
    # Saturday 2026-08-22 is worked in exchange for Monday 2026-08-31 off.
    assert CAL.makeup_workdays_in(2026) == [date(2026, 8, 22)]
    assert CAL.is_working_day(date(2026, 8, 22))
    assert not CAL.is_working_day(date(2026, 8, 29))  # an ordinary Saturday
    assert not CAL.is_working_day(date(2026, 11, 24))
    assert CAL.is_working_day(date(2026, 11, 23))
    assert CAL.next_working_day(date(2026, 11, 23)) == date(2026, 11, 25)
    assert CAL.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)
    assert CAL.version == f"holidays-{HOLIDAYS_VERSION}"


# --- working days ------------------------------------------------------------------------------


def test_one_working_day_skips_vietnam_cultural_day() -> None:
    # Mon 09:15 has 5 h 45 min left (09:15-11:30 2:15 + 13:30-17:00 3:30); 2 h 15 min remain.
    # Tue 24 is Ngày Văn hóa Việt Nam; Wed 25 07:00 + 2:15 = 09:15.
    assert due(vn(2026, 11, 23, 9, 15), 1) == vn(2026, 11, 25, 9, 15)


def test_monday_plus_one_working_day_is_tuesday_same_time() -> None:
    assert due(vn(2026, 11, 16, 9, 15), 1) == vn(2026, 11, 17, 9, 15)


def test_friday_plus_one_working_day_is_monday() -> None:
    # Fri 16:00: 1 h left; Mon 07:00 + 7 h = 11:30 (4:30) + 2:30 = 16:00.
    assert due(vn(2026, 11, 13, 16), 1) == vn(2026, 11, 16, 16)


def test_tet_2026() -> None:
    # 3 working days = 24 h. Fri 13 10:00: 1:30 + 3:30 = 5 h (19 h left). Sat 14, Sun 15 off,
    # Mon 16 - Fri 20 Tết, Sat 21, Sun 22 off. Mon 23: 8 h (11 left); Tue 24: 8 h (3 left);
    # Wed 25 07:00 + 3 h = 10:00.
    assert due(vn(2026, 2, 13, 10), 3) == vn(2026, 2, 25, 10)


def test_tet_2027() -> None:
    # 2 working days = 16 h. Wed 3 14:00: 3 h left (13 h left). Thu 4 - Wed 10 Tết (with the
    # weekend). Thu 11: 8 h (5 left). Fri 12 07:00 + 5 h = 11:30 (4:30) + 0:30 = 14:00.
    assert due(vn(2027, 2, 3, 14), 2) == vn(2027, 2, 12, 14)


def test_calendar_days_across_tet_2027() -> None:
    # Mon 1 09:00 + 5 days = Sat 6 (Tết); Sun 7 - Wed 10 off; Thu 11 09:00.
    assert due(vn(2027, 2, 1, 9), 5, "calendar_days") == vn(2027, 2, 11, 9)


def test_national_day_2026() -> None:
    # Fri 28 15:00: 2 h left (6 left). Sat 29, Sun 30 off; Mon 31 (swapped for Sat 22), Tue 1,
    # Wed 2 National Day. Thu 3 07:00 + 6 h = 11:30 (4:30) + 1:30 = 15:00.
    assert due(vn(2026, 8, 28, 15), 1) == vn(2026, 9, 3, 15)


def test_make_up_saturday_from_the_package_is_worked() -> None:
    # Fri 21 09:00: 6 h left (2 left); Sat 22 is a make-up working day: 07:00 + 2 h = 09:00.
    assert due(vn(2026, 8, 21, 9), 1) == vn(2026, 8, 22, 9)


def test_national_day_2027() -> None:
    # Wed 1 16:00: 1 h left (7 left). Thu 2, Fri 3 National Day; Sat 4, Sun 5 off.
    # Mon 6 07:00 + 7 h = 11:30 (4:30) + 2:30 = 16:00.
    assert due(vn(2027, 9, 1, 16), 1) == vn(2027, 9, 6, 16)


# --- where counting starts ---------------------------------------------------------------------


def test_after_cutoff_on_friday_counts_from_monday_morning() -> None:
    # Fri 17:30 > 17:00: counts from Mon 23 07:00; + 8 h ends exactly at 17:00, which is kept.
    assert adjusted_start(vn(2026, 11, 20, 17, 30), calendar=CAL) == vn(2026, 11, 23, 7)
    assert due(vn(2026, 11, 20, 17, 30), 1) == vn(2026, 11, 23, 17)


def test_per_procedure_cutoff() -> None:
    # With a 15:00 cut-off, Fri 15:30 counts from Mon 07:00 -> Mon 17:00.
    assert due(vn(2026, 11, 20, 15, 30), 1, cutoff=time(15)) == vn(2026, 11, 23, 17)
    # With the default 17:00 cut-off it counts at once: 1:30 left on Friday (6:30 left);
    # Mon 07:00 + 6:30 = 11:30 (4:30) + 2:00 = 15:30.
    assert due(vn(2026, 11, 20, 15, 30), 1) == vn(2026, 11, 23, 15, 30)
    # The cut-off can also come from the office hours.
    early_close = OfficeHours.parse("07:00-11:30,13:30-17:00", cutoff="15:00")
    assert due(vn(2026, 11, 20, 15, 30), 1, hours=early_close) == vn(2026, 11, 23, 17)
    # Exactly at the cut-off is not after it.
    assert adjusted_start(vn(2026, 11, 20, 15), calendar=CAL, cutoff=time(15)) == vn(
        2026, 11, 20, 15
    )


def test_receipt_on_a_weekend_or_holiday_counts_from_next_working_morning() -> None:
    assert adjusted_start(vn(2026, 11, 21, 10), calendar=CAL) == vn(2026, 11, 23, 7)
    assert adjusted_start(vn(2026, 11, 24, 10), calendar=CAL) == vn(2026, 11, 25, 7)


def test_lunch_break_receipt_counts_from_1330() -> None:
    assert adjusted_start(vn(2026, 11, 23, 12), calendar=CAL) == vn(2026, 11, 23, 13, 30)
    # 2 working hours from 13:30 -> 15:30.
    assert due(vn(2026, 11, 23, 12), 2, "working_hours") == vn(2026, 11, 23, 15, 30)
    # 1 working day: Mon 3:30 left (4:30 left); Tue 24 holiday; Wed 07:00 + 4:30 = 11:30, the
    # end of the morning block, which is kept (not 13:30).
    assert due(vn(2026, 11, 23, 12), 1) == vn(2026, 11, 25, 11, 30)
    # At exactly 11:30 the morning block is over.
    assert adjusted_start(vn(2026, 11, 23, 11, 30), calendar=CAL) == vn(2026, 11, 23, 13, 30)


def test_before_opening_counts_from_opening_same_day() -> None:
    assert adjusted_start(vn(2026, 11, 23, 6, 30), calendar=CAL) == vn(2026, 11, 23, 7)
    assert due(vn(2026, 11, 23, 6, 30), 1) == vn(2026, 11, 23, 17)


def test_other_offsets_are_converted_to_vietnam_time() -> None:
    # 02:15 UTC = 09:15 in Hanoi.
    received = datetime(2026, 11, 23, 2, 15, tzinfo=UTC)
    assert due(received, 1) == vn(2026, 11, 25, 9, 15)
    assert due(received, 1).utcoffset() == timedelta(hours=7)


# --- other units -------------------------------------------------------------------------------


def test_calendar_days_landing_on_sunday_moves_to_monday() -> None:
    # Mon 2 09:00 + 6 days = Sun 8 -> Mon 9 09:00.
    assert due(vn(2026, 11, 2, 9), 6, "calendar_days") == vn(2026, 11, 9, 9)
    # Received on a Saturday: counts from Mon 9 07:00; + 5 days = Sat 14 -> Mon 16 07:00.
    assert due(vn(2026, 11, 7, 10), 5, "calendar_days") == vn(2026, 11, 16, 7)
    # A plain case: Mon 2 09:00 + 3 days = Thu 5 09:00.
    assert due(vn(2026, 11, 2, 9), 3, "calendar_days") == vn(2026, 11, 5, 9)


def test_limit_zero_is_the_adjusted_start() -> None:
    assert due(vn(2026, 11, 23, 9, 15), 0) == vn(2026, 11, 23, 9, 15)
    assert due(vn(2026, 11, 21, 10), 0) == vn(2026, 11, 23, 7)
    assert due(vn(2026, 11, 23, 12), 0, "calendar_days") == vn(2026, 11, 23, 13, 30)


def test_working_hours() -> None:
    # Mon 10:00 + 4 h = 11:30 (1:30) + 2:30 from 13:30 = 16:00.
    assert due(vn(2026, 11, 23, 10), 4, "working_hours") == vn(2026, 11, 23, 16)
    # Mon 10:00 + 12 h: 5 h left Monday (7 left); Tue holiday; Wed 07:00 + 7 h = 16:00.
    assert due(vn(2026, 11, 23, 10), 12, "working_hours") == vn(2026, 11, 25, 16)
    # Ending exactly at 17:00 stays at 17:00.
    assert due(vn(2026, 11, 23, 13, 30), 3, "working_hours") == vn(2026, 11, 23, 16, 30)
    assert due(vn(2026, 11, 23, 16), 1, "working_hours") == vn(2026, 11, 23, 17)


def test_custom_office_hours() -> None:
    # A single block 08:00-16:00 (8 h). Mon 15:00 + 1 day: 1 h left (7 left); Tue holiday;
    # Wed 08:00 + 7 h = 15:00.
    hours = OfficeHours.parse("08:00-16:00", cutoff="16:00")
    assert hours.seconds_per_day == 8 * HOUR
    assert due(vn(2026, 11, 23, 15), 1, hours=hours) == vn(2026, 11, 25, 15)


# --- supplement pause --------------------------------------------------------------------------


def test_pause_spanning_hung_kings_day() -> None:
    # Thu 23 10:00-17:00: 1:30 + 3:30 = 5 h; Fri 24: 8 h; Sat 25, Sun 26 (Giỗ Tổ), Mon 27
    # (observed) off; Tue 28 07:00-10:00: 3 h. Total 16 h.
    paused_from, paused_to = vn(2026, 4, 23, 10), vn(2026, 4, 28, 10)
    assert working_seconds_between(paused_from, paused_to, CAL) == 16 * HOUR
    # The dossier was received Wed 22 08:00 with 2 working days: Wed 7 h, Thu 8 h, Fri 07:00 + 1 h.
    original = due(vn(2026, 4, 22, 8), 2)
    assert original == vn(2026, 4, 24, 8)
    # + 16 h from Fri 24 08:00: Fri 7 h (9 left); Sat-Mon off; Tue 28 8 h (1 left);
    # Wed 29 07:00 + 1 h = 08:00 (Thu 30 and Fri 1 are holidays, not reached).
    assert shift_for_pause(original, paused_from, paused_to, CAL) == vn(2026, 4, 29, 8)


def test_empty_or_reversed_pause_does_not_move_the_deadline() -> None:
    d = vn(2026, 4, 24, 8)
    assert working_seconds_between(vn(2026, 4, 28), vn(2026, 4, 23), CAL) == 0
    assert shift_for_pause(d, vn(2026, 4, 25, 9), vn(2026, 4, 27, 16), CAL) == d  # all days off


def test_working_seconds_between_within_a_day() -> None:
    # 09:00-14:00 = 2:30 + 0:30.
    assert working_seconds_between(vn(2026, 11, 23, 9), vn(2026, 11, 23, 14), CAL) == 3 * HOUR
    assert working_seconds_between(vn(2026, 11, 23, 18), vn(2026, 11, 23, 19), CAL) == 0


# --- overrides ---------------------------------------------------------------------------------


def test_overrides_make_up_saturday_added_and_removed_holidays() -> None:
    # Fri 27 10:00 + 1 working day: 5 h left (3 left) -> Mon 30 10:00 normally.
    received = vn(2026, 11, 27, 10)
    assert due(received, 1) == vn(2026, 11, 30, 10)
    saturday = Calendar(
        CalendarOverrides("vn-2026-r1", frozenset(), frozenset({date(2026, 11, 28)}))
    )
    assert due(received, 1, calendar=saturday) == vn(2026, 11, 28, 10)
    extra = Calendar(CalendarOverrides("vn-2026-r2", frozenset({date(2026, 11, 30)}), frozenset()))
    assert due(received, 1, calendar=extra) == vn(2026, 12, 1, 10)
    assert extra.holidays_in(2026)[date(2026, 11, 30)] == "Ngày nghỉ (điều chỉnh)"
    removed = Calendar(
        CalendarOverrides(
            "vn-2026-r3", frozenset(), frozenset(), removed_holidays=frozenset({date(2026, 11, 24)})
        )
    )
    # Without Ngày Văn hóa Việt Nam, Mon 09:15 + 1 working day is Tue 09:15.
    assert due(vn(2026, 11, 23, 9, 15), 1, calendar=removed) == vn(2026, 11, 24, 9, 15)
    assert date(2026, 11, 24) not in removed.holidays_in(2026)

    versions = {CAL.version, saturday.version, extra.version, removed.version}
    assert len(versions) == 4
    assert saturday.version == f"holidays-{HOLIDAYS_VERSION}_vn-2026-r1"
    assert Calendar(CalendarOverrides("vn-2026-r1", frozenset(), frozenset())).version == (
        saturday.version
    )


def test_a_holiday_wins_over_a_make_up_day_and_bad_overrides_are_refused() -> None:
    with pytest.raises(ValueError, match="both in holidays and in makeup_workdays"):
        CalendarOverrides("v1", frozenset({date(2026, 11, 28)}), frozenset({date(2026, 11, 28)}))
    with pytest.raises(ValueError, match="override version"):
        CalendarOverrides("v 1+x", frozenset(), frozenset())
    sunday_holiday = Calendar(
        CalendarOverrides("v1", frozenset(), frozenset({date(2026, 4, 26)}))
    )  # Giỗ Tổ falls on a Sunday: still a holiday
    assert not sunday_holiday.is_working_day(date(2026, 4, 26))


# --- DueInputs ---------------------------------------------------------------------------------


def test_due_inputs_match_the_schema_and_recompute() -> None:
    inputs = due_inputs(3, "working_days", calendar=CAL, cutoff=time(15))
    assert inputs == {
        "time_limit": 3,
        "time_unit": "working_days",
        "calendar_version": f"holidays-{HOLIDAYS_VERSION}",
        "cutoff": "15:00",
        "office_hours": ["07:00-11:30", "13:30-17:00"],
    }
    DueInputs.model_validate(inputs)
    cal = Calendar(CalendarOverrides("vn-2026-r12.long-name-x", frozenset(), frozenset()))
    DueInputs.model_validate(due_inputs(1, "calendar_days", calendar=cal))

    hours = hours_from_inputs(inputs)
    assert hours == OfficeHours.parse("07:00-11:30,13:30-17:00", cutoff="15:00")
    received = vn(2026, 11, 20, 15, 30)
    assert recompute_due(received, inputs, calendar=CAL) == due(received, 3, cutoff=time(15))
    with pytest.raises(ValueError, match="calendar"):
        recompute_due(received, inputs, calendar=cal)


# --- refusals ----------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        due(datetime(2026, 11, 23, 9, 15), 1)
    with pytest.raises(ValueError, match="naive"):
        working_seconds_between(datetime(2026, 11, 23), vn(2026, 11, 24), CAL)
    with pytest.raises(ValueError, match="naive"):
        format_vn(datetime(2026, 11, 23))


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="time_unit"):
        due(vn(2026, 11, 23), 1, "weeks")
    with pytest.raises(ValueError, match="negative"):
        due(vn(2026, 11, 23), -1)
    with pytest.raises(ValueError, match="negative"):
        add_working_seconds(vn(2026, 11, 23), -5, CAL)
    with pytest.raises(ValueError, match="after the opening"):
        due(vn(2026, 11, 23), 1, cutoff=time(6))
    with pytest.raises(ValueError, match="whole minutes"):
        due(vn(2026, 11, 23), 1, cutoff=time(15, 0, 30))


@pytest.mark.parametrize(
    ("blocks", "cutoff", "message"),
    [
        ("07:00-11:30,11:00-17:00", "17:00", "must not overlap"),
        ("13:30-17:00,07:00-11:30", "17:00", "must be in order"),
        ("11:30-07:00", "17:00", "start must be before the end"),
        ("07:00-07:00", "17:00", "start must be before the end"),
        ("7:00-11:30", "17:00", "HH:MM"),
        ("07:00", "17:00", "HH:MM-HH:MM"),
        ("", "17:00", "HH:MM"),
        ("07:00-11:30", "25:00", "HH:MM"),
        ("07:00-11:30", "06:00", "after the opening"),
    ],
)
def test_bad_office_hours_are_refused(blocks: str, cutoff: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OfficeHours.parse(blocks, cutoff=cutoff)


def test_office_hours_defaults_and_round_trip() -> None:
    assert DEFAULT_HOURS.seconds_per_day == 8 * HOUR
    assert DEFAULT_HOURS.cutoff == time(17)
    assert DEFAULT_HOURS.block_strings() == ["07:00-11:30", "13:30-17:00"]
    assert OfficeHours.parse(DEFAULT_HOURS.block_strings()) == DEFAULT_HOURS
    with pytest.raises(ValueError, match="at least one block"):
        OfficeHours((), time(17))
    with pytest.raises(ValueError, match="whole minutes"):
        OfficeHours(((time(7, 0, 30), time(11)),), time(17))


# --- reports and formatting --------------------------------------------------------------------


def test_timeliness_compares_dates() -> None:
    d = vn(2026, 11, 25, 9, 15)
    assert timeliness(vn(2026, 11, 24, 16), d) == "early"
    assert timeliness(vn(2026, 11, 25, 16), d) == "on_time"  # later hour, same day
    assert timeliness(vn(2026, 11, 25, 8), d) == "on_time"
    assert timeliness(vn(2026, 11, 26, 7), d) == "late"
    assert timeliness(vn(2026, 11, 26, 7), None) == "on_time"
    # 2026-11-25 18:00 UTC is 01:00 on the 26th in Hanoi: late.
    assert timeliness(datetime(2026, 11, 25, 18, tzinfo=UTC), d) == "late"


def test_formatting_and_rfc3339() -> None:
    assert format_vn(vn(2026, 11, 23, 9, 5)) == "09 giờ 05 phút, ngày 23/11/2026"
    utc = datetime(2026, 11, 23, 2, 15, 0, 123456, tzinfo=UTC)
    assert format_vn(utc) == "09 giờ 15 phút, ngày 23/11/2026"
    assert to_rfc3339(utc) == "2026-11-23T09:15:00+07:00"
    assert parse_rfc3339("2026-11-23T02:15:00Z") == vn(2026, 11, 23, 9, 15)
    parsed = parse_rfc3339("2026-11-23T09:15:00+07:00")
    assert parsed == vn(2026, 11, 23, 9, 15)
    assert parsed.utcoffset() == timedelta(hours=7)
    for bad in ("2026-11-23T09:15:00", "2026-11-23 09:15:00+07:00", "2026-11-23T09:15+07:00", ""):
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_rfc3339(bad)


def test_long_limits_are_fast() -> None:
    # 2,000 working days (about 8 years) in one call: one loop step per day.
    start = vn(2026, 1, 5, 9)
    end = add_working_seconds(start, 2000 * 8 * HOUR, CAL)
    assert working_seconds_between(start, end, CAL) == 2000 * 8 * HOUR


# --- properties --------------------------------------------------------------------------------

OFFSETS = st.sampled_from([0, 7, -5, 9, 5.5]).map(lambda h: timezone(timedelta(hours=h)))
INSTANTS = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59, 59)),
    OFFSETS,
)


def _in_office_hours(moment: datetime) -> bool:
    clock = moment.time()
    return any(start <= clock <= end for start, end in DEFAULT_HOURS.blocks)


@settings(max_examples=300, deadline=None)
@given(received=INSTANTS, limit=st.integers(0, 30))
def test_working_day_due_properties(received: datetime, limit: int) -> None:
    start = adjusted_start(received, calendar=CAL)
    result = due(received, limit)
    assert start >= received.replace(microsecond=0)
    assert result >= start
    assert result.utcoffset() == timedelta(hours=7)
    assert CAL.is_working_day(result.date())
    assert _in_office_hours(result)
    assert working_seconds_between(start, result, CAL) == limit * 8 * HOUR


@settings(max_examples=200, deadline=None)
@given(start=INSTANTS, seconds=st.integers(0, 40 * 8 * HOUR))
def test_add_then_measure_round_trips(start: datetime, seconds: int) -> None:
    end = add_working_seconds(start, seconds, CAL)
    assert end >= start.replace(microsecond=0)
    assert working_seconds_between(start, end, CAL) == seconds


@settings(max_examples=200, deadline=None)
@given(received=INSTANTS, limit=st.integers(0, 60))
def test_calendar_day_due_properties(received: datetime, limit: int) -> None:
    start = adjusted_start(received, calendar=CAL)
    result = due(received, limit, "calendar_days")
    assert result.time() == start.time()
    assert result - start >= timedelta(days=limit)
    assert CAL.is_working_day(result.date())
