from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from commune_client.procedures import save_catalog
from commune_client.station import Session, Station
from schemas.catalog import Procedure

T0 = datetime.fromisoformat("2026-11-23T07:30:00+07:00")  # Monday; 24/11 is a holiday
OFFICE = "000.00.17.H56"
PASS = "mật khẩu Hoa"

PROCEDURES = [
    Procedure(
        code="1.001193",
        name="Đăng ký khai sinh",
        field="Hộ tịch",
        time_limit=1,
        time_unit="working_days",
        fee=0,
        documents=[
            {"name": "Tờ khai đăng ký khai sinh", "originals": 1, "copies": 0},
            {"name": "Giấy chứng sinh", "originals": 1, "copies": 0},
        ],
    ),
    Procedure(
        code="2.000908",
        name="Chứng thực bản sao từ bản chính",
        field="Chứng thực",
        time_limit=0,
        time_unit="working_days",
        fee=2000,
        on_the_spot=True,
        documents=[{"name": "Bản chính giấy tờ", "originals": 1, "copies": 1}],
    ),
    Procedure(
        code="1.001699",
        name="Xác nhận hộ gia đình làm nông nghiệp",
        field="Bảo trợ xã hội",
        time_limit=10,
        time_unit="working_days",
        fee=0,
        documents=[],
    ),
]


def make_station(path: Path) -> Station:
    station = Station.create(
        path,
        office=OFFICE,
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=T0,
    )
    save_catalog(station.store, PROCEDURES)
    return station


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = make_station(tmp_path / "station")
    yield st
    st.close()


@pytest.fixture
def session(station: Station) -> Session:
    return station.sign_in(None, PASS)


APPLICANT = {
    "name": "Nguyễn Văn Đức",
    "id_number": "001088012345",
    "phone": "0912345678",
    "address": "Thôn 3, xã Tân Lập",
}
