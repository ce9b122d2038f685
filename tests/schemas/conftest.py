"""Valid sample records for the schema tests: plain dicts, as they arrive from JSON."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

PUBLIC_KEY = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()
SIG = base64.urlsafe_b64encode(bytes(range(64))).rstrip(b"=").decode()
ROOT = base64.b64encode(bytes(range(32))).decode()
NOTE_SIG = base64.b64encode(bytes(range(64))).decode()
ISSUER_ID = "00112233aabbccdd"
STATION_ID = "1122334455667788"
OFFICER_ID = "0123456789abcdef"
OFFICE = "H56.14"
STATION = "H56.14/1"
DOSSIER = "H56.14-260302-0001"
NOW = "2026-03-02T08:30:00+07:00"

Record = dict[str, Any]


def _cert(role: str = "officer", key_id: str = OFFICER_ID) -> Record:
    place: Record = {"office": None, "station": None} if role == "issuer" else {}
    return {
        "type": "commune.cert/v1",
        "key_id": key_id,
        "public_key": PUBLIC_KEY,
        "role": role,
        "name": "Nguyễn Văn An" if role == "officer" else "Trạm 1",
        "office": OFFICE,
        "station": 1,
        "not_before": NOW,
        "issuer": STATION_ID if role == "officer" else ISSUER_ID,
        "sig": SIG,
        **place,
    }


def _procedure_ref() -> Record:
    return {
        "code": "1.001612",
        "name": "Đăng ký khai sinh",
        "field": "Hộ tịch",
        "time_limit": 1,
        "time_unit": "working_days",
        "fee": 0,
        "on_the_spot": False,
    }


def _applicant() -> Record:
    return {"name": "Trần Thị Bình", "kind": 1, "id_kind": 1, "id_number": "079301000123"}


def _due_inputs() -> Record:
    return {
        "time_limit": 1,
        "time_unit": "working_days",
        "calendar_version": "2026.1",
        "cutoff": "17:00",
        "office_hours": ["07:00-11:30", "13:30-17:00"],
    }


def _receive_data() -> Record:
    return {
        "procedure": _procedure_ref(),
        "applicant": _applicant(),
        "channel": "direct",
        "documents": [{"name": "Tờ khai đăng ký khai sinh", "originals": 1, "copies": 0}],
        "sets": 1,
        "fees": [],
        "received_at": NOW,
        "due_at": "2026-03-03T08:30:00+07:00",
        "due_inputs": _due_inputs(),
        "return_via": "desk",
    }


MINIMAL_DATA: dict[str, Record] = {
    "station-open": {
        "office": {"code": OFFICE, "name": "Trung tâm Phục vụ hành chính công xã"},
        "station": 1,
        "station_cert": _cert("station", STATION_ID),
        "epoch": 0,
    },
    "officer-enrol": {"cert": _cert()},
    "officer-retire": {"key_id": OFFICER_ID, "reason": "Chuyển công tác"},
    "continuity": {
        "previous_origin": "hub.example/office/H56.14/1/e0",
        "checkpoint": f"hub.example/office/H56.14/1/e0\n12\n{ROOT}\n",
        "reason": "Máy tính bị hỏng",
    },
    "calendar-update": {"version": "2026.2", "holidays": ["2026-04-27"], "makeup_workdays": []},
    "receive": _receive_data(),
    "request-supplement": {"reason": "Thiếu giấy chứng sinh", "documents": ["Giấy chứng sinh"]},
    "supplement": {"documents": [{"name": "Giấy chứng sinh", "originals": 1, "copies": 0}]},
    "refuse": {"reason": "Không thuộc thẩm quyền"},
    "transfer": {"to": "000.00.17.H56"},
    "accept": {},
    "request-payment": {"amount": 50_000},
    "pay": {"amount": 50_000},
    "stop": {"reason": "Theo yêu cầu của cơ quan có thẩm quyền"},
    "withdraw": {},
    "reschedule": {"new_due": "2026-03-05T16:00:00+07:00", "reason": "Cần xác minh thêm"},
    "resolve": {"result": "Đã cấp Giấy khai sinh", "outcome": "approved", "documents": []},
    "return": {"via": "desk"},
    "rate": {"rating": 1},
}


def _event(
    action: str, data: Record | None = None, /, *, signed: bool = True, **fields: Any
) -> Record:
    """A valid event dict for `action` in canonical form (`to_record` gives it back).

    Station-level actions get `dossier: null`; `fields` override envelope fields.
    """
    station_level = action in {
        "station-open",
        "officer-enrol",
        "officer-retire",
        "continuity",
        "calendar-update",
    }
    record: Record = {
        "type": "commune.event/v1",
        "station": STATION,
        "seq": 3,
        "prev": ROOT,
        "beacon": None,
        "claimed_time": NOW,
        "officer": OFFICER_ID,
        "dossier": None if station_level else DOSSIER,
        "action": action,
        "data": copy.deepcopy(MINIMAL_DATA[action]) if data is None else data,
    }
    if signed:
        record["sig"] = SIG
    record.update(fields)
    return record


@pytest.fixture
def make_event() -> Callable[..., Record]:
    return _event


@pytest.fixture
def make_cert() -> Callable[..., Record]:
    return _cert


@pytest.fixture
def receive() -> Record:
    return _receive_data()


@pytest.fixture
def applicant() -> Record:
    return _applicant()


@pytest.fixture
def procedure_ref() -> Record:
    return _procedure_ref()


@pytest.fixture
def due_inputs() -> Record:
    return _due_inputs()
