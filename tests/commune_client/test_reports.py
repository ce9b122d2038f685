"""Biểu 06 and the desk's lists (commune_client.reports): hand-counted cases and identities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from itertools import count
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commune_client.reports import (
    UNKNOWN_FIELD,
    awaiting_supplement,
    bieu06,
    due_within_24h,
    overdue,
)
from schemas import Dossier, to_record

Record = dict[str, Any]
VN = timezone(timedelta(hours=7))
_seq = count(1)

FIELDS = {
    "Hộ tịch": ("1.001193", "Đăng ký khai sinh"),
    "Chứng thực": ("2.000815", "Chứng thực bản sao từ bản chính"),
    "Đất đai": ("1.012753", "Đăng ký đất đai lần đầu"),
}


def t(day: str, clock: str = "09:00", tz: str = "+07:00") -> str:
    """An RFC 3339 time on `day` (YYYY-MM-DD)."""
    return f"{day}T{clock}:00{tz}"


def dossier(
    field: str,
    channel: str,
    received: str,
    *,
    status: str = "processing",
    due: str | None = None,
    rounds: int = 0,
    **times: str,
) -> Record:
    """A real `Dossier` record (validated by the schema, then `to_record`)."""
    code, name = FIELDS[field]
    received_day = datetime.fromisoformat(received).strftime("%y%m%d")
    model = Dossier.model_validate(
        {
            "code": f"H56.14-{received_day}-{next(_seq) % 10000:04d}",
            "station": "H56.14/1",
            "seq": 1,
            "procedure": {
                "code": code,
                "name": name,
                "field": field,
                "time_limit": 3,
                "time_unit": "working_days",
                "fee": 0,
            },
            "applicant": {"name": "Nguyễn Văn Đức", "id_number": "001090000001"},
            "channel": channel,
            "status": status,
            "received_at": received,
            "due_at": due,
            "due_inputs": {
                "time_limit": 3,
                "time_unit": "working_days",
                "calendar_version": "vn-2026",
                "cutoff": "17:00",
                "office_hours": ["07:00-11:30", "13:30-17:00"],
            },
            "supplement_rounds": rounds,
            "version": 1,
            **times,
        }
    )
    return to_record(model)


FROM, TO = date(2026, 3, 1), date(2026, 3, 31)

# The hand-built set. Period 2026-03-01 .. 2026-03-31, dates compared in +07:00.
HT = "Hộ tịch"
CT = "Chứng thực"
DD = "Đất đai"
CASES: dict[str, Record] = {
    # received before the period, resolved inside it before the due day: carried over; early
    "HT01": dossier(
        HT,
        "direct",
        t("2026-02-20"),
        status="resolved",
        due=t("2026-03-06", "16:00"),
        resolved_at=t("2026-03-05"),
    ),
    # received before, still open, due 03-10 < to: carried over; pending overdue
    "HT02": dossier(HT, "online", t("2026-02-25"), due=t("2026-03-10", "16:00")),
    # resolved on the due day (later hour than due, same date): direct; on time
    "HT03": dossier(
        HT,
        "direct",
        t("2026-03-02", "08:00"),
        status="returned",
        due=t("2026-03-04", "10:00"),
        resolved_at=t("2026-03-04", "16:00"),
        returned_at=t("2026-03-05"),
    ),
    # postal, resolved after the due day: direct_or_postal; late
    "HT04": dossier(
        HT,
        "postal",
        t("2026-03-03"),
        status="resolved",
        due=t("2026-03-05"),
        resolved_at=t("2026-03-09"),
    ),
    # online, no due date, resolved: online; on time (no due date)
    "HT05": dossier(HT, "online", t("2026-03-10"), status="resolved", resolved_at=t("2026-03-12")),
    # withdrawn inside the period: direct_or_postal; withdrawn
    "HT06": dossier(
        HT,
        "direct",
        t("2026-03-20"),
        status="withdrawn",
        due=t("2026-03-25"),
        withdrawn_at=t("2026-03-22"),
    ),
    # withdrawn before the period: counted nowhere
    "HT07": dossier(
        HT, "direct", t("2026-02-10"), status="withdrawn", withdrawn_at=t("2026-02-15")
    ),
    # refused in the period: only `refused`
    "HT08": dossier(
        HT, "direct", t("2026-03-05"), status="refused", refused_at=t("2026-03-05", "10:00")
    ),
    # online, open, due after `to`: online; pending within deadline
    "HT09": dossier(HT, "online", t("2026-03-30"), due=t("2026-04-03")),
    # received after `to`: counted nowhere
    "HT10": dossier(HT, "direct", t("2026-04-01"), due=t("2026-04-03")),
    # waiting for a 2nd supplement, due on `to` itself: direct; pending within deadline; more than
    # one supplement -> late for the national index
    "HT11": dossier(
        HT,
        "direct",
        t("2026-03-25"),
        status="supplement_requested",
        due=t("2026-03-31", "08:00"),
        rounds=2,
    ),
    # resolved at 2026-03-31T17:30Z = 2026-04-01 00:30 +07:00, i.e. after `to`: direct; pending
    # at `to`, and overdue (due 03-30 < to)
    "HT12": dossier(
        HT,
        "direct",
        t("2026-03-28"),
        status="resolved",
        due=t("2026-03-30"),
        resolved_at="2026-03-31T17:30:00Z",
    ),
    # refused before the period: counted nowhere
    "HT13": dossier(HT, "direct", t("2026-02-10"), status="refused", refused_at=t("2026-02-10")),
    # resolved the day it was received, due that day: direct; on time
    "CT01": dossier(
        CT,
        "direct",
        t("2026-03-02", "08:00"),
        status="resolved",
        due=t("2026-03-02", "17:00"),
        resolved_at=t("2026-03-02", "10:00"),
    ),
    # received before, stopped inside the period: carried over; stopped (not resolved)
    "CT02": dossier(
        CT,
        "direct",
        t("2026-02-27"),
        status="stopped",
        due=t("2026-03-03"),
        stopped_at=t("2026-03-04"),
    ),
    # postal, resolved early but after two supplements: direct_or_postal; early; late for the
    # national index
    "CT03": dossier(
        CT,
        "postal",
        t("2026-03-06"),
        status="resolved",
        due=t("2026-03-10"),
        resolved_at=t("2026-03-09"),
        rounds=2,
    ),
    # resolved at 2026-02-28T18:30Z = 2026-03-01 01:30 +07:00: not closed before `from`, so
    # carried over; resolved in the period, late (due 02-27)
    "CT04": dossier(
        CT,
        "online",
        t("2026-01-15"),
        status="resolved",
        due=t("2026-02-27"),
        resolved_at="2026-02-28T18:30:00Z",
    ),
    # returned 03-18 after the due day, but processing ended 03-16: direct; early
    "CT05": dossier(
        CT,
        "direct",
        t("2026-03-15"),
        status="returned",
        due=t("2026-03-17"),
        resolved_at=t("2026-03-16"),
        returned_at=t("2026-03-18"),
    ),
    # filed online, never accepted at the desk: counted nowhere
    "CT06": dossier(CT, "online", t("2026-03-12"), status="submitted"),
    # a third field, open, due after `to`: online; pending within deadline
    "DD01": dossier(DD, "online", t("2026-03-16"), due=t("2026-04-10")),
}

EXPECTED_BY_FIELD: list[Record] = [
    {
        "field": CT,
        # carried over CT02, CT04; direct_or_postal CT01, CT03, CT05; CT06 not accepted
        "received": {"total": 5, "online": 0, "direct_or_postal": 3, "carried_over": 2},
        # early CT03, CT05; on time CT01; late CT04
        "resolved": {"total": 4, "early": 2, "on_time": 1, "late": 1},
        "pending": {"total": 0, "within_deadline": 0, "overdue": 0},
        "withdrawn": 0,
        "stopped": 1,  # CT02
        "refused": 0,
        "more_than_one_supplement": 1,  # CT03
    },
    {
        "field": DD,
        "received": {"total": 1, "online": 1, "direct_or_postal": 0, "carried_over": 0},
        "resolved": {"total": 0, "early": 0, "on_time": 0, "late": 0},
        "pending": {"total": 1, "within_deadline": 1, "overdue": 0},
        "withdrawn": 0,
        "stopped": 0,
        "refused": 0,
        "more_than_one_supplement": 0,
    },
    {
        "field": HT,
        # carried over HT01, HT02; online HT05, HT09; direct_or_postal HT03, HT04, HT06, HT11, HT12
        "received": {"total": 9, "online": 2, "direct_or_postal": 5, "carried_over": 2},
        # early HT01; on time HT03, HT05; late HT04
        "resolved": {"total": 4, "early": 1, "on_time": 2, "late": 1},
        # within HT09, HT11; overdue HT02, HT12
        "pending": {"total": 4, "within_deadline": 2, "overdue": 2},
        "withdrawn": 1,  # HT06
        "stopped": 0,
        "refused": 1,  # HT08
        "more_than_one_supplement": 1,  # HT11
    },
]


def test_bieu06_hand_counted() -> None:
    report = bieu06(CASES.values(), FROM, TO)
    assert report["period"] == {"from": "2026-03-01", "to": "2026-03-31"}
    # fields sorted ignoring diacritics: Chứng thực, Đất đai, Hộ tịch
    assert report["by_field"] == EXPECTED_BY_FIELD
    assert report["received"] == {
        "total": 15,
        "online": 3,
        "direct_or_postal": 8,
        "carried_over": 4,
    }
    assert report["resolved"] == {"total": 8, "early": 3, "on_time": 3, "late": 2}
    assert report["pending"] == {"total": 5, "within_deadline": 3, "overdue": 2}
    assert (report["withdrawn"], report["stopped"], report["refused"]) == (1, 1, 1)
    assert report["more_than_one_supplement"] == 2
    # on time: resolved early/on time 6 + withdrawn 1 + pending within 3, minus CT03 (resolved
    # early) and HT11 (pending within deadline) with two supplements = 8; of 8 + 1 + 5 = 14
    assert report["on_time_rate"] == pytest.approx(8 / 14)
    assert set(report) == {
        "period",
        "received",
        "resolved",
        "pending",
        "withdrawn",
        "stopped",
        "refused",
        "more_than_one_supplement",
        "on_time_rate",
        "by_field",
    }


def test_bieu06_single_day_period_and_empty() -> None:
    empty = bieu06([], FROM, FROM)
    assert empty["received"]["total"] == 0 and empty["on_time_rate"] is None
    assert empty["by_field"] == []
    day = bieu06([CASES["CT01"]], date(2026, 3, 2), date(2026, 3, 2))
    assert day["resolved"] == {"total": 1, "early": 0, "on_time": 1, "late": 0}
    assert day["on_time_rate"] == 1.0


def test_bieu06_refuses_inverted_period() -> None:
    with pytest.raises(ValueError, match="Ngày bắt đầu phải trước ngày kết thúc"):
        bieu06([], TO, FROM)
    with pytest.raises(TypeError):
        bieu06([], datetime(2026, 3, 1, tzinfo=VN), TO)


def test_bieu06_bad_time_names_the_dossier() -> None:
    bad = {**CASES["HT02"], "received_at": "hôm qua"}
    with pytest.raises(ValueError, match=bad["code"]):
        bieu06([bad], FROM, TO)


def test_closed_status_without_time_is_not_pending_forever() -> None:
    record = {**CASES["HT09"], "status": "withdrawn", "updated_at": t("2026-03-31")}
    report = bieu06([record], FROM, TO)
    assert report["withdrawn"] == 1 and report["pending"]["total"] == 0


def test_missing_field_grouped_apart() -> None:
    record = {**CASES["HT09"], "procedure": {"code": "1.0"}}
    report = bieu06([record], FROM, TO)
    assert [group["field"] for group in report["by_field"]] == [UNKNOWN_FIELD]


# The desk's lists ----------------------------------------------------------------------------

NOW = datetime(2026, 3, 30, 9, 0, tzinfo=VN)


def codes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(r["code"]) for r in records]


def test_lists_over_the_hand_built_set() -> None:
    records = list(CASES.values())
    # HT11 is due 03-31 08:00 (< now + 24 h); HT12 is closed; HT09, DD01 are due later
    assert codes(due_within_24h(records, NOW)) == [CASES["HT11"]["code"]]
    # HT02 was due 03-10; CT02 (stopped) and HT08 (refused) are closed
    assert codes(overdue(records, NOW)) == [CASES["HT02"]["code"]]
    assert codes(awaiting_supplement(records)) == [CASES["HT11"]["code"]]


def test_due_within_24h_bounds_and_order() -> None:
    at_now = dossier(HT, "direct", t("2026-03-29"), due="2026-03-30T09:00:00+07:00")
    later = dossier(HT, "direct", t("2026-03-29"), due="2026-03-31T08:59:59+07:00")
    at_end = dossier(HT, "direct", t("2026-03-29"), due="2026-03-31T09:00:00+07:00")
    utc = dossier(HT, "direct", t("2026-03-29"), due="2026-03-30T05:00:00Z")  # 12:00 +07
    done = dossier(
        HT,
        "direct",
        t("2026-03-29"),
        status="resolved",
        due="2026-03-30T10:00:00+07:00",
        resolved_at=t("2026-03-30", "08:00"),
    )
    found = due_within_24h([later, at_end, utc, done, at_now], NOW)
    assert codes(found) == codes([at_now, utc, later])
    naive = due_within_24h([later, at_end, utc, done, at_now], NOW.replace(tzinfo=None))
    assert codes(naive) == codes(found)
    assert codes(overdue([later, at_now], NOW + timedelta(seconds=1))) == codes([at_now])


# Properties ----------------------------------------------------------------------------------

BASE = date(2026, 3, 1)


@st.composite
def records(draw: st.DrawFn) -> Record:
    def when(day: date) -> str:
        hour = draw(st.integers(0, 23))
        tz = draw(st.sampled_from(["+07:00", "Z", "+09:00"]))
        return f"{day.isoformat()}T{hour:02d}:30:00{tz}"

    received = BASE + timedelta(days=draw(st.integers(-20, 40)))
    end = draw(st.sampled_from(["open", "resolved", "withdrawn", "stopped", "refused", "new"]))
    times: dict[str, str] = {}
    status = {"open": "processing", "new": "submitted"}.get(end, end)
    if end in {"resolved", "withdrawn", "stopped", "refused"}:
        # may be a little before the receipt (a wrong clock): counted on the receipt day
        closed = received + timedelta(days=draw(st.integers(-2, 30)))
        times[f"{end}_at"] = when(closed)
    if end == "resolved" and draw(st.booleans()):
        times["returned_at"] = times.pop("resolved_at")
        status = "returned"
    if end == "open" and draw(st.booleans()):
        status = "supplement_requested"
    due = None
    if draw(st.booleans()):
        due = when(received + timedelta(days=draw(st.integers(0, 15))))
    return dossier(
        draw(st.sampled_from(list(FIELDS))),
        draw(st.sampled_from(["direct", "online", "postal"])),
        when(received),
        status=status,
        due=due,
        rounds=draw(st.integers(0, 3)),
        **times,
    )


GROUPS = {
    "received": ("total", "online", "direct_or_postal", "carried_over"),
    "resolved": ("total", "early", "on_time", "late"),
    "pending": ("total", "within_deadline", "overdue"),
}
SCALARS = ("withdrawn", "stopped", "refused", "more_than_one_supplement")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(records(), max_size=25),
    st.integers(-10, 30),
    st.integers(0, 20),
)
def test_bieu06_identities(dossiers: list[Record], start: int, length: int) -> None:
    date_from = BASE + timedelta(days=start)
    report = bieu06(dossiers, date_from, date_from + timedelta(days=length))
    fields = report["by_field"]
    assert [f["field"] for f in fields] == sorted(
        {f["field"] for f in fields}, key=lambda n: n.replace("Đ", "D")
    )
    for group, keys in GROUPS.items():
        for key in keys:
            assert report[group][key] == sum(f[group][key] for f in fields)
    for key in SCALARS:
        assert report[key] == sum(f[key] for f in fields)
    for part in [report, *fields]:
        received, resolved, pending = part["received"], part["resolved"], part["pending"]
        assert received["total"] == (
            received["online"] + received["direct_or_postal"] + received["carried_over"]
        )
        assert resolved["total"] == resolved["early"] + resolved["on_time"] + resolved["late"]
        assert pending["total"] == pending["within_deadline"] + pending["overdue"]
        # every accepted dossier of the period ends up in exactly one of these
        assert received["total"] == (
            resolved["total"] + part["withdrawn"] + part["stopped"] + pending["total"]
        )
    rate = report["on_time_rate"]
    index = report["resolved"]["total"] + report["withdrawn"] + report["pending"]["total"]
    assert (rate is None) == (index == 0)
    if rate is not None:
        assert 0.0 <= rate <= 1.0
        assert report["more_than_one_supplement"] <= index
