"""The one place where the local lifecycle meets the portal's fields (docs/portal.md).

`DOSSIER_FIELDS` and `PROGRESS_FIELDS` are the mapping tables: portal field -> how it is computed
from the hub's dossier state (the same fold as at the station) and the dossier's events. Pure
functions: no I/O, no clock; what they need from the hub (names, file links) comes in `Names`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from schemas.dossier import PORTAL_CHANNEL, PORTAL_RETURN_VIA, PORTAL_STATUS, DossierStatus
from schemas.lifecycle import TransitionError, apply_event

__all__ = [
    "DOSSIER_FIELDS",
    "PROGRESS_FIELDS",
    "Names",
    "applied_steps",
    "dossier_record",
    "portal_date",
    "portal_day",
    "portal_status",
    "progress_rows",
]

VN: Final = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh has had no DST since 1975
RECEIVE_TEXT: Final = "Tiếp nhận hồ sơ"
DESK_TITLE: Final = "Cán bộ tiếp nhận và trả kết quả"
FEE_COLLECTED_AT_DESK: Final = 1  # HinhThucThu: 1 at the desk (2 would be online payment)

NEXT_STEP_TEXT: Final[dict[str, str]] = {
    "request-supplement": "Yêu cầu bổ sung hồ sơ",
    "supplement": "Tiếp nhận hồ sơ bổ sung",
    "refuse": "Từ chối tiếp nhận hồ sơ",
    "transfer": "Chuyển liên thông",
    "accept": "Nhận hồ sơ để xử lý",
    "request-payment": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "pay": "Đã thực hiện nghĩa vụ tài chính",
    "stop": "Dừng giải quyết hồ sơ",
    "withdraw": "Công dân rút hồ sơ",
    "reschedule": "Xin lỗi và hẹn lại ngày trả kết quả",
    "resolve": "Đã có kết quả giải quyết",
    "return": "Trả kết quả",
    "rate": "Đánh giá mức độ hài lòng",
}
RATING_TEXT: Final = {1: "Rất hài lòng", 2: "Hài lòng", 3: "Không hài lòng"}
RETURN_TEXT: Final = {"desk": "tại bộ phận một cửa", "post": "qua dịch vụ bưu chính công ích"}


@dataclass(frozen=True)
class Names:
    """What the mapping needs from the hub: display names and the portal's file links."""

    office_name: Callable[[str], str]
    officer_name: Callable[[str], str]
    file_url: Callable[[str], str]


def portal_date(value: str | None) -> str:
    """RFC 3339 -> `yyyyMMddHHmmss` in Vietnam time; "" when unknown."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(VN).strftime("%Y%m%d%H%M%S")


def portal_day(value: str) -> str:
    """The `yyyyMMdd` day (Vietnam time) a dossier is counted under in reconciliation."""
    return portal_date(value)[:8]


def portal_status(status: str) -> int:
    return PORTAL_STATUS[DossierStatus(status)]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Step:
    """One applied event and the dossier's state right after it (one progress row)."""

    event: Mapping[str, Any]
    state: Mapping[str, Any]
    previous_time: str


def _event_time(event: Mapping[str, Any]) -> str:
    if event["action"] == "receive":
        return str(event["data"]["received_at"])
    return str(event["claimed_time"])


def applied_steps(events: Sequence[Mapping[str, Any]]) -> list[Step]:
    """Fold the dossier's events as the hub does; an event that was a conflict (invalid in the
    state it landed on) changed nothing and gets no row. So `len(steps) == state["version"]`."""
    state: dict[str, Any] | None = None
    steps: list[Step] = []
    for event in events:
        try:
            state = apply_event(state, event)
        except TransitionError:
            continue
        previous = _event_time(steps[-1].event) if steps else _event_time(event)
        steps.append(Step(event, state, previous))
    return steps


# -- the dossier record (DongBoHoSoMC) ------------------------------------------------------


@dataclass(frozen=True)
class DossierView:
    state: Mapping[str, Any]
    steps: Sequence[Step]
    names: Names

    @property
    def applicant(self) -> Mapping[str, Any]:
        return self.state["applicant"]  # type: ignore[no-any-return]

    @property
    def procedure(self) -> Mapping[str, Any]:
        return self.state["procedure"]  # type: ignore[no-any-return]

    def actions(self, action: str) -> list[Step]:
        return [s for s in self.steps if s.event["action"] == action]


def _note(v: DossierView) -> str:
    parts: list[str] = []
    rep = v.state.get("representative")
    if rep:
        parts.append(f"Người được ủy quyền: {rep['name']} ({rep['id_number']})")
    if v.state.get("conflicts"):
        parts.append(f"Có {v.state['conflicts']} thao tác mâu thuẫn chờ xem xét")
    return _cut("; ".join(parts), 2000)


def _identities(v: DossierView) -> list[dict[str, Any]]:
    kind = v.applicant.get("id_kind", 1)
    if kind not in (1, 2):  # the portal knows CCCD (1) and CMND (2); a passport is SoGiayTo only
        return []
    return [{"LoaiDinhDanh": kind, "SoDinhDanh": v.applicant["id_number"]}]


def _documents(v: DossierView) -> list[dict[str, Any]]:
    out = []
    for i, doc in enumerate(v.state.get("documents", []), start=1):
        blob = doc.get("blob")
        out.append(
            {
                "TepDinhKemId": blob or f"{v.state['code']}-TP{i:02d}",
                "TenTepDinhKem": doc["name"],
                "MaThanhPhanHoSo": f"TP{i:02d}",
                "DuongDanTaiTepTin": v.names.file_url(blob) if blob else "",
                "DuocSoHoa": 1 if blob else 0,
            }
        )
    return out


def _fees(v: DossierView) -> list[dict[str, Any]]:
    return [
        {
            "TenPhiLePhi": fee["name"],
            "MaPhiLePhi": fee.get("code") or "",
            "HinhThucThu": FEE_COLLECTED_AT_DESK,
            "Gia": fee["amount"],
        }
        for fee in v.state.get("fees", [])
    ]


def _supplements(v: DossierView) -> list[dict[str, Any]]:
    rounds: list[dict[str, Any]] = []
    for step in v.steps:
        action, data = step.event["action"], step.event.get("data") or {}
        if action == "request-supplement":
            wanted = ", ".join(data.get("documents", []))
            what = f"{data['reason']}: {wanted}" if wanted else data["reason"]
            rounds.append(
                {
                    "HoSoBoSungId": f"{v.state['code']}-BS{len(rounds) + 1}",
                    "NoiDungBoSung": _cut(what, 1000),
                    "NgayYeuCauBoSung": portal_date(step.event["claimed_time"]),
                    "NgayTiepNhanBoSung": "",
                    "NgayHenTraMoi": "",
                }
            )
        elif action == "supplement" and rounds:
            rounds[-1]["NgayTiepNhanBoSung"] = portal_date(step.event["claimed_time"])
            rounds[-1]["NgayHenTraMoi"] = portal_date(step.state.get("due_at"))
    return rounds


def _results(v: DossierView) -> list[dict[str, Any]]:
    out = []
    for step in v.actions("resolve"):
        for i, name in enumerate(step.event["data"].get("documents", []), start=1):
            out.append(
                {
                    "GiayToId": f"{v.state['code']}-KQ{i:02d}",
                    "TenGiayTo": name,
                    "DuongDanTepTinKetQua": "",
                }
            )
    return out


def _end_of_processing(v: DossierView) -> str:
    s = v.state
    return portal_date(s.get("resolved_at") or s.get("stopped_at") or s.get("withdrawn_at"))


DOSSIER_FIELDS: Final[dict[str, Callable[[DossierView], Any]]] = {
    "MaHoSo": lambda v: v.state["code"],
    "MaTTHC": lambda v: v.procedure["code"],
    "TenTTHC": lambda v: v.procedure["name"],
    "MaLinhVuc": lambda v: v.procedure.get("field_code") or "",
    "TenLinhVuc": lambda v: v.procedure["field"],
    "KenhThucHien": lambda v: PORTAL_CHANNEL[v.state["channel"]],
    "ChuHoSo": lambda v: _cut(v.applicant["name"], 200),
    "LoaiDoiTuong": lambda v: v.applicant.get("kind", 1),
    "SoGiayToChuHoSo": lambda v: v.applicant["id_number"],
    "SoDienThoai": lambda v: v.applicant.get("phone") or "",
    "Email": lambda v: v.applicant.get("email") or "",
    "DiaChi": lambda v: v.applicant.get("address") or "",
    "TrichYeuHoSo": lambda v: _cut(v.state.get("summary") or v.procedure["name"], 1000),
    "NgayNopHoSo": lambda v: portal_date(v.state["received_at"]),
    "NgayTiepNhan": lambda v: portal_date(v.state["received_at"]),
    "NgayHenTra": lambda v: portal_date(v.state.get("due_at")),
    "NgayTra": lambda v: portal_date(v.state.get("returned_at")),
    "NgayKetThucXuLy": _end_of_processing,
    "NgayTuChoi": lambda v: portal_date(v.state.get("refused_at")),
    "TrangThaiHoSo": lambda v: portal_status(v.state["status"]),
    "HinhThuc": lambda v: PORTAL_RETURN_VIA[v.state.get("return_via", "desk")],
    "DonViXuLy": lambda v: v.state.get("handling_office") or v.state["code"].rsplit("-", 2)[0],
    "GhiChu": _note,
    "HoSoCoThanhPhanSoHoa": lambda v: int(any(d.get("blob") for d in v.state["documents"])),
    "DinhDanhCHS": _identities,
    "TaiLieuNop": _documents,
    "DanhSachLePhi": _fees,
    "DanhSachHoSoBoSung": _supplements,
    "DanhSachGiayToKetQua": _results,
}


def dossier_record(state: Mapping[str, Any], steps: Sequence[Step], names: Names) -> dict[str, Any]:
    """The `DongBoHoSoMC` record of a dossier in `state` (the last step's state)."""
    view = DossierView(state, steps, names)
    return {field: compute(view) for field, compute in DOSSIER_FIELDS.items()}


# -- progress rows (CapNhatTienDoHoSoMC) ----------------------------------------------------


def _step_text(step: Step) -> str:
    event = step.event
    action, data = event["action"], event.get("data") or {}
    if action == "receive":
        return RECEIVE_TEXT  # the portal requires this exact text on the first row
    text = NEXT_STEP_TEXT[action]
    if action == "transfer":
        text += f" đến {data['to']}"
    elif action == "reschedule":
        text += f" {portal_date(data['new_due'])}"
    elif action == "return":
        text += f" {RETURN_TEXT[data['via']]}"
    elif action == "rate":
        text += f": {RATING_TEXT[data['rating']]}"
    elif action in ("request-payment", "pay"):
        text += f" {data['amount']} đồng"
    detail = data.get("reason") or data.get("result") or data.get("note")
    if detail:
        text += f": {detail}"
    return _cut(text, 1000)


def _office_of(event: Mapping[str, Any]) -> str:
    return str(event["station"]).rsplit("/", 1)[0]


PROGRESS_FIELDS: Final[dict[str, Callable[[Step, Names], Any]]] = {
    "MaHoSo": lambda s, n: s.event["dossier"],
    "NguoiXuLy": lambda s, n: _cut(n.officer_name(s.event["officer"]), 50),
    "ChucDanh": lambda s, n: DESK_TITLE,
    "ThoiDiemXuLy": lambda s, n: portal_date(_event_time(s.event)),
    "PhongBanXuLy": lambda s, n: n.office_name(_office_of(s.event)),
    "NoiDungXuLy": lambda s, n: _step_text(s),
    "TrangThai": lambda s, n: portal_status(s.state["status"]),
    "NgayBatDau": lambda s, n: portal_date(s.previous_time),
    "NgayKetThucTheoQuyDinh": lambda s, n: portal_date(s.state.get("due_at")),
}


def progress_rows(steps: Sequence[Step], names: Names) -> list[dict[str, Any]]:
    """One `CapNhatTienDoHoSoMC` row per applied event, the first being "Tiếp nhận hồ sơ"."""
    return [{f: compute(step, names) for f, compute in PROGRESS_FIELDS.items()} for step in steps]


def row_key(row: Mapping[str, Any]) -> tuple[str, str, int, str]:
    """How the portal identifies a progress row (docs/portal.md)."""
    return (row["MaHoSo"], row["ThoiDiemXuLy"], row["TrangThai"], row["NoiDungXuLy"])


# -- the province's catalogue (LayDanhSachTTHC) -> our catalogue import format ---------------

TIME_UNITS: Final = {
    "NgayLamViec": "working_days",
    "Ngay": "calendar_days",
    "GioLamViec": "working_hours",
}

CATALOGUE_FIELDS: Final[dict[str, Callable[[Mapping[str, Any]], Any]]] = {
    "code": lambda p: p["MaTTHC"],
    "name": lambda p: p["TenTTHC"],
    "field": lambda p: p["TenLinhVuc"],
    "field_code": lambda p: p.get("MaLinhVuc") or None,
    "time_limit": lambda p: p["ThoiHanGiaiQuyet"],
    "time_unit": lambda p: TIME_UNITS[p["DonViThoiHan"]],
    "fee": lambda p: p.get("LePhi", 0),
    "on_the_spot": lambda p: bool(p.get("GiaiQuyetNgay", 0)),
    "documents": lambda p: [
        {
            "name": d["TenGiayTo"],
            "originals": d.get("SoBanChinh", 1),
            "copies": d.get("SoBanSao", 0),
        }
        for d in p.get("ThanhPhanHoSo", [])
    ],
}


def catalogue_from_portal(
    items: Sequence[Any],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The procedures the stations can import, and the items refused with the reason (a bad
    item from the province must not block the others)."""
    from pydantic import ValidationError

    from schemas.catalog import Procedure

    good: list[dict[str, Any]] = []
    refused: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in items:
        code = str(item.get("MaTTHC", "?")) if isinstance(item, Mapping) else "?"
        try:
            if not isinstance(item, Mapping):
                raise TypeError("not an object")
            mapped = {k: f(item) for k, f in CATALOGUE_FIELDS.items()}
            procedure = Procedure.model_validate({k: v for k, v in mapped.items() if v is not None})
        except (KeyError, TypeError, AttributeError) as exc:
            refused.append({"code": code, "reason": f"missing or wrong field: {exc}"})
            continue
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"]))
            refused.append({"code": code, "reason": f"{where}: {first['msg']}"})
            continue
        if procedure.code in seen:
            refused.append({"code": code, "reason": "listed twice"})
            continue
        seen.add(procedure.code)
        good.append(procedure.model_dump(mode="json", exclude_none=True, exclude={"demo"}))
    return good, refused
