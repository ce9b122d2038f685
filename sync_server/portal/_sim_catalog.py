"""The simulator's procedure catalogue (`LayDanhSachTTHC`): a built-in demo list or a file.

The demo entries are typical commune-level procedures written in the national procedure
database's style; their codes, time limits and fees are illustrative, not authoritative.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final


def _doc(name: str, originals: int = 1, copies: int = 0) -> dict[str, Any]:
    return {"TenGiayTo": name, "SoBanChinh": originals, "SoBanSao": copies}


def _proc(
    code: str,
    name: str,
    field: tuple[str, str],
    limit: tuple[int, str],
    fee: int,
    same_day: bool,
    documents: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "MaTTHC": code,
        "TenTTHC": name,
        "MaLinhVuc": field[0],
        "TenLinhVuc": field[1],
        "ThoiHanGiaiQuyet": limit[0],
        "DonViThoiHan": limit[1],
        "LePhi": fee,
        "GiaiQuyetNgay": int(same_day),
        "ThanhPhanHoSo": documents,
    }


_HT = ("HT", "Hộ tịch")
_CT = ("CT", "Chứng thực")
_CTR = ("CTR", "Đăng ký, quản lý cư trú")
_BTXH = ("BTXH", "Bảo trợ xã hội")

DEMO_CATALOG: Final[list[dict[str, Any]]] = [
    _proc(
        "1.001193",
        "Đăng ký khai sinh",
        _HT,
        (1, "NgayLamViec"),
        0,
        True,
        [
            _doc("Tờ khai đăng ký khai sinh theo mẫu"),
            _doc("Giấy chứng sinh hoặc giấy tờ thay thế Giấy chứng sinh"),
        ],
    ),
    _proc(
        "1.000656",
        "Đăng ký khai tử",
        _HT,
        (1, "NgayLamViec"),
        0,
        True,
        [
            _doc("Tờ khai đăng ký khai tử theo mẫu"),
            _doc("Giấy báo tử hoặc giấy tờ thay thế Giấy báo tử"),
        ],
    ),
    _proc(
        "1.000894",
        "Đăng ký kết hôn",
        _HT,
        (5, "NgayLamViec"),
        0,
        True,
        [
            _doc("Tờ khai đăng ký kết hôn theo mẫu"),
            _doc("Giấy xác nhận tình trạng hôn nhân (nếu đăng ký tại nơi không thường trú)"),
        ],
    ),
    _proc(
        "1.004873",
        "Cấp Giấy xác nhận tình trạng hôn nhân",
        _HT,
        (3, "NgayLamViec"),
        5000,
        False,
        [_doc("Tờ khai cấp Giấy xác nhận tình trạng hôn nhân theo mẫu")],
    ),
    _proc(
        "1.001022",
        "Đăng ký nhận cha, mẹ, con",
        _HT,
        (3, "NgayLamViec"),
        0,
        False,
        [
            _doc("Tờ khai đăng ký nhận cha, mẹ, con theo mẫu"),
            _doc("Văn bản hoặc chứng cứ chứng minh quan hệ cha, mẹ, con", 0, 1),
        ],
    ),
    _proc(
        "2.000815",
        "Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan có thẩm quyền"
        " của Việt Nam cấp hoặc chứng nhận",
        _CT,
        (1, "NgayLamViec"),
        2000,
        True,
        [
            _doc("Bản chính giấy tờ, văn bản làm cơ sở để chứng thực bản sao"),
            _doc("Bản sao cần chứng thực", 0, 1),
        ],
    ),
    _proc(
        "2.000884",
        "Chứng thực chữ ký trong các giấy tờ, văn bản",
        _CT,
        (1, "NgayLamViec"),
        10000,
        True,
        [
            _doc("Giấy tờ tùy thân của người yêu cầu chứng thực", 0, 1),
            _doc("Giấy tờ, văn bản mà người yêu cầu chứng thực sẽ ký"),
        ],
    ),
    _proc(
        "1.004194",
        "Xác nhận thông tin về cư trú",
        _CTR,
        (4, "GioLamViec"),
        0,
        True,
        [_doc("Tờ khai thay đổi thông tin cư trú (Mẫu CT01)")],
    ),
    _proc(
        "1.001776",
        "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội",
        _BTXH,
        (3, "Ngay"),
        0,
        False,
        [
            _doc("Tờ khai đề nghị hỗ trợ chi phí mai táng theo mẫu"),
            _doc("Giấy chứng tử", 0, 1),
        ],
    ),
]

_UNITS = ("NgayLamViec", "Ngay", "GioLamViec")
_KEYS = (
    "MaTTHC",
    "TenTTHC",
    "MaLinhVuc",
    "TenLinhVuc",
    "ThoiHanGiaiQuyet",
    "DonViThoiHan",
    "LePhi",
    "GiaiQuyetNgay",
    "ThanhPhanHoSo",
)


def _is_int(value: object, lo: int = 0) -> bool:
    return type(value) is int and value >= lo


def check_catalog(data: object) -> list[dict[str, Any]]:
    """A catalogue in LayDanhSachTTHC's `data` shape; ValueError names the first problem."""
    if not isinstance(data, list):
        raise ValueError("the catalogue must be a JSON list")
    for n, entry in enumerate(data):
        where = f"entry {n}"
        if not isinstance(entry, dict) or set(entry) != set(_KEYS):
            raise ValueError(f"{where}: needs exactly the keys {', '.join(_KEYS)}")
        for key in ("MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc"):
            if not isinstance(entry[key], str) or (key in ("MaTTHC", "TenTTHC") and not entry[key]):
                raise ValueError(f"{where}: {key} must be a (non-empty) string")
        if not (_is_int(entry["ThoiHanGiaiQuyet"]) and _is_int(entry["LePhi"])):
            raise ValueError(f"{where}: ThoiHanGiaiQuyet and LePhi must be integers >= 0")
        if entry["DonViThoiHan"] not in _UNITS:
            raise ValueError(f"{where}: DonViThoiHan must be one of {', '.join(_UNITS)}")
        if entry["GiaiQuyetNgay"] not in (0, 1) or type(entry["GiaiQuyetNgay"]) is not int:
            raise ValueError(f"{where}: GiaiQuyetNgay must be 0 or 1")
        docs = entry["ThanhPhanHoSo"]
        if not isinstance(docs, list) or not all(
            isinstance(d, dict)
            and set(d) == {"TenGiayTo", "SoBanChinh", "SoBanSao"}
            and isinstance(d["TenGiayTo"], str)
            and _is_int(d["SoBanChinh"])
            and _is_int(d["SoBanSao"])
            for d in docs
        ):
            raise ValueError(
                f"{where}: ThanhPhanHoSo must list {{TenGiayTo, SoBanChinh, SoBanSao}}"
            )
    return data


def load_catalog(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return check_catalog(data)
