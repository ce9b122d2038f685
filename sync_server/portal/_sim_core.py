"""The simulator's core: the province's state and behaviour, independent of HTTP.

`simulator.py` serves it; the handler calls `draw_fault` and `handle` per protocol call and the
control methods for `/_sim/`.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from sync_server.portal._sim_catalog import DEMO_CATALOG, check_catalog
from sync_server.portal._sim_store import Store
from sync_server.portal._sim_validate import (
    MAX_DOSSIERS,
    MAX_ROWS,
    PortalError,
    agency_of,
    bad_value,
    check_madonvi,
    check_text,
    missing,
    parse_day,
    unknown_field,
    validate_dossier,
    validate_row,
)

FAULT_KINDS: Final = (
    "http500",
    "http502",
    "http503",
    "http429",
    "slow",
    "lost",
    "duplicate",
    "garbage",
    "wrongjson",
    "reset",
)
DEFAULT_PORT: Final = 8480
DEFAULT_PROVINCE: Final = "H56"
DEFAULT_DSTCODE: Final = "dstcode-demo"
DEFAULT_USERNAME: Final = "hub"
DEFAULT_PASSWORD: Final = "hub-secret"
AUTH_PATH: Final = "/api/auth"
SERVICE_PATH: Final = "/api/service"
SESSION_SECONDS: Final = 30 * 60
MAX_SESSIONS: Final = 10_000
OK: Final = "Thành công"

Endpoint = Literal["auth", "service"]
Body = dict[str, Any]


class ControlError(Exception):
    """A refused `/_sim/` request: HTTP status and an English message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _number(value: object, name: str, lo: float, hi: float) -> float:
    # The range check also refuses NaN and infinities; bool is not a number here.
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ControlError(400, f"{name} must be a number in [{lo}, {hi}]")
    return float(value)


class Simulator:
    """The province's state and behaviour, independent of HTTP (the handler drives it)."""

    def __init__(
        self,
        db: Path | str,
        *,
        province: str = DEFAULT_PROVINCE,
        dstcode: str = DEFAULT_DSTCODE,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        catalog: list[dict[str, Any]] | None = None,
        auth_path: str = AUTH_PATH,
        service_path: str = SERVICE_PATH,
        **faults: Any,
    ) -> None:
        self.province = province
        self.dstcode = dstcode
        self.username = username
        self.password = password
        self.catalog = check_catalog(catalog) if catalog is not None else DEMO_CATALOG
        self.auth_path = auth_path
        self.service_path = service_path
        self.store = Store(Path(db))
        self._lock = threading.Lock()  # config, clock, sessions, counters and the RNG
        self._rng = random.Random()
        self._offset = 0.0
        self._sessions: dict[str, float] = {}
        self._calls = 0
        self._by_service: dict[str, int] = {}
        self._fault_counts = dict.fromkeys((*FAULT_KINDS, "down"), 0)
        self.fault_rate = 0.0
        self.faults: list[str] = list(FAULT_KINDS)
        self.slow_seconds = 2.0
        self.seed: int | None = None
        self.down: list[tuple[float, float]] = []
        self.configure({"seed": None, **faults})
        self._services: dict[str, tuple[set[str], Callable[[str, Body, bool], Body]]] = {
            "DongBoHoSoMC": ({"isUpdating", "data"}, self._sync_dossiers),
            "CapNhatTienDoHoSoMC": ({"data"}, self._add_rows),
            "TraCuuHoSo": ({"mahoso"}, self._look_up),
            "LayDanhSachTTHC": (set(), self._catalog),
            "DoiSoatHoSo": ({"capdo", "tungay", "denngay"}, self._summaries),
        }

    def close(self) -> None:
        self.store.close()

    # -- clock, config, stats --------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def set_clock(self, change: Mapping[str, object]) -> Body:
        """`{"now_unix"}` sets the clock (it keeps advancing), `{"offset"}` shifts it."""
        unknown = set(change) - {"now_unix", "offset"}
        if unknown:
            raise ControlError(400, f"unknown clock keys: {sorted(unknown)}")
        with self._lock:
            if "now_unix" in change:
                now = _number(change["now_unix"], "now_unix", 0, 1e11)
                self._offset = now - time.time()
            if "offset" in change:
                self._offset += _number(change["offset"], "offset", -1e11, 1e11)
        return {"now_unix": self.now(), "offset": self._offset}

    def configure(self, change: Mapping[str, object]) -> Body:
        """Validate every key first, then apply them together (`/_sim/config`)."""
        new: dict[str, Any] = {}
        for key, value in change.items():
            if key == "fault_rate":
                new[key] = _number(value, key, 0.0, 1.0)
            elif key == "slow_seconds":
                new[key] = _number(value, key, 0.0, 600.0)
            elif key == "faults":
                if not isinstance(value, list) or not all(k in FAULT_KINDS for k in value):
                    raise ControlError(400, f"faults must be a list of {', '.join(FAULT_KINDS)}")
                new[key] = list(dict.fromkeys(value))
            elif key == "seed":
                if value is not None and type(value) is not int:
                    raise ControlError(400, "seed must be an integer or null")
                new[key] = value
            elif key == "down":
                if not isinstance(value, list):
                    raise ControlError(400, "down must be a list of [from_unix, to_unix]")
                windows = []
                for window in value:
                    if not isinstance(window, list | tuple) or len(window) != 2:
                        raise ControlError(400, "down must be a list of [from_unix, to_unix]")
                    start, end = (_number(w, "down", 0, 1e11) for w in window)
                    if start > end:
                        raise ControlError(400, "a down window must not end before it starts")
                    windows.append((start, end))
                new[key] = windows
            else:
                raise ControlError(400, f"unknown config key: {key}")
        with self._lock:
            for key, value in new.items():
                setattr(self, key, value)
            if "seed" in new:
                self._rng.seed(new["seed"])
        return self.config_view()

    def config_view(self) -> Body:
        with self._lock:
            return {
                "fault_rate": self.fault_rate,
                "faults": list(self.faults),
                "slow_seconds": self.slow_seconds,
                "seed": self.seed,
                "down": [list(w) for w in self.down],
                "province": self.province,
                "dstcode": self.dstcode,
                "username": self.username,
                "auth_path": self.auth_path,
                "service_path": self.service_path,
                "session_seconds": SESSION_SECONDS,
            }

    def stats(self) -> Body:
        counts = self.store.counts()
        with self._lock:
            return {
                "calls": self._calls,
                "by_service": dict(self._by_service),
                "faults": dict(self._fault_counts),
                **counts,
            }

    # -- faults ----------------------------------------------------------------------------

    def draw_fault(self) -> str | None:
        """Count a protocol call and decide its fault: down window, random kind, or none."""
        now = self.now()
        with self._lock:
            self._calls += 1
            if any(start <= now < end for start, end in self.down):
                self._fault_counts["down"] += 1
                return "reset"
            if self.faults and self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                kind = self._rng.choice(self.faults)
                self._fault_counts[kind] += 1
                return kind
        return None

    def garbage(self) -> bytes:
        with self._lock:
            size = self._rng.randint(16, 512)
            # A leading 0xff is never valid UTF-8, so the bytes can never parse as JSON.
            return b"\xff" + self._rng.randbytes(size)

    # -- the protocol ----------------------------------------------------------------------

    def handle(
        self, endpoint: Endpoint, dstcode: str | None, raw: bytes, *, replay: bool = False
    ) -> Body:
        """Answer one protocol call; `replay` is the injected second processing of `duplicate`
        (not counted again, and its identical rows do not count as re-sent)."""
        try:
            body: object = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._count("?" if endpoint == "service" else "login", replay)
            return PortalError(7, "Giá trị không hợp lệ: dữ liệu không phải JSON").answer()
        try:
            if endpoint == "auth":
                self._count("login", replay)
                return self._login(dstcode, body)
            service = body.get("service") if isinstance(body, dict) else None
            known = isinstance(service, str) and service in self._services
            self._count(str(service) if known else "?", replay)
            return self._call(body, replay)
        except PortalError as exc:
            return exc.answer()

    def _count(self, label: str, replay: bool) -> None:
        if not replay:
            with self._lock:
                self._by_service[label] = self._by_service.get(label, 0) + 1

    def _login(self, dstcode: str | None, body: object) -> Body:
        if not isinstance(body, dict):
            raise bad_value("body", "phải là đối tượng JSON")
        for key in body:
            if key not in ("username", "password"):
                raise unknown_field(key)
        for key in ("username", "password"):
            if body.get(key) in (None, ""):
                raise missing(key)
            check_text(body[key], key)
        if (dstcode, body["username"], body["password"]) != (
            self.dstcode,
            self.username,
            self.password,
        ):
            raise PortalError(
                11, "Đăng nhập không thành công: sai dstcode, tài khoản hoặc mật khẩu"
            )
        token = secrets.token_urlsafe(24)
        now = self.now()
        with self._lock:
            for old in [t for t, at in self._sessions.items() if now >= at + SESSION_SECONDS]:
                del self._sessions[old]
            while len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[token] = now
        return {"error_code": "0", "message": OK, "session": token}

    def _check_session(self, token: object) -> None:
        with self._lock:
            started = self._sessions.get(token) if isinstance(token, str) else None
        # Fixed lifetime from login (not sliding), measured on the simulator's clock.
        if started is None or self.now() >= started + SESSION_SECONDS:
            raise PortalError(10, "Phiên làm việc hết hạn hoặc không hợp lệ")

    def _call(self, body: object, replay: bool) -> Body:
        if not isinstance(body, dict):
            raise bad_value("body", "phải là đối tượng JSON")
        self._check_session(body.get("session"))
        name = body.get("service")
        if name in (None, ""):
            raise missing("service")
        if not isinstance(name, str):
            raise bad_value("service")
        if name not in self._services:
            raise PortalError(8, f"Dịch vụ không tồn tại: {name}")
        extra, handler = self._services[name]
        for key in body:
            if key not in extra and key not in ("session", "madonvi", "service"):
                raise unknown_field(key)
        madonvi = check_madonvi(body.get("madonvi"), self.province)
        return handler(madonvi, body, replay)

    @staticmethod
    def _batch(value: object, limit: int, what: str) -> list[Any]:
        if value is None or value == []:
            raise missing("data")
        if not isinstance(value, list):
            raise bad_value("data", "phải là danh sách")
        if len(value) > limit:
            raise PortalError(9, f"Quá {limit} {what} trong một lần gửi ({len(value)})")
        return value

    def _sync_dossiers(self, madonvi: str, body: Body, replay: bool) -> Body:
        flag = body.get("isUpdating")
        if flag in (None, ""):
            raise missing("isUpdating")
        if not isinstance(flag, str) or flag not in ("True", "False"):
            raise bad_value("isUpdating", 'phải là "True" hoặc "False"')
        data = self._batch(body.get("data"), MAX_DOSSIERS, "hồ sơ")
        records = [validate_dossier(record, madonvi) for record in data]
        self.store.save_dossiers(madonvi, records, updating=flag == "True")
        return {"error_code": "0", "message": OK}

    def _add_rows(self, madonvi: str, body: Body, replay: bool) -> Body:
        data = self._batch(body.get("data"), MAX_ROWS, "dòng tiến độ")
        rows = [validate_row(row, madonvi) for row in data]
        self.store.add_rows(madonvi, rows, count_resent=not replay)
        return {"error_code": "0", "message": OK}

    def _look_up(self, madonvi: str, body: Body, replay: bool) -> Body:
        code = body.get("mahoso")
        if code in (None, ""):
            raise missing("mahoso")
        code = check_text(code, "mahoso")
        if agency_of(code) != madonvi:
            raise PortalError(4, f"Mã hồ sơ {code} không thuộc đơn vị {madonvi}")
        return {"error_code": "0", "message": OK, "data": self.store.lookup(madonvi, code)}

    def _catalog(self, madonvi: str, body: Body, replay: bool) -> Body:
        return {"error_code": "0", "message": OK, "data": self.catalog}

    def _summaries(self, madonvi: str, body: Body, replay: bool) -> Body:
        level = body.get("capdo")
        if level in (None, ""):
            raise missing("capdo")
        if not isinstance(level, str) or level not in ("thang", "ngay", "hoso"):
            raise bad_value("capdo", 'phải là "thang", "ngay" hoặc "hoso"')
        first = parse_day(body.get("tungay"), "tungay")
        last = parse_day(body.get("denngay"), "denngay")
        if first > last:
            raise bad_value("denngay", "trước tungay")
        data = self.store.summaries(madonvi, level, first, last)
        return {"error_code": "0", "message": OK, "data": data}

    # -- control ---------------------------------------------------------------------------

    def dump(self, madonvi: str | None = None) -> list[Body]:
        return self.store.dump(madonvi)

    def tamper(self, op: Mapping[str, object]) -> Body:
        """Plant a difference for reconciliation tests (`/_sim/tamper`)."""
        kind = op.get("op")
        allowed = {
            "delete": {"mahoso"},
            "set_status": {"mahoso", "status"},
            "drop_row": {"mahoso", "index"},
            "add": {"mahoso", "record", "rows", "madonvi"},
        }
        if not isinstance(kind, str) or kind not in allowed:
            raise ControlError(400, f"op must be one of {', '.join(allowed)}")
        unknown = set(op) - allowed[kind] - {"op"}
        if unknown:
            raise ControlError(400, f"unknown keys for {kind}: {sorted(unknown)}")
        code = op.get("mahoso")
        result: Body = {"op": kind}
        try:
            if kind == "add":
                code = self._tamper_add(op)
            elif not isinstance(code, str) or not code:
                raise ControlError(400, "mahoso is required")
            elif kind == "delete":
                self.store.delete(code)
            elif kind == "set_status":
                status = op.get("status")
                if type(status) is not int or not -(2**63) <= status < 2**63:
                    raise ControlError(400, "status must be an integer")
                self.store.set_status(code, status)
            else:
                index = op.get("index", -1)
                if type(index) is not int:
                    raise ControlError(400, "index must be an integer")
                result["dropped"] = self.store.drop_row(code, index)
        except PortalError as exc:
            raise ControlError(404, exc.message) from None
        result["mahoso"] = code
        with contextlib.suppress(PortalError):
            result["dossier"] = None
            result["dossier"] = self.store.lookup(None, str(code))
        return result

    def _tamper_add(self, op: Mapping[str, object]) -> str:
        record, rows, madonvi = op.get("record"), op.get("rows", []), op.get("madonvi")
        if not isinstance(record, dict):
            raise ControlError(400, "record must be an object")
        code = op.get("mahoso") or record.get("MaHoSo")
        if not isinstance(code, str) or not code:
            raise ControlError(400, "record needs a MaHoSo (or give mahoso)")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ControlError(400, "rows must be a list of objects")
        if madonvi is not None and not isinstance(madonvi, str):
            raise ControlError(400, "madonvi must be a string")
        record = {**record, "MaHoSo": code}
        try:
            orjson.dumps([record, rows])
        except orjson.JSONEncodeError as exc:
            raise ControlError(400, f"record cannot be stored: {exc}") from None
        self.store.add_raw(record, rows, madonvi)
        return code
