"""The portal mapping (sync_server/portal/mapping.py), field by field, against values written
out by hand from docs/portal.md and DOMAIN section 6."""

from __future__ import annotations

from typing import Any

import pytest

from sync_server.portal.mapping import (
    DOSSIER_FIELDS,
    PROGRESS_FIELDS,
    Names,
    applied_steps,
    catalogue_from_portal,
    dossier_record,
    portal_date,
    progress_rows,
)

CODE = "000.00.17.H56-261123-0007"
BLOB = "ab" * 32
OFFICER_A, OFFICER_B = "a1" * 8, "b2" * 8
NAMES = Names(
    office_name={"000.00.17.H56": "UBND xã Tân Lập", "000.00.18.H56": "UBND xã Đông Sơn"}.get,  # type: ignore[arg-type]
    officer_name={OFFICER_A: "Nguyễn Thị Hoa", OFFICER_B: "Trần Văn Bình"}.get,  # type: ignore[arg-type]
    file_url=lambda sha: f"https://hub.test/v1/portal/files/{sha}?exp=1&sig=x",
)


def event(seq: int, action: str, at: str, data: dict[str, Any], *, station: str = "A") -> dict:
    office = "000.00.17.H56" if station == "A" else "000.00.18.H56"
    return {
        "type": "commune.event/v1",
        "station": f"{office}/1",
        "seq": seq,
        "prev": "",
        "beacon": None,
        "claimed_time": at,
        "officer": OFFICER_A if station == "A" else OFFICER_B,
        "dossier": CODE,
        "action": action,
        "data": data,
        "sig": "",
    }


RECEIVE = {
    "procedure": {
        "code": "1.001193",
        "name": "Đăng ký khai sinh",
        "field": "Hộ tịch",
        "field_code": "G09-TP04",
        "time_limit": 3,
        "time_unit": "working_days",
        "fee": 8000,
        "on_the_spot": False,
    },
    "applicant": {
        "name": "Nguyễn Văn Đức",
        "kind": 1,
        "id_kind": 1,
        "id_number": "001088012345",
        "phone": "0912345678",
        "email": "duc@example.vn",
        "address": "Thôn 3, xã Tân Lập",
    },
    "representative": {"name": "Lê Thị Mai", "id_kind": 1, "id_number": "001190054321"},
    "channel": "postal",
    "summary": "Đăng ký khai sinh cho con",
    "documents": [
        {"name": "Tờ khai", "originals": 1, "copies": 0, "blob": BLOB},
        {"name": "Giấy chứng sinh", "originals": 1, "copies": 0},
    ],
    "sets": 1,
    "fees": [{"name": "Lệ phí hộ tịch", "code": "LP01", "amount": 8000}],
    "received_at": "2026-11-23T08:15:00+07:00",
    "due_at": "2026-11-26T08:15:00+07:00",
    "due_inputs": {
        "time_limit": 3,
        "time_unit": "working_days",
        "calendar_version": "vn-2026.1",
        "cutoff": "17:00",
        "office_hours": ["07:00-11:30", "13:30-17:00"],
    },
    "return_via": "post",
}


def lifecycle() -> list[dict[str, Any]]:
    return [
        event(5, "receive", "2026-11-23T08:15:02+07:00", RECEIVE),
        event(
            6,
            "request-supplement",
            "2026-11-23T09:00:00+07:00",
            {"reason": "Thiếu bản sao", "documents": ["Bản sao CCCD"]},
        ),
        event(
            7,
            "supplement",
            "2026-11-24T10:00:00+07:00",
            {"note": "Đã bổ sung", "due_at": "2026-11-27T10:00:00+07:00"},
        ),
        # an impossible step (return before resolve): a conflict, no row, no change
        event(8, "return", "2026-11-24T10:30:00+07:00", {"via": "desk"}),
        event(9, "transfer", "2026-11-24T11:00:00+07:00", {"to": "000.00.18.H56"}),
        event(1, "accept", "2026-11-25T08:00:00+07:00", {"note": "Nhận"}, station="B"),
        event(
            2,
            "resolve",
            "2026-11-26T16:00:00Z",  # UTC on purpose: the portal wants Vietnam time
            {"result": "Cấp giấy khai sinh", "documents": ["Giấy khai sinh bản chính"]},
            station="B",
        ),
        event(10, "return", "2026-11-27T09:00:00+07:00", {"via": "post"}),
        event(11, "rate", "2026-11-27T09:05:00+07:00", {"rating": 1}),
    ]


def test_dates_are_vietnam_time_digits() -> None:
    assert portal_date("2026-11-26T16:00:00Z") == "20261126230000"
    assert portal_date("2026-11-23T08:15:00+07:00") == "20261123081500"
    assert portal_date(None) == portal_date("") == ""


def test_conflicting_events_get_no_row() -> None:
    steps = applied_steps(lifecycle())
    assert [s.event["action"] for s in steps] == [
        "receive",
        "request-supplement",
        "supplement",
        "transfer",
        "accept",
        "resolve",
        "return",
        "rate",
    ]
    assert len(steps) == steps[-1].state["version"]


def test_dossier_record_field_by_field() -> None:
    steps = applied_steps(lifecycle())
    record = dossier_record(steps[-1].state, steps, NAMES)
    assert list(record) == list(DOSSIER_FIELDS)
    expected = {
        "MaHoSo": CODE,
        "MaTTHC": "1.001193",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "G09-TP04",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": 3,
        "ChuHoSo": "Nguyễn Văn Đức",
        "LoaiDoiTuong": 1,
        "SoGiayToChuHoSo": "001088012345",
        "SoDienThoai": "0912345678",
        "Email": "duc@example.vn",
        "DiaChi": "Thôn 3, xã Tân Lập",
        "TrichYeuHoSo": "Đăng ký khai sinh cho con",
        "NgayNopHoSo": "20261123081500",
        "NgayTiepNhan": "20261123081500",
        "NgayHenTra": "20261127100000",
        "NgayTra": "20261127090000",
        "NgayKetThucXuLy": "20261126230000",
        "NgayTuChoi": "",
        "TrangThaiHoSo": 10,
        "HinhThuc": 1,
        "DonViXuLy": "000.00.18.H56",
        "GhiChu": "Người được ủy quyền: Lê Thị Mai (001190054321)",
        "HoSoCoThanhPhanSoHoa": 1,
        "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": "001088012345"}],
        "TaiLieuNop": [
            {
                "TepDinhKemId": BLOB,
                "TenTepDinhKem": "Tờ khai",
                "MaThanhPhanHoSo": "TP01",
                "DuongDanTaiTepTin": f"https://hub.test/v1/portal/files/{BLOB}?exp=1&sig=x",
                "DuocSoHoa": 1,
            },
            {
                "TepDinhKemId": f"{CODE}-TP02",
                "TenTepDinhKem": "Giấy chứng sinh",
                "MaThanhPhanHoSo": "TP02",
                "DuongDanTaiTepTin": "",
                "DuocSoHoa": 0,
            },
        ],
        "DanhSachLePhi": [
            {"TenPhiLePhi": "Lệ phí hộ tịch", "MaPhiLePhi": "LP01", "HinhThucThu": 1, "Gia": 8000}
        ],
        "DanhSachHoSoBoSung": [
            {
                "HoSoBoSungId": f"{CODE}-BS1",
                "NoiDungBoSung": "Thiếu bản sao: Bản sao CCCD",
                "NgayYeuCauBoSung": "20261123090000",
                "NgayTiepNhanBoSung": "20261124100000",
                "NgayHenTraMoi": "20261127100000",
            }
        ],
        "DanhSachGiayToKetQua": [
            {
                "GiayToId": f"{CODE}-KQ01",
                "TenGiayTo": "Giấy khai sinh bản chính",
                "DuongDanTepTinKetQua": "",
            }
        ],
    }
    for field in DOSSIER_FIELDS:
        assert record[field] == expected[field], field


def test_progress_rows_field_by_field() -> None:
    rows = progress_rows(applied_steps(lifecycle()), NAMES)
    assert all(list(r) == list(PROGRESS_FIELDS) for r in rows)
    first = rows[0]
    assert first == {
        "MaHoSo": CODE,
        "NguoiXuLy": "Nguyễn Thị Hoa",
        "ChucDanh": "Cán bộ tiếp nhận và trả kết quả",
        "ThoiDiemXuLy": "20261123081500",  # received_at, not the event's claimed time
        "PhongBanXuLy": "UBND xã Tân Lập",
        "NoiDungXuLy": "Tiếp nhận hồ sơ",
        "TrangThai": 2,
        "NgayBatDau": "20261123081500",
        "NgayKetThucTheoQuyDinh": "20261126081500",
    }
    assert [(r["TrangThai"], r["NoiDungXuLy"]) for r in rows[1:]] == [
        (5, "Yêu cầu bổ sung hồ sơ: Thiếu bản sao"),
        (2, "Tiếp nhận hồ sơ bổ sung: Đã bổ sung"),
        (4, "Chuyển liên thông đến 000.00.18.H56"),
        (4, "Nhận hồ sơ để xử lý: Nhận"),
        (9, "Đã có kết quả giải quyết: Cấp giấy khai sinh"),
        (10, "Trả kết quả qua dịch vụ bưu chính công ích"),
        (10, "Đánh giá mức độ hài lòng: Rất hài lòng"),
    ]
    accept = rows[4]
    assert accept["NguoiXuLy"] == "Trần Văn Bình"
    assert accept["PhongBanXuLy"] == "UBND xã Đông Sơn"
    assert accept["NgayBatDau"] == rows[3]["ThoiDiemXuLy"] == "20261124110000"
    assert rows[2]["NgayKetThucTheoQuyDinh"] == "20261127100000"  # moved by the supplement
    assert rows[5]["ThoiDiemXuLy"] == "20261126230000"


@pytest.mark.parametrize(
    ("status_events", "portal"),
    [
        ([], 2),
        ([("refuse", {"reason": "Không thuộc thẩm quyền"})], 3),
        ([("accept", {})], 4),
        ([("request-supplement", {"reason": "Thiếu"})], 5),
        ([("request-payment", {"amount": 5000})], 6),
        ([("withdraw", {})], 7),
        ([("stop", {"reason": "Dừng"})], 8),
        ([("resolve", {"result": "Xong"})], 9),
        ([("resolve", {"result": "Xong"}), ("return", {"via": "desk"})], 10),
        ([("transfer", {"to": "000.00.18.H56"})], 4),
    ],
)
def test_status_codes(status_events: list[tuple[str, dict]], portal: int) -> None:
    events = [event(0, "receive", "2026-11-23T08:15:00+07:00", RECEIVE)]
    for i, (action, data) in enumerate(status_events, start=1):
        events.append(event(i, action, f"2026-11-23T{8 + i:02d}:00:00+07:00", data))
    steps = applied_steps(events)
    record = dossier_record(steps[-1].state, steps, NAMES)
    assert record["TrangThaiHoSo"] == portal
    assert progress_rows(steps, NAMES)[-1]["TrangThai"] == portal


def test_passport_holders_have_no_portal_identity_kind() -> None:
    data = {**RECEIVE, "applicant": {**RECEIVE["applicant"], "id_kind": 3, "id_number": "B1234567"}}
    steps = applied_steps([event(0, "receive", "2026-11-23T08:15:00+07:00", data)])
    record = dossier_record(steps[-1].state, steps, NAMES)
    assert record["DinhDanhCHS"] == []
    assert record["SoGiayToChuHoSo"] == "B1234567"


def test_long_texts_are_cut_to_the_portal_limits() -> None:
    long_name = "Nguyễn " * 20
    names = Names(lambda c: c, lambda k: long_name, lambda s: "")
    steps = applied_steps([event(0, "receive", "2026-11-23T08:15:00+07:00", RECEIVE)])
    assert len(progress_rows(steps, names)[0]["NguoiXuLy"]) == 50


def test_catalogue_from_the_portal() -> None:
    items = [
        {
            "MaTTHC": "1.001193",
            "TenTTHC": "Đăng ký khai sinh",
            "MaLinhVuc": "G09-TP04",
            "TenLinhVuc": "Hộ tịch",
            "ThoiHanGiaiQuyet": 3,
            "DonViThoiHan": "NgayLamViec",
            "LePhi": 8000,
            "GiaiQuyetNgay": 0,
            "ThanhPhanHoSo": [{"TenGiayTo": "Tờ khai", "SoBanChinh": 1, "SoBanSao": 0}],
        },
        {"MaTTHC": "bad code!", "TenTTHC": "x"},
        {**{"MaTTHC": "2.000908", "TenTTHC": "Chứng thực", "TenLinhVuc": "Chứng thực"},
         "ThoiHanGiaiQuyet": 0, "DonViThoiHan": "Ngay", "LePhi": 2000, "GiaiQuyetNgay": 1},
        {"MaTTHC": "3.1", "TenTTHC": "x", "TenLinhVuc": "y", "ThoiHanGiaiQuyet": 1,
         "DonViThoiHan": "Tuan"},
        "not an object",
    ]  # fmt: skip
    good, refused = catalogue_from_portal(items)
    assert good[0] == {
        "code": "1.001193",
        "name": "Đăng ký khai sinh",
        "field": "Hộ tịch",
        "field_code": "G09-TP04",
        "time_limit": 3,
        "time_unit": "working_days",
        "fee": 8000,
        "documents": [{"name": "Tờ khai", "originals": 1, "copies": 0}],
        "on_the_spot": False,
    }
    assert good[1]["time_unit"] == "calendar_days" and good[1]["on_the_spot"] is True
    assert [r["code"] for r in refused] == ["bad code!", "3.1", "?"]
