"""Realistic sample records for tests, benchmarks and the demo (never used in production paths).

Deterministic from a seed: a receive event that looks like a real intake at a commune desk, and
whole dossier lifecycles with the mix a commune sees (supplement requests, payments, transfers,
refusals, withdrawals, late dossiers with an apology, ratings). Every body validates against
`schemas.event` once the log fills in the envelope.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

__all__ = ["OFFICE", "PROCEDURES", "dossier_lifecycle", "receive_body", "station_open_body"]

OFFICE = {"code": "000.00.17.H56", "name": "UBND xã Tân Lập", "province_prefix": "H56"}
# (code, name, field, time_limit, unit, fee, documents)
PROCEDURES: list[tuple[str, str, str, int, str, int, list[str]]] = [
    (
        "1.001193",
        "Đăng ký khai sinh",
        "Hộ tịch",
        1,
        "working_days",
        0,
        ["Tờ khai đăng ký khai sinh", "Giấy chứng sinh"],
    ),
    (
        "1.000894",
        "Đăng ký kết hôn",
        "Hộ tịch",
        1,
        "working_days",
        0,
        ["Tờ khai đăng ký kết hôn", "Giấy xác nhận tình trạng hôn nhân"],
    ),
    (
        "1.000656",
        "Đăng ký khai tử",
        "Hộ tịch",
        1,
        "working_days",
        0,
        ["Tờ khai đăng ký khai tử", "Giấy báo tử"],
    ),
    (
        "2.000815",
        "Chứng thực bản sao từ bản chính",
        "Chứng thực",
        0,
        "working_days",
        2000,
        ["Bản chính giấy tờ", "Bản sao cần chứng thực"],
    ),
    (
        "1.004873",
        "Cấp Giấy xác nhận tình trạng hôn nhân",
        "Hộ tịch",
        3,
        "working_days",
        0,
        ["Tờ khai cấp Giấy xác nhận tình trạng hôn nhân"],
    ),
    (
        "1.001699",
        "Xác định mức độ khuyết tật và cấp Giấy xác nhận khuyết tật",
        "Bảo trợ xã hội",
        10,
        "working_days",
        0,
        ["Đơn đề nghị", "Giấy tờ chứng minh thu nhập"],
    ),
]
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô"]
GIVEN = [
    "Văn Đức",
    "Thị Hoa",
    "Minh Tuấn",
    "Thị Lan",
    "Quốc Bảo",
    "Thu Hằng",
    "Đức Anh",
    "Ngọc Ánh",
]


def station_open_body(
    cert: dict[str, Any],
    claimed_time: str,
    *,
    station: int = 1,
    epoch: int = 0,
    office: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "claimed_time": claimed_time,
        "beacon": None,
        "dossier": None,
        "action": "station-open",
        "data": {
            "office": office or OFFICE,
            "station": station,
            "station_cert": cert,
            "epoch": epoch,
        },
    }


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def receive_body(
    i: int, when: datetime, *, office: str = OFFICE["code"], beacon: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A realistic intake (Form 01) for dossier number `i` received at `when`."""
    rng = random.Random(i)
    code, name, field, limit, unit, fee, docs = PROCEDURES[i % len(PROCEDURES)]
    due = when + timedelta(days=max(limit, 1) + (2 if when.weekday() >= 3 else 0))
    data: dict[str, Any] = {
        "procedure": {
            "code": code,
            "name": name,
            "field": field,
            "time_limit": limit,
            "time_unit": unit,
            "fee": fee,
            "on_the_spot": limit == 0,
        },
        "applicant": {
            "name": f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}",
            "kind": 1,
            "id_kind": 1,
            "id_number": f"0{rng.randrange(10**10, 10**11)}",
            "phone": f"09{rng.randrange(10**7, 10**8)}",
            "address": f"Thôn {rng.randrange(1, 12)}, xã Tân Lập, tỉnh Phú Thọ",
        },
        "channel": rng.choice(["direct", "direct", "direct", "online", "postal"]),
        "summary": f"{name} cho công dân",
        "documents": [{"name": d, "originals": 1, "copies": rng.randrange(0, 2)} for d in docs],
        "sets": 1,
        "fees": [{"name": "Lệ phí", "amount": fee}] if fee else [],
        "received_at": _iso(when),
        "due_at": _iso(due),
        "due_inputs": {
            "time_limit": limit,
            "time_unit": unit,
            "calendar_version": "vn-2026.1",
            "cutoff": "17:00",
            "office_hours": ["07:00-11:30", "13:30-17:00"],
        },
        "return_via": "desk",
        "book_row": i + 1,
    }
    return {
        "claimed_time": _iso(when),
        "beacon": beacon,
        "dossier": f"{office}-{when:%y%m%d}-{i % 9999 + 1:04d}",
        "action": "receive",
        "data": data,
    }


def dossier_lifecycle(
    i: int, start: datetime, *, office: str = OFFICE["code"], beacon: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Event bodies for one dossier from receipt to rating, with a realistic mix of detours.

    Times advance from `start`; the caller interleaves lifecycles as it likes.
    """
    rng = random.Random(10_000 + i)
    first = receive_body(i, start, office=office, beacon=beacon)
    dossier = first["dossier"]
    t = start
    out = [first]

    def add(action: str, data: dict[str, Any]) -> None:
        nonlocal t
        t += timedelta(minutes=rng.randrange(5, 240))
        out.append(
            {
                "claimed_time": _iso(t),
                "beacon": beacon,
                "dossier": dossier,
                "action": action,
                "data": data,
            }
        )

    roll = rng.random()
    if roll < 0.03:
        add("refuse", {"reason": "Hồ sơ không thuộc thẩm quyền giải quyết của xã"})
        return out
    if roll < 0.05:
        add("withdraw", {"reason": "Công dân xin rút hồ sơ"})
        return out
    if rng.random() < 0.15:
        add(
            "request-supplement",
            {"reason": "Thiếu bản sao giấy tờ tùy thân", "documents": ["Bản sao CCCD"]},
        )
        add(
            "supplement",
            {
                "note": "Đã bổ sung",
                "documents": [{"name": "Bản sao CCCD", "originals": 0, "copies": 1}],
            },
        )
    if rng.random() < 0.08:
        add("transfer", {"to": "H56.14", "reason": "Liên thông cấp tỉnh"})
        add("accept", {"note": "Đã nhận kết quả liên thông"})
    fee = first["data"]["procedure"]["fee"]
    if fee:
        add("request-payment", {"amount": fee, "reason": "Lệ phí"})
        add("pay", {"amount": fee, "receipt_no": f"BL{i:06d}"})
    if rng.random() < 0.02:
        add(
            "reschedule",
            {
                "new_due": _iso(
                    max(datetime.fromisoformat(first["data"]["due_at"]), t) + timedelta(days=3)
                ),
                "reason": "Xin lỗi vì chậm trễ do cần xác minh thêm",
            },
        )
    add(
        "resolve",
        {
            "result": "Đã giải quyết, kết quả sẵn sàng trả",
            "outcome": "approved",
            "documents": ["Kết quả giải quyết"],
        },
    )
    add("return", {"via": rng.choice(["desk", "desk", "post"])})
    if rng.random() < 0.7:
        add("rate", {"rating": rng.choice([1, 1, 2, 2, 2, 3])})
    return out
