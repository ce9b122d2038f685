"""The provincial portal simulator against docs/portal.md, over real HTTP on loopback.

Everything here is checked from the client's side of the wire (httpx), as the hub's adapter
will see it; the expected digests are computed in the test from the page's definition.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from portalkit import (
    AGENCY,
    DSTCODE,
    PASSWORD,
    USERNAME,
    RunningSimulator,
    dossier_code,
    progress_row,
    running_simulator,
    sample_record,
)

from sync_server.portal.simulator import FAULT_KINDS, simulate_command

ROOT = Path(__file__).resolve().parents[2]


class Portal:
    """A minimal hand-written client of the wire contract (not the hub's adapter)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        self.session = ""

    def login(self, dstcode: str = DSTCODE, **body: Any) -> dict[str, Any]:
        body = {"username": USERNAME, "password": PASSWORD, **body}
        answer: dict[str, Any] = self.http.post(
            "/api/auth", headers={"dstcode": dstcode}, json=body
        ).json()
        if answer["error_code"] == "0":
            self.session = answer["session"]
        return answer

    def envelope(self, service: str, madonvi: str = AGENCY, **kw: Any) -> dict[str, Any]:
        return {"session": self.session, "madonvi": madonvi, "service": service, **kw}

    def post(self, service: str, madonvi: str = AGENCY, **kw: Any) -> httpx.Response:
        return self.http.post("/api/service", json=self.envelope(service, madonvi, **kw))

    def call(self, service: str, madonvi: str = AGENCY, **kw: Any) -> dict[str, Any]:
        response = self.post(service, madonvi, **kw)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def create(self, *records: dict[str, Any], madonvi: str = AGENCY) -> dict[str, Any]:
        return self.call("DongBoHoSoMC", madonvi, isUpdating="False", data=list(records))

    def update(self, *records: dict[str, Any], madonvi: str = AGENCY) -> dict[str, Any]:
        return self.call("DongBoHoSoMC", madonvi, isUpdating="True", data=list(records))

    def rows(self, *rows: dict[str, Any], madonvi: str = AGENCY) -> dict[str, Any]:
        return self.call("CapNhatTienDoHoSoMC", madonvi, data=list(rows))

    def look_up(self, code: str, madonvi: str = AGENCY) -> dict[str, Any]:
        return self.call("TraCuuHoSo", madonvi, mahoso=code)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    with running_simulator(tmp_path, slow_seconds=0.3) as running:
        yield running


@pytest.fixture
def portal(sim: RunningSimulator) -> Iterator[Portal]:
    client = Portal(sim.url)
    assert client.login()["error_code"] == "0"
    yield client
    client.close()


def assert_error(answer: dict[str, Any], code: str, *needles: str) -> None:
    assert answer["error_code"] == code, answer
    for needle in needles:
        assert needle in answer["message"], answer


def expected_digest(lines: list[tuple[str, int, int]]) -> str:
    text = "".join(f"{c}\t{s}\t{v}\n" for c, s, v in sorted(lines))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- login and sessions ----------------------------------------------------------------------


def test_login_accepts_the_configured_credentials_and_refuses_others(sim: RunningSimulator) -> None:
    client = Portal(sim.url)
    answer = client.login()
    assert answer["error_code"] == "0" and len(answer["session"]) >= 16
    assert_error(client.login(dstcode="other"), "11")
    assert_error(client.login(password="wrong"), "11")
    assert_error(client.login(username="admin"), "11")
    no_header = client.http.post("/api/auth", json={"username": USERNAME, "password": PASSWORD})
    assert_error(no_header.json(), "11")
    assert_error(client.login(extra="x"), "1", "extra")
    missing = client.http.post("/api/auth", headers={"dstcode": DSTCODE}, json={"username": "hub"})
    assert_error(missing.json(), "2", "password")
    assert_error(client.login(password=123), "7", "password")
    client.close()


def test_sessions_expire_after_30_minutes_of_the_simulator_clock(
    sim: RunningSimulator, portal: Portal
) -> None:
    start = time.time()
    sim.set_clock(start + 29 * 60)
    assert portal.call("LayDanhSachTTHC")["error_code"] == "0"
    sim.set_clock(start + 30 * 60 + 5)
    assert_error(portal.call("LayDanhSachTTHC"), "10")
    assert portal.login()["error_code"] == "0"  # a new session on the moved clock
    assert portal.call("LayDanhSachTTHC")["error_code"] == "0"
    sim.shift_clock(31 * 60)
    assert_error(portal.call("LayDanhSachTTHC"), "10")


def test_missing_or_unknown_sessions_answer_10(portal: Portal) -> None:
    body = portal.envelope("LayDanhSachTTHC")
    for session in (None, "", "not-a-session", 42):
        answer = portal.http.post("/api/service", json={**body, "session": session}).json()
        assert_error(answer, "10")
    del body["session"]
    assert_error(portal.http.post("/api/service", json=body).json(), "10")


# -- dossiers --------------------------------------------------------------------------------


def test_create_update_and_look_up(sim: RunningSimulator, portal: Portal) -> None:
    record = sample_record()
    code = record["MaHoSo"]
    assert portal.create(record) == {"error_code": "0", "message": "Thành công"}
    found = portal.look_up(code)
    assert found["error_code"] == "0"
    assert found["data"] == {**record, "TienDoXuLy": []}

    assert_error(portal.create(record), "5", "đã tồn tại", code)
    changed = {**record, "TrangThaiHoSo": 4, "GhiChu": "Chuyển xử lý"}
    assert portal.update(changed)["error_code"] == "0"
    assert portal.look_up(code)["data"]["TrangThaiHoSo"] == 4
    assert portal.look_up(code)["data"]["GhiChu"] == "Chuyển xử lý"

    other = sample_record(dossier_code(seq=2))
    assert_error(portal.update(other), "6", "Không tìm thấy", other["MaHoSo"])
    assert_error(portal.look_up(other["MaHoSo"]), "6", "Không tìm thấy")
    assert len(sim.dump()) == 1


def test_optional_keys_may_be_absent_and_empty_dates_are_accepted(portal: Portal) -> None:
    record = sample_record()
    for key in ("MaLinhVuc", "TenLinhVuc", "SoDienThoai", "Email", "DiaChi", "TrichYeuHoSo"):
        del record[key]
    del record["GhiChu"]
    record["NgayNopHoSo"] = ""
    record["TaiLieuNop"][0]["DuongDanTaiTepTin"] = ""
    record["ChuHoSo"] = "Đ" * 200
    assert portal.create(record)["error_code"] == "0"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutator: set `a.b[0].c`-style path to value (a value of `...` deletes the key)."""

    def mutate(record: dict[str, Any]) -> None:
        target: Any = record
        parts = path.replace("[", ".").replace("]", "").split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return mutate


VALIDATION_CASES = [
    ("Foo", "x", "1", "Trường không hợp lệ: Foo"),
    ("TaiLieuNop[0].Foo", 1, "1", "TaiLieuNop[0].Foo"),
    ("DanhSachLePhi[0].GhiChu", "", "1", "DanhSachLePhi[0].GhiChu"),
    ("MaTTHC", ..., "2", "Thiếu trường bắt buộc: MaTTHC"),
    ("ChuHoSo", "", "2", "ChuHoSo"),
    ("NgayTiepNhan", "", "2", "NgayTiepNhan"),
    ("NgayTra", ..., "2", "NgayTra"),
    ("TrangThaiHoSo", None, "2", "TrangThaiHoSo"),
    ("DinhDanhCHS", ..., "2", "DinhDanhCHS"),
    ("DinhDanhCHS[0].SoDinhDanh", ..., "2", "DinhDanhCHS[0].SoDinhDanh"),
    ("NgayHenTra", "20250230120000", "3", "Ngày không hợp lệ: NgayHenTra"),
    ("NgayTiepNhan", "2025-11-23 08:30", "3", "NgayTiepNhan"),
    ("NgayTra", "20251123240000", "3", "NgayTra"),
    ("NgayNopHoSo", "2025112308300", "3", "NgayNopHoSo"),
    ("NgayTuChoi", "２０２５１１２３０８３０００", "3", "NgayTuChoi"),
    ("NgayNopHoSo", 20251123083000, "7", "NgayNopHoSo"),
    ("KenhThucHien", 4, "7", "Giá trị không hợp lệ: KenhThucHien"),
    ("KenhThucHien", "1", "7", "KenhThucHien"),
    ("KenhThucHien", True, "7", "KenhThucHien"),
    ("KenhThucHien", 1.0, "7", "KenhThucHien"),
    ("LoaiDoiTuong", 0, "7", "LoaiDoiTuong"),
    ("TrangThaiHoSo", 11, "7", "TrangThaiHoSo"),
    ("HinhThuc", 2, "7", "HinhThuc"),
    ("HoSoCoThanhPhanSoHoa", -1, "7", "HoSoCoThanhPhanSoHoa"),
    ("ChuHoSo", "a" * 201, "7", "ChuHoSo"),
    ("TrichYeuHoSo", "a" * 1001, "7", "TrichYeuHoSo"),
    ("GhiChu", "a" * 2001, "7", "GhiChu"),
    ("MaTTHC", 1001193, "7", "MaTTHC"),
    ("DinhDanhCHS", "056090001234", "7", "DinhDanhCHS"),
    ("DinhDanhCHS[0].LoaiDinhDanh", 3, "7", "DinhDanhCHS[0].LoaiDinhDanh"),
    ("TaiLieuNop[0]", "tl-1", "7", "TaiLieuNop[0]"),
    ("TaiLieuNop[0].DuongDanTaiTepTin", "ftp://hub/x.pdf", "7", "DuongDanTaiTepTin"),
    ("TaiLieuNop[0].DuongDanTaiTepTin", "/files/x.pdf", "7", "DuongDanTaiTepTin"),
    ("TaiLieuNop[0].DuocSoHoa", 2, "7", "TaiLieuNop[0].DuocSoHoa"),
    ("DanhSachLePhi[0].Gia", -1, "7", "DanhSachLePhi[0].Gia"),
    ("DanhSachLePhi[0].HinhThucThu", 3, "7", "DanhSachLePhi[0].HinhThucThu"),
    ("MaHoSo", "abc", "7", "MaHoSo"),
    ("MaHoSo", f"{AGENCY}-251323-0001", "7", "MaHoSo"),
    ("MaHoSo", f"{AGENCY}-251123-01", "7", "MaHoSo"),
    ("MaHoSo", "000.00.18.H56-251123-0001", "4", "000.00.18.H56"),
]


@pytest.mark.parametrize(("path", "value", "code", "needle"), VALIDATION_CASES)
def test_each_validation_error_names_the_field_and_writes_nothing(
    sim: RunningSimulator, portal: Portal, path: str, value: Any, code: str, needle: str
) -> None:
    record = sample_record()
    _set(path, value)(record)
    assert_error(portal.create(record), code, needle)
    assert sim.dump() == []


def test_nested_dates_and_unknown_fields_in_every_list(portal: Portal) -> None:
    record = sample_record(
        DanhSachHoSoBoSung=[
            {
                "HoSoBoSungId": "bs-1",
                "NoiDungBoSung": "Bổ sung giấy chứng sinh",
                "NgayYeuCauBoSung": "20251124090000",
                "NgayTiepNhanBoSung": "",
                "NgayHenTraMoi": "20251131090000",
            }
        ]
    )
    assert_error(portal.create(record), "3", "DanhSachHoSoBoSung[0].NgayHenTraMoi")
    record["DanhSachHoSoBoSung"][0]["NgayHenTraMoi"] = ""
    record["DanhSachGiayToKetQua"] = [
        {"GiayToId": "kq", "TenGiayTo": "Giấy khai sinh", "DuongDanTepTinKetQua": "", "X": 1}
    ]
    assert_error(portal.create(record), "1", "DanhSachGiayToKetQua[0].X")
    del record["DanhSachGiayToKetQua"][0]["X"]
    assert portal.create(record)["error_code"] == "0"


def test_agency_rules(sim: RunningSimulator, portal: Portal) -> None:
    record = sample_record()
    assert_error(portal.create(record, madonvi="000.00.17.H57"), "4", "Mã đơn vị không thuộc tỉnh")
    assert_error(portal.create(record, madonvi="000.00.17.H561"), "4")
    assert_error(portal.create(record, madonvi="000.00.18.H56"), "4", record["MaHoSo"])
    assert_error(portal.create(record, madonvi=""), "2", "madonvi")
    assert_error(portal.create(record, madonvi=56), "7", "madonvi")  # type: ignore[arg-type]
    newer = sample_record(dossier_code(agency="H56.14"))
    assert portal.create(newer, madonvi="H56.14")["error_code"] == "0"
    assert portal.look_up(newer["MaHoSo"], madonvi="H56.14")["error_code"] == "0"
    assert_error(portal.look_up(newer["MaHoSo"]), "4")
    assert [d["MaHoSo"] for d in sim.dump()] == [newer["MaHoSo"]]


def test_envelope_errors(sim: RunningSimulator, portal: Portal) -> None:
    record = sample_record()
    assert_error(portal.call("LayThongTinKhac"), "8", "LayThongTinKhac")
    assert_error(portal.call("", data=[]), "2", "service")
    assert_error(portal.call("DongBoHoSoMC", isUpdating="False", data=[record], x=1), "1", "x")
    assert_error(portal.call("DongBoHoSoMC", data=[record]), "2", "isUpdating")
    assert_error(portal.call("DongBoHoSoMC", isUpdating=False, data=[record]), "7", "isUpdating")
    assert_error(portal.call("DongBoHoSoMC", isUpdating="false", data=[record]), "7")
    assert_error(portal.call("DongBoHoSoMC", isUpdating="False", data=[]), "2", "data")
    assert_error(portal.call("DongBoHoSoMC", isUpdating="False", data=record), "7", "data")
    many = [sample_record(dossier_code(seq=n)) for n in range(1, 52)]
    assert_error(portal.create(*many), "9")
    assert_error(portal.call("LayDanhSachTTHC", mahoso="x"), "1", "mahoso")
    assert_error(portal.call("TraCuuHoSo"), "2", "mahoso")
    for raw in (b"[1, 2]", b'"text"', b"null", b"{not json", b"", b"\xff\xfe"):
        assert_error(portal.http.post("/api/service", content=raw).json(), "7")
    assert sim.dump() == []
    assert portal.create(*many[:50])["error_code"] == "0"
    assert len(sim.dump()) == 50


def test_calls_are_all_or_nothing(sim: RunningSimulator, portal: Portal) -> None:
    good = [sample_record(dossier_code(seq=n)) for n in (1, 2)]
    bad = sample_record(dossier_code(seq=3), KenhThucHien=9)
    assert_error(portal.create(*good, bad), "7", "KenhThucHien")
    assert sim.dump() == []
    assert portal.create(good[1])["error_code"] == "0"
    assert_error(portal.create(good[0], good[1]), "5", good[1]["MaHoSo"])
    assert [d["MaHoSo"] for d in sim.dump()] == [good[1]["MaHoSo"]]
    assert_error(portal.update(good[1], good[0]), "6", good[0]["MaHoSo"])
    code = good[1]["MaHoSo"]
    reception = progress_row(code, "20251123083000")
    assert_error(portal.rows(reception, progress_row(code, "", "Xử lý", 4)), "2", "ThoiDiemXuLy")
    assert sim.stats()["rows"] == 0


# -- progress rows ---------------------------------------------------------------------------


def test_the_first_row_must_be_the_reception(sim: RunningSimulator, portal: Portal) -> None:
    code = sample_record()["MaHoSo"]
    portal.create(sample_record())
    assert_error(portal.rows(progress_row(code, "20251123090000", "Xử lý hồ sơ", 4)), "7")
    assert_error(portal.rows(progress_row(code, "20251123083000", status=4)), "7")
    assert portal.rows(progress_row(code, "20251123083000"))["error_code"] == "0"
    assert portal.rows(progress_row(code, "20251123090000", "Xử lý hồ sơ", 4))["error_code"] == "0"
    rows = portal.look_up(code)["data"]["TienDoXuLy"]
    assert [(r["NoiDungXuLy"], r["TrangThai"]) for r in rows] == [
        ("Tiếp nhận hồ sơ", 2),
        ("Xử lý hồ sơ", 4),
    ]


def test_row_validation(sim: RunningSimulator, portal: Portal) -> None:
    record = sample_record()
    code = record["MaHoSo"]
    portal.create(record)
    row = progress_row(code, "20251123083000")
    assert_error(portal.rows({**row, "NguoiXuLy": "x" * 51}), "7", "NguoiXuLy")
    assert_error(portal.rows({**row, "TrangThai": 0}), "7", "TrangThai")
    assert_error(portal.rows({**row, "ThoiDiemXuLy": "20251123250000"}), "3", "ThoiDiemXuLy")
    assert_error(portal.rows({**row, "NgayKetThucTheoQuyDinh": "2025"}), "3")
    assert_error(portal.rows({**row, "Extra": ""}), "1", "Extra")
    assert_error(portal.rows({k: v for k, v in row.items() if k != "ChucDanh"}), "2", "ChucDanh")
    other = dossier_code(seq=9)
    assert_error(portal.rows(progress_row(other, "20251123083000")), "6", "Không tìm thấy")
    foreign = dossier_code(agency="000.00.18.H56")
    assert_error(portal.rows(progress_row(foreign, "20251123083000")), "4")
    assert_error(portal.call("CapNhatTienDoHoSoMC", data=[]), "2", "data")
    assert sim.stats()["rows"] == 0


def test_at_most_ten_rows_per_call(sim: RunningSimulator, portal: Portal) -> None:
    code = sample_record()["MaHoSo"]
    portal.create(sample_record())
    rows = [progress_row(code, "20251123083000")] + [
        progress_row(code, f"202511231{n:01d}0000", f"Bước {n}", 4) for n in range(10)
    ]
    assert len(rows) == 11
    assert_error(portal.rows(*rows), "9")
    assert sim.stats()["rows"] == 0
    assert portal.rows(*rows[:10])["error_code"] == "0"
    assert portal.rows(rows[10])["error_code"] == "0"
    found = portal.look_up(code)["data"]["TienDoXuLy"]
    assert [r["NoiDungXuLy"] for r in found] == [r["NoiDungXuLy"] for r in rows]


def test_an_identical_row_replaces_in_place_and_counts_as_resent(
    sim: RunningSimulator, portal: Portal
) -> None:
    code = sample_record()["MaHoSo"]
    portal.create(sample_record())
    first = progress_row(code, "20251123083000")
    second = progress_row(code, "20251123090000", "Chuyển xử lý", 4)
    assert portal.rows(first, second)["error_code"] == "0"
    assert sim.stats()["rows_resent"] == 0
    again = {**first, "NguoiXuLy": "Lê Văn Minh"}
    assert portal.rows(again)["error_code"] == "0"
    rows = portal.look_up(code)["data"]["TienDoXuLy"]
    assert rows == [again, second]  # replaced, and still first in arrival order
    stats = sim.stats()
    assert (stats["rows_resent"], stats["rows"]) == (1, 2)
    # A row differing in one of the four key fields is a new row.
    assert portal.rows({**second, "TrangThai": 5})["error_code"] == "0"
    assert sim.stats()["rows"] == 3


def test_state_survives_a_restart(tmp_path: Path) -> None:
    code = sample_record()["MaHoSo"]
    with running_simulator(tmp_path) as sim:
        client = Portal(sim.url)
        client.login()
        client.create(sample_record())
        client.rows(progress_row(code, "20251123083000"))
        client.rows(progress_row(code, "20251123083000"))
        client.close()
        url, port = sim.url, sim.port
    with running_simulator(tmp_path, port=port) as sim:
        assert sim.url == url
        stats = sim.stats()
        assert (stats["dossiers"], stats["rows"], stats["rows_resent"]) == (1, 1, 1)
        client = Portal(sim.url)
        client.login()
        assert len(client.look_up(code)["data"]["TienDoXuLy"]) == 1
        client.close()


# -- catalogue and reconciliation ------------------------------------------------------------


def test_the_catalogue(portal: Portal, tmp_path: Path) -> None:
    answer = portal.call("LayDanhSachTTHC")
    assert answer["error_code"] == "0"
    procedures = {p["MaTTHC"]: p for p in answer["data"]}
    assert len(procedures) >= 8
    birth = procedures["1.001193"]
    assert birth["TenTTHC"] == "Đăng ký khai sinh"
    for entry in answer["data"]:
        assert set(entry) == {
            "MaTTHC",
            "TenTTHC",
            "MaLinhVuc",
            "TenLinhVuc",
            "ThoiHanGiaiQuyet",
            "DonViThoiHan",
            "LePhi",
            "GiaiQuyetNgay",
            "ThanhPhanHoSo",
        }
        assert entry["DonViThoiHan"] in ("NgayLamViec", "Ngay", "GioLamViec")
        assert entry["GiaiQuyetNgay"] in (0, 1) and entry["ThanhPhanHoSo"]
        assert all(
            set(d) == {"TenGiayTo", "SoBanChinh", "SoBanSao"} for d in entry["ThanhPhanHoSo"]
        )
    custom = [{**birth, "MaTTHC": "9.999999"}]
    with running_simulator(tmp_path / "other.db", catalog=custom) as other:
        client = Portal(other.url)
        client.login()
        assert client.call("LayDanhSachTTHC")["data"] == custom
        client.close()


def _seed_reconciliation(portal: Portal) -> list[dict[str, Any]]:
    """Dossiers over three days in two months, 0-3 rows each, one in another agency."""
    rng = random.Random(5)
    records = []
    for n, day in enumerate(["251130", "251201", "251201", "251215"] * 6):
        record = sample_record(dossier_code(day, n + 1), TrangThaiHoSo=rng.choice([2, 4, 9, 10]))
        assert portal.create(record)["error_code"] == "0"
        code = record["MaHoSo"]
        when = record["NgayTiepNhan"]
        for k in range(rng.randint(0, 3)):
            row = progress_row(code, when, "Tiếp nhận hồ sơ" if k == 0 else f"Bước {k}")
            row["TrangThai"] = 2 if k == 0 else 4
            row["ThoiDiemXuLy"] = when[:8] + f"1{k}0000"
            assert portal.rows(row)["error_code"] == "0"
        records.append(record)
    foreign = sample_record(dossier_code("251201", 1, "H56.14"))
    assert portal.create(foreign, madonvi="H56.14")["error_code"] == "0"
    return records


def _expected(sim: RunningSimulator, first: str, last: str, width: int) -> list[dict[str, Any]]:
    periods: dict[str, list[tuple[str, int, int]]] = {}
    for d in sim.dump(AGENCY):
        day = d["NgayTiepNhan"][:8]
        if first <= day <= last:
            line = (d["MaHoSo"], d["TrangThaiHoSo"], len(d["TienDoXuLy"]))
            periods.setdefault(day[:width], []).append(line)
    return [
        {"ky": ky, "soluong": len(lines), "digest": expected_digest(lines)}
        for ky, lines in sorted(periods.items())
    ]


def test_reconciliation_summaries(sim: RunningSimulator, portal: Portal) -> None:
    _seed_reconciliation(portal)

    def summary(level: str, first: str = "20251101", last: str = "20251231") -> Any:
        answer = portal.call("DoiSoatHoSo", capdo=level, tungay=first, denngay=last)
        assert answer["error_code"] == "0", answer
        return answer["data"]

    months = summary("thang")
    assert [m["ky"] for m in months] == ["202511", "202512"]
    assert [m["soluong"] for m in months] == [6, 18]
    assert months == _expected(sim, "20251101", "20251231", 6)
    assert summary("ngay") == _expected(sim, "20251101", "20251231", 8)
    assert summary("ngay", "20251201", "20251201") == _expected(sim, "20251201", "20251201", 8)
    assert summary("thang", "20260101", "20260131") == []

    dossiers = summary("hoso", "20251201", "20251214")
    assert [d["MaHoSo"] for d in dossiers] == sorted(d["MaHoSo"] for d in dossiers)
    assert len(dossiers) == 12
    by_code = {d["MaHoSo"]: d for d in sim.dump(AGENCY)}
    for entry in dossiers:
        held = by_code[entry["MaHoSo"]]
        assert entry == {
            "MaHoSo": held["MaHoSo"],
            "TrangThaiHoSo": held["TrangThaiHoSo"],
            "PhienBan": len(held["TienDoXuLy"]),
        }

    # A planted difference changes exactly that day's digest.
    before = {d["ky"]: d["digest"] for d in summary("ngay")}
    sim.tamper(op="set_status", mahoso=dossiers[0]["MaHoSo"], status=7)
    after = {d["ky"]: d["digest"] for d in summary("ngay")}
    assert {k for k in before if before[k] != after[k]} == {"20251201"}
    assert summary("ngay") == _expected(sim, "20251101", "20251231", 8)


def test_reconciliation_request_errors(portal: Portal) -> None:
    def ask(**kw: Any) -> dict[str, Any]:
        return portal.call("DoiSoatHoSo", **{"capdo": "ngay", **kw})

    assert_error(ask(tungay="20251101"), "2", "denngay")
    assert_error(ask(capdo="tuan", tungay="20251101", denngay="20251130"), "7", "capdo")
    assert_error(ask(tungay="20250230", denngay="20251130"), "3", "tungay")
    assert_error(ask(tungay="2025-11-01", denngay="20251130"), "3", "tungay")
    assert_error(ask(tungay=20251101, denngay="20251130"), "7", "tungay")
    assert_error(ask(tungay="20251201", denngay="20251130"), "7", "denngay")
    assert_error(ask(tungay="20251101", denngay="20251130", madonvi2="x"), "1", "madonvi2")


def test_summaries_scale_through_the_covering_index(sim: RunningSimulator, portal: Portal) -> None:
    store = sim.simulator.store
    rng = random.Random(11)
    lines: dict[str, list[tuple[str, int, int]]] = {}
    batch = []
    for n in range(20_000):
        day = f"25{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        record = sample_record(dossier_code(day, n + 1), TrangThaiHoSo=rng.randint(1, 10))
        batch.append(record)
        lines.setdefault("20" + day[:4], []).append((record["MaHoSo"], record["TrangThaiHoSo"], 0))
    store.save_dossiers(AGENCY, batch, updating=False)
    answer = portal.call("DoiSoatHoSo", capdo="thang", tungay="20250101", denngay="20251231")
    assert answer["data"] == [
        {"ky": ky, "soluong": len(v), "digest": expected_digest(v)}
        for ky, v in sorted(lines.items())
    ]
    with store.lock:
        plan = store.db.execute(
            "EXPLAIN QUERY PLAN SELECT mahoso, status, nrows, day FROM dossier"
            " WHERE madonvi=? AND day BETWEEN ? AND ?",
            (AGENCY, "20250101", "20251231"),
        ).fetchall()
    assert "COVERING INDEX dossier_by_day" in str(plan)


# -- control endpoints -----------------------------------------------------------------------


def test_dump_and_tamper(sim: RunningSimulator, portal: Portal) -> None:
    a, b = sample_record(dossier_code(seq=1)), sample_record(dossier_code(seq=2))
    portal.create(a, b)
    code = a["MaHoSo"]
    portal.rows(progress_row(code, "20251123083000"), progress_row(code, "20251123090000", "B", 4))
    dump = sim.dump()
    assert [d["MaHoSo"] for d in dump] == [a["MaHoSo"], b["MaHoSo"]]
    assert dump[0] == portal.look_up(code)["data"]
    assert sim.dump("H56.14") == []

    dropped = sim.tamper(op="drop_row", mahoso=code)
    assert dropped["dropped"]["NoiDungXuLy"] == "B"
    assert len(dropped["dossier"]["TienDoXuLy"]) == 1
    sim.tamper(op="drop_row", mahoso=code, index=0)
    assert sim.dump()[0]["TienDoXuLy"] == []
    sim.tamper(op="set_status", mahoso=code, status=10)
    assert portal.look_up(code)["data"]["TrangThaiHoSo"] == 10
    sim.tamper(op="delete", mahoso=b["MaHoSo"])
    assert_error(portal.look_up(b["MaHoSo"]), "6")

    planted_code = dossier_code(seq=77)
    planted = {"MaHoSo": planted_code, "TrangThaiHoSo": 9, "NgayTiepNhan": "20251123100000"}
    rows = [{"NoiDungXuLy": "Trả kết quả", "TrangThai": 10, "ThoiDiemXuLy": "20251123110000"}]
    sim.tamper(op="add", record=planted, rows=rows)
    found = portal.look_up(planted_code)["data"]
    assert found["TrangThaiHoSo"] == 9 and found["TienDoXuLy"][0]["NoiDungXuLy"] == "Trả kết quả"
    hoso = portal.call("DoiSoatHoSo", capdo="hoso", tungay="20251123", denngay="20251123")["data"]
    assert hoso[-1] == {"MaHoSo": planted_code, "TrangThaiHoSo": 9, "PhienBan": 1}
    # The planted dossier already holds a row, so a later row is not a "first row".
    assert portal.rows(progress_row(planted_code, "20251123120000", "C", 10))["error_code"] == "0"

    http = httpx.Client(base_url=sim.url)
    for op in (
        {"op": "explode", "mahoso": code},
        {"op": "delete"},
        {"op": "set_status", "mahoso": code, "status": "9"},
        {"op": "add", "record": "x"},
        {"op": "delete", "mahoso": code, "extra": 1},
    ):
        assert http.post("/_sim/tamper", json=op).status_code == 400, op
    assert http.post("/_sim/tamper", json={"op": "delete", "mahoso": "nope"}).status_code == 404
    assert http.post("/_sim/tamper", json={"op": "drop_row", "mahoso": code}).status_code == 404
    http.close()


def test_config_and_clock_endpoints(sim: RunningSimulator) -> None:
    http = httpx.Client(base_url=sim.url)
    config = sim.config(fault_rate=0.25, faults=["slow", "lost"], seed=3, down=[[10, 20]])
    assert config["fault_rate"] == 0.25 and config["faults"] == ["slow", "lost"]
    assert config["seed"] == 3 and config["down"] == [[10, 20]] and config["province"] == "H56"
    assert http.get("/_sim/config").json() == config
    for bad in (
        {"fault_rate": 1.5},
        {"fault_rate": "0.1"},
        {"fault_rate": True},
        {"faults": ["meteor"]},
        {"faults": "slow"},
        {"slow_seconds": -1},
        {"seed": 1.5},
        {"down": [[20, 10]]},
        {"down": [[1, 2, 3]]},
        {"colour": "red"},
    ):
        assert http.post("/_sim/config", json=bad).status_code == 400, bad
    assert http.post("/_sim/config", content=b"[]").status_code == 400
    assert http.post("/_sim/config", content=b"{oops").status_code == 400
    assert http.get("/_sim/config").json() == config  # refused changes changed nothing
    clock = http.post("/_sim/clock", json={"now_unix": 2_000_000_000}).json()
    assert abs(clock["now_unix"] - 2_000_000_000) < 5
    shifted = http.post("/_sim/clock", json={"offset": 3600}).json()
    assert abs(shifted["now_unix"] - 2_000_003_600) < 5
    assert http.post("/_sim/clock", json={"when": 1}).status_code == 400
    assert http.get("/_sim/nothing").status_code == 404
    assert http.post("/_sim/stats").status_code == 405
    http.close()


def test_unknown_paths_and_methods_answer_json(sim: RunningSimulator) -> None:
    http = httpx.Client(base_url=sim.url)
    for method, path, status in [
        ("GET", "/", 404),
        ("POST", "/api/other", 404),
        ("GET", "/api/service", 405),
        ("PUT", "/api/auth", 405),
        ("DELETE", "/_sim/stats", 405),
    ]:
        response = http.request(method, path, content=b"{}")
        assert response.status_code == status
        assert "error" in response.json()
    response = http.request("PATCH", "/api/service")
    assert response.status_code == 501 and "error" in response.json()
    http.close()


# -- faults ----------------------------------------------------------------------------------


def _create_with_fault(sim: RunningSimulator, portal: Portal, kind: str) -> httpx.Response:
    sim.config(faults=[kind], fault_rate=1.0)
    try:
        return portal.post("DongBoHoSoMC", isUpdating="False", data=[sample_record()])
    finally:
        sim.config(fault_rate=0.0)


@pytest.mark.parametrize("kind", ["http500", "http502", "http503", "http429"])
def test_http_status_faults_write_nothing(sim: RunningSimulator, portal: Portal, kind: str) -> None:
    response = _create_with_fault(sim, portal, kind)
    assert response.status_code == int(kind[4:])
    assert response.headers["content-type"].startswith("text/html")
    if kind == "http429":
        assert response.headers["retry-after"] == "1"
    assert sim.dump() == []
    assert sim.stats()["faults"][kind] == 1


def test_garbage_and_wrongjson_write_nothing(sim: RunningSimulator, portal: Portal) -> None:
    garbage = _create_with_fault(sim, portal, "garbage")
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()
    wrong = _create_with_fault(sim, portal, "wrongjson")
    assert wrong.status_code == 200 and "error_code" not in wrong.json()
    assert sim.dump() == []
    assert portal.create(sample_record())["error_code"] == "0"  # the connection still works


def test_lost_commits_then_drops_the_connection(sim: RunningSimulator, portal: Portal) -> None:
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        _create_with_fault(sim, portal, "lost")
    assert [d["MaHoSo"] for d in sim.dump()] == [sample_record()["MaHoSo"]]
    assert_error(portal.create(sample_record()), "5", "đã tồn tại")


def test_reset_drops_the_call_unread(sim: RunningSimulator, portal: Portal) -> None:
    with pytest.raises(httpx.TransportError) as caught:
        _create_with_fault(sim, portal, "reset")
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert sim.dump() == []
    assert sim.stats()["faults"]["reset"] == 1


def test_duplicate_processes_twice_and_answers_the_second(
    sim: RunningSimulator, portal: Portal
) -> None:
    response = _create_with_fault(sim, portal, "duplicate")
    assert_error(response.json(), "5", "đã tồn tại")
    assert len(sim.dump()) == 1
    code = sample_record()["MaHoSo"]
    sim.config(faults=["duplicate"], fault_rate=1.0)
    assert portal.rows(progress_row(code, "20251123083000"))["error_code"] == "0"
    sim.config(fault_rate=0.0)
    stats = sim.stats()
    assert (stats["rows"], stats["rows_resent"]) == (1, 0)  # the replay is not the hub's resend
    assert stats["by_service"]["CapNhatTienDoHoSoMC"] == 1


def test_slow_answers_right_after_the_delay(sim: RunningSimulator, portal: Portal) -> None:
    sim.config(slow_seconds=0.4)
    started = time.monotonic()
    response = _create_with_fault(sim, portal, "slow")
    assert time.monotonic() - started >= 0.4
    assert response.json()["error_code"] == "0"
    assert len(sim.dump()) == 1


def test_login_is_faulted_but_control_endpoints_never(sim: RunningSimulator) -> None:
    sim.config(faults=["http503"], fault_rate=1.0)
    client = Portal(sim.url)
    response = client.http.post(
        "/api/auth", headers={"dstcode": DSTCODE}, json={"username": USERNAME, "password": PASSWORD}
    )
    assert response.status_code == 503
    sim.config(faults=["reset"])
    for _ in range(5):
        assert sim.stats()["faults"]["reset"] == 0
    assert sim.dump() == []
    client.close()


def test_down_windows_reset_every_call(sim: RunningSimulator, portal: Portal) -> None:
    now = time.time()
    sim.config(down=[[now + 3600, now + 7200]])
    assert portal.call("LayDanhSachTTHC")["error_code"] == "0"
    sim.set_clock(now + 3700)
    for _ in range(3):
        with pytest.raises(httpx.TransportError):
            portal.post("LayDanhSachTTHC")
    sim.set_clock(now + 7300)
    portal.login()
    assert portal.call("LayDanhSachTTHC")["error_code"] == "0"
    assert sim.stats()["faults"]["down"] == 3


def test_every_fault_kind_is_drawn_and_the_seed_replays_them(tmp_path: Path) -> None:
    def outcomes(db: Path) -> tuple[list[str], dict[str, int]]:
        seen = []
        with running_simulator(db, fault_rate=0.5, seed=42, slow_seconds=0.01) as sim:
            http = httpx.Client(base_url=sim.url, timeout=5)
            for _ in range(300):
                try:
                    response = http.post("/api/service", json={"service": "LayDanhSachTTHC"})
                    seen.append(f"{response.status_code}:{response.content[:12]!r}")
                except httpx.TransportError:  # reset or lost: EOF or RST, either is fine
                    seen.append("transport error")
            http.close()
            return seen, sim.stats()["faults"]

    first, faults = outcomes(tmp_path / "a.db")
    second, again = outcomes(tmp_path / "b.db")
    assert first == second and faults == again
    assert all(faults[kind] > 0 for kind in FAULT_KINDS), faults
    assert 100 < sum(faults.values()) < 200


# -- robustness ------------------------------------------------------------------------------


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 4 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 2**70, rng.randint(-(10**9), 10**9)])
    if pick == 3:
        return rng.choice([0.5, -1e308, 1e-300])
    if pick in (4, 5):
        alphabet = 'aĐ\u0300\x00"\\\ud800{}[]'
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    if pick in (6, 7):
        return {
            rng.choice(["MaHoSo", "data", "x", "TaiLieuNop", ""]): _random_json(rng, depth + 1)
            for _ in range(rng.randint(0, 4))
        }
    return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def test_fuzzed_bodies_never_break_the_server(sim: RunningSimulator, portal: Portal) -> None:
    rng = random.Random(2024)
    valid = json.dumps(
        portal.envelope("DongBoHoSoMC", isUpdating="False", data=[sample_record()])
    ).encode()
    codes = set()
    for n in range(400):
        kind = n % 8
        if kind == 0:
            body = rng.randbytes(rng.randint(0, 300))
        elif kind == 1:
            body = valid[: rng.randint(0, len(valid))]
        elif kind == 2:
            body = json.dumps(_random_json(rng)).encode()
        elif kind == 3:  # one field of a valid call replaced with something random
            call = json.loads(valid)
            record = call["data"][0]
            record[rng.choice(list(record))] = _random_json(rng)
            body = json.dumps(call).encode()
        elif kind == 4:
            call = json.loads(valid)
            call[rng.choice(["session", "madonvi", "service", "isUpdating", "data"])] = (
                _random_json(rng)
            )
            body = json.dumps(call).encode()
        elif kind == 5:
            body = rng.choice([b"[" * 5000, b'{"a":' * 3000, b"NaN", b"1e999", b"9" * 6000])
        elif kind == 6:
            body = b'{"session": "\\ud800", "service": "\\udfff", "madonvi": "\\u0000"}'
        else:
            body = json.dumps(
                {"username": _random_json(rng), "password": _random_json(rng)}
            ).encode()
        path = "/api/auth" if kind == 7 or rng.random() < 0.1 else "/api/service"
        response = portal.http.post(path, content=body, headers={"dstcode": DSTCODE})
        assert response.status_code == 200, (body[:200], response.text)
        answer = response.json()
        assert isinstance(answer["error_code"], str) and "Traceback" not in response.text
        codes.add(answer["error_code"])
    assert {"1", "2", "7", "10"} <= codes
    assert portal.create(sample_record(dossier_code(seq=999)))["error_code"] in ("0",)


def test_broken_connections_and_huge_bodies(sim: RunningSimulator, portal: Portal) -> None:
    host, port = sim.url.removeprefix("http://").split(":")
    junk = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello
        b"GET\r\n\r\n",
        b'POST /api/service HTTP/1.1\r\nContent-Length: 500\r\n\r\n{"a":',  # body cut short
        b"POST /api/service HTTP/1.1\r\nContent-Length: -4\r\n\r\n",
        b"POST /api/service HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /api/service HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /api/service HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n",
        b"POST /api/service HTTP/1.1\r\nHost: x\r\n",  # headers never end
    ]
    for data in junk:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):  # a reset while reading our answer is fine
                while s.recv(65536):
                    pass
    chunked = portal.http.post(
        "/api/service",
        content=iter([json.dumps(portal.envelope("LayDanhSachTTHC")).encode()]),
    )
    assert chunked.json()["error_code"] == "0"
    huge = portal.http.post("/api/service", content=b" " * (8 * 1024 * 1024 + 10))
    assert_error(huge.json(), "9")
    assert portal.call("LayDanhSachTTHC")["error_code"] == "0"


def test_concurrent_clients(sim: RunningSimulator) -> None:
    errors: list[str] = []

    def worker(n: int) -> None:
        client = Portal(sim.url)
        client.login()
        for k in range(15):
            record = sample_record(dossier_code(seq=n * 100 + k))
            if client.create(record)["error_code"] != "0":
                errors.append(record["MaHoSo"])
            client.rows(progress_row(record["MaHoSo"], record["NgayTiepNhan"]))
        client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    stats = sim.stats()
    assert (stats["dossiers"], stats["rows"], stats["rows_resent"]) == (120, 120, 0)


# -- command line ----------------------------------------------------------------------------


def test_cli_refuses_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    for args in (["--faults", "2"], ["--faults", "abc"], ["--faults", "nan"], ["--port", "-1"]):
        result = runner.invoke(simulate_command, [*args, "--db", str(tmp_path / "x.db")])
        assert result.exit_code == 2, (args, result.output)
    bad = tmp_path / "catalog.json"
    bad.write_text('[{"MaTTHC": "1"}]', encoding="utf-8")
    result = runner.invoke(simulate_command, ["--catalog", str(bad)])
    assert result.exit_code == 2 and "catalog" in result.output
    help_text = runner.invoke(simulate_command, ["--help"]).output
    for option in ("--port", "--host", "--db", "--faults", "--seed", "--province", "--catalog"):
        assert option in help_text


def test_cli_serves_until_interrupted(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    entry = {
        "MaTTHC": "1.001193",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "TenLinhVuc": "Hộ tịch",
        "ThoiHanGiaiQuyet": 1,
        "DonViThoiHan": "NgayLamViec",
        "LePhi": 0,
        "GiaiQuyetNgay": 1,
        "ThanhPhanHoSo": [{"TenGiayTo": "Tờ khai", "SoBanChinh": 1, "SoBanSao": 0}],
    }
    catalog.write_text(json.dumps([entry]), encoding="utf-8")
    code = "from sync_server.portal.simulator import simulate_command; simulate_command()"
    args = ["--port", "0", "--db", str(tmp_path / "cli.db"), "--catalog", str(catalog)]
    args += ["--province", "H15", "--dstcode", "d", "--username", "u", "--password", "p"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("listening on ")[1].split()[0]
        http = httpx.Client(base_url=url, timeout=5)
        login = http.post(
            "/api/auth", headers={"dstcode": "d"}, json={"username": "u", "password": "p"}
        )
        session = login.json()["session"]
        answer = http.post(
            "/api/service",
            json={"session": session, "madonvi": "H15.1", "service": "LayDanhSachTTHC"},
        ).json()
        assert answer["data"] == [entry]
        http.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "cli.db").exists()
