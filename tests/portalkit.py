"""Test helpers for the provincial portal: the simulator on loopback, and wire-format builders.

    with running_simulator(tmp_path, fault_rate=0.2, seed=7) as sim:
        client = httpx.Client(base_url=sim.url)
        ...                                   # speak docs/portal.md to sim.url
        assert sim.stats()["rows_resent"] == 0

`running_simulator` serves `sync_server.portal.simulator` from a background thread on a free
port over real HTTP; the control methods go through the `/_sim/` endpoints. The builders
produce valid records and rows in the page's shape for tests that need a portal with content.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from sync_server.portal.simulator import (
    DEFAULT_DSTCODE,
    DEFAULT_PASSWORD,
    DEFAULT_PROVINCE,
    DEFAULT_USERNAME,
    SimHTTPServer,
    Simulator,
    make_server,
)

DSTCODE = DEFAULT_DSTCODE
USERNAME = DEFAULT_USERNAME
PASSWORD = DEFAULT_PASSWORD
PROVINCE = DEFAULT_PROVINCE
AGENCY = "000.00.17.H56"  # a commune of the default province
AUTH_PATH = "/api/auth"
SERVICE_PATH = "/api/service"


class RunningSimulator:
    """A simulator served in a thread; `url` is `http://127.0.0.1:PORT`."""

    def __init__(self, sim: Simulator, server: SimHTTPServer) -> None:
        self.simulator = sim
        self.server = server
        self.url = server.url
        self.port = int(server.server_address[1])
        self._control = httpx.Client(base_url=self.url, timeout=60)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._stopped = False

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = self._control.request(method, f"/_sim/{path}", **kw)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def config(self, **change: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "config", json=change)
        return result

    def set_clock(self, now_unix: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "clock", json={"now_unix": now_unix})
        return result

    def shift_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "clock", json={"offset": seconds})
        return result

    def dump(self, madonvi: str | None = None) -> list[dict[str, Any]]:
        params = {"madonvi": madonvi} if madonvi else None
        result: list[dict[str, Any]] = self._call("GET", "dump", params=params)["data"]
        return result

    def tamper(self, **op: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "tamper", json=op)
        return result

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._control.close()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
        self.simulator.close()


@contextmanager
def running_simulator(path: Path, *, port: int = 0, **config: Any) -> Iterator[RunningSimulator]:
    """The simulator over `path` (a directory gets `portal-sim.db` inside, else the file).

    `port` 0 picks a free one (pass a previous `port` to come back at the same URL). `config`
    takes the `Simulator` options: province, dstcode, username, password, catalog, fault_rate,
    faults, slow_seconds, seed, down."""
    db = path / "portal-sim.db" if path.is_dir() else path
    sim = Simulator(db, **config)
    try:
        server = make_server(sim, "127.0.0.1", port)
    except OSError:
        sim.close()
        raise
    handle = RunningSimulator(sim, server)
    try:
        yield handle
    finally:
        handle.stop()


# -- wire-format builders --------------------------------------------------------------------


def dossier_code(day: str = "251123", seq: int = 1, agency: str = AGENCY) -> str:
    """`{agency}-{yyMMdd}-{nnnn}`."""
    return f"{agency}-{day}-{seq:04d}"


def sample_record(code: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid DongBoHoSoMC record (birth registration received at the desk), overridable."""
    code = code or dossier_code()
    received = "20" + code.rsplit("-", 2)[1] + "083000"
    record: dict[str, Any] = {
        "MaHoSo": code,
        "MaTTHC": "1.001193",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": 1,
        "ChuHoSo": "Nguyễn Văn Đức",
        "LoaiDoiTuong": 1,
        "SoGiayToChuHoSo": "056090001234",
        "SoDienThoai": "0912345678",
        "Email": "",
        "DiaChi": "Thôn 2, xã Diên Phú",
        "TrichYeuHoSo": "Đăng ký khai sinh cho con",
        "NgayNopHoSo": received,
        "NgayTiepNhan": received,
        "NgayHenTra": received[:8] + "163000",
        "NgayTra": "",
        "NgayKetThucXuLy": "",
        "NgayTuChoi": "",
        "TrangThaiHoSo": 2,
        "HinhThuc": 0,
        "DonViXuLy": code.rsplit("-", 2)[0],
        "GhiChu": "",
        "HoSoCoThanhPhanSoHoa": 1,
        "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": "056090001234"}],
        "TaiLieuNop": [
            {
                "TepDinhKemId": "tl-1",
                "TenTepDinhKem": "Tờ khai đăng ký khai sinh",
                "MaThanhPhanHoSo": "TP1",
                "DuongDanTaiTepTin": "https://hub.example.vn/files/tl-1.pdf",
                "DuocSoHoa": 1,
            }
        ],
        "DanhSachLePhi": [
            {"TenPhiLePhi": "Lệ phí hộ tịch", "MaPhiLePhi": "LP1", "HinhThucThu": 1, "Gia": 0}
        ],
        "DanhSachHoSoBoSung": [],
        "DanhSachGiayToKetQua": [],
    }
    record.update(fields)
    return record


def progress_row(
    code: str,
    when: str,
    content: str = "Tiếp nhận hồ sơ",
    status: int = 2,
    **fields: Any,
) -> dict[str, Any]:
    """A valid CapNhatTienDoHoSoMC row (the default is the reception row)."""
    row: dict[str, Any] = {
        "MaHoSo": code,
        "NguoiXuLy": "Trần Thị Lan",
        "ChucDanh": "Công chức Tư pháp - Hộ tịch",
        "ThoiDiemXuLy": when,
        "PhongBanXuLy": "Bộ phận Một cửa",
        "NoiDungXuLy": content,
        "TrangThai": status,
        "NgayBatDau": when,
        "NgayKetThucTheoQuyDinh": "",
    }
    row.update(fields)
    return row
