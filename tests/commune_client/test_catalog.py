"""Catalogue import (JSON and CSV), its errors, the CSV template and the demo catalogue."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from commune_client.catalog import (
    CATALOG_CSV_COLUMNS,
    DEMO_CATALOG_VERSION,
    REQUIRED_COLUMNS,
    CatalogError,
    catalog_to_csv,
    demo_catalog,
    parse_catalog,
)
from ledger.errors import LedgerError
from schemas import Catalog, Procedure, RequiredDocument

KHAI_SINH: dict[str, Any] = {
    "code": "1.001193",
    "name": "Đăng ký khai sinh",
    "field": "Hộ tịch",
    "time_limit": 0,
    "time_unit": "working_days",
    "fee": 0,
    "documents": [
        {"name": "Tờ khai đăng ký khai sinh", "originals": 1, "copies": 0},
        {"name": "Giấy chứng sinh", "originals": 1, "copies": 0},
    ],
    "on_the_spot": True,
    "cutoff": "15:00",
}
BAN_SAO: dict[str, Any] = {
    "code": "2.000815",
    "name": "Chứng thực bản sao từ bản chính",
    "field": "Chứng thực",
    "time_limit": 0,
    "time_unit": "working_days",
    "fee": 2000,
    "documents": [{"name": "Bản sao cần chứng thực", "originals": 0, "copies": 1}],
    "on_the_spot": True,
}
CAI_CHINH: dict[str, Any] = {
    "code": "1.004859",
    "name": "Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch",
    "field": "Hộ tịch",
    "time_limit": 3,
    "time_unit": "working_days",
    "fee": 15000,
}
EXPECTED = [Procedure.model_validate(p) for p in (KHAI_SINH, BAN_SAO, CAI_CHINH)]

HEADER = "code,name,field,time_limit,time_unit,fee,documents,on_the_spot,cutoff"
CSV_OK = (
    f"{HEADER}\r\n"
    "1.001193,Đăng ký khai sinh,Hộ tịch,0,working_days,0,"
    "Tờ khai đăng ký khai sinh|1|0;Giấy chứng sinh,có,15:00\r\n"
    "\r\n"  # blank lines are skipped
    "2.000815,Chứng thực bản sao từ bản chính,Chứng thực,0,ngày làm việc,2.000,"
    '"Bản sao cần chứng thực|0|1;",1,\r\n'
    '1.004859,"Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch",Hộ tịch,3,'
    "Working_Days,15000,,không,\r\n"
)


def refused(data: str | bytes, filename: str = "danh_muc.csv") -> CatalogError:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(CatalogError) as info:
        parse_catalog(raw, filename)
    error = info.value
    assert isinstance(error, LedgerError)
    assert error.title == "Lỗi danh mục thủ tục"
    assert error.message == str(error) and error.errors and error.errors[0] in error.message
    return error


def row(**cells: str) -> str:
    """A CSV file with HEADER and one row made of CAI_CHINH with `cells` replaced."""
    base = {
        "code": "1.004859",
        "name": "Cải chính hộ tịch",
        "field": "Hộ tịch",
        "time_limit": "3",
        "time_unit": "working_days",
        "fee": "15000",
        "documents": "",
        "on_the_spot": "",
        "cutoff": "",
    }
    base.update(cells)
    return f"{HEADER}\n" + ",".join(base[c] for c in HEADER.split(",")) + "\n"


# Happy paths ---------------------------------------------------------------------------------


def test_json_list_and_object_forms() -> None:
    as_list = json.dumps([KHAI_SINH, BAN_SAO, CAI_CHINH], ensure_ascii=False).encode()
    assert parse_catalog(as_list, "danh_muc.json") == EXPECTED
    wrapped = {"version": "2026.1", "procedures": [KHAI_SINH, BAN_SAO, CAI_CHINH]}
    assert parse_catalog(json.dumps(wrapped).encode(), "catalog.JSON") == EXPECTED


def test_json_extra_keys_ignored_and_content_sniffed() -> None:
    extra = {**CAI_CHINH, "agency_name": "UBND xã", "MaTTHC": "x", "time_unit": "ngày làm việc"}
    parsed = parse_catalog(json.dumps([extra]).encode(), "export")  # no extension: sniffed
    assert parsed == [EXPECTED[2]]


def test_csv_happy_path() -> None:
    parsed = parse_catalog(CSV_OK.encode(), "danh_muc.csv")
    assert parsed == EXPECTED
    # `name` alone in documents is 1 original, 0 copies
    assert parsed[0].documents[1] == RequiredDocument(name="Giấy chứng sinh")


def test_csv_bom_semicolon_and_column_order() -> None:
    text = (
        "Fee;Time_Unit;Time_Limit;Field;Name;Code;Documents\n"
        '15.000;working_days;3;Hộ tịch;Cải chính;1.004859;"A\\;B|1|2;C"\n'
    )
    [procedure] = parse_catalog(("\ufeff" + text).encode(), "danh_muc.csv")
    assert procedure.fee == 15000
    assert [(d.name, d.originals, d.copies) for d in procedure.documents] == [
        ("A;B", 1, 2),
        ("C", 1, 0),
    ]


def test_csv_utf16_with_bom() -> None:
    assert parse_catalog(CSV_OK.encode("utf-16"), "danh_muc.csv") == EXPECTED


# Errors --------------------------------------------------------------------------------------


def test_malformed_json() -> None:
    error = refused('[{"code": "1.001193",]', "danh_muc.json")
    assert error.message.startswith("Tệp JSON không hợp lệ: dòng 1, cột")
    assert "NaN" in refused('[{"fee": NaN}]', "a.json").message


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "a.csv", "Tệp danh mục trống"),
        (b"  \n\n", "a.json", "Tệp danh mục trống"),
        (b"\xef\xbb\xbf", "a.csv", "Tệp danh mục trống"),
        (b"[]", "a.json", "Danh mục không có thủ tục nào"),
        (b'{"procedures": []}', "a.json", "Danh mục không có thủ tục nào"),
        (HEADER.encode() + b"\n", "a.csv", "Tệp CSV chỉ có dòng tiêu đề"),
    ],
)
def test_empty(data: bytes, filename: str, message: str) -> None:
    assert refused(data, filename).message.startswith(message)


def test_json_wrong_shapes() -> None:
    assert 'khóa "procedures"' in refused(b'{"items": []}', "a.json").message
    assert refused(b'[{"code": "1.1"}, 5]', "a.json").errors[-1] == (
        "Mục 2: phải là một đối tượng JSON {...} mô tả thủ tục"
    )


def test_json_field_errors_name_item_and_field() -> None:
    bad = [
        KHAI_SINH,
        {**CAI_CHINH, "fee": -1, "documents": [{"name": "", "originals": 1.5}]},
        {**BAN_SAO, "time_unit": "weeks"},
    ]
    error = refused(json.dumps(bad).encode(), "a.json")
    assert error.errors == [
        "Mục 2, trường fee: phải là số nguyên không âm",
        "Mục 2, trường documents[1].name: Không được để trống",
        "Mục 2, trường documents[1].originals: phải là số nguyên không âm",
        "Mục 3, trường time_unit: đơn vị thời hạn không hợp lệ 'weeks': chỉ nhận working_days "
        "(ngày làm việc), calendar_days (ngày) hoặc working_hours (giờ làm việc)",
    ]
    assert error.message == "Mục 2, trường fee: phải là số nguyên không âm (và 3 lỗi khác)"
    missing = refused(json.dumps([{"code": "1.1", "name": "A"}]).encode(), "a.json")
    assert "Mục 1, trường field: thiếu, bắt buộc phải có" in missing.errors


def test_csv_header_required() -> None:
    error = refused("1.001193,Đăng ký khai sinh,Hộ tịch,0,working_days,0\n")
    assert error.message.startswith("Dòng 1 phải là dòng tiêu đề; thiếu cột bắt buộc: code")
    assert "thiếu cột bắt buộc: fee" in refused("code,name,field,time_limit,time_unit\n").message
    assert "cột code xuất hiện hai lần" in refused(f"{HEADER},code\n").message


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"time_limit": "ba"}, "Dòng 2, cột time_limit: phải là số nguyên không âm"),
        ({"time_limit": "-1"}, "Dòng 2, cột time_limit: phải là số nguyên không âm"),
        ({"time_limit": "1.5"}, "Dòng 2, cột time_limit: phải là số nguyên không âm"),
        ({"fee": "-5000"}, "Dòng 2, cột fee: phải là số nguyên không âm"),
        ({"fee": "2.5"}, "Dòng 2, cột fee: phải là số nguyên không âm"),
        ({"time_unit": "tuần"}, "Dòng 2, cột time_unit: đơn vị thời hạn không hợp lệ 'tuần'"),
        ({"on_the_spot": "đôi khi"}, "Dòng 2, cột on_the_spot: phải là true/false"),
        ({"name": ""}, "Dòng 2, cột name: thiếu, bắt buộc phải có"),
        ({"code": "1 001"}, "Dòng 2, cột code: mã thủ tục chỉ gồm chữ, số và dấu chấm"),
        ({"cutoff": "3pm"}, "Dòng 2, cột cutoff: giờ phải có dạng HH:MM"),
        (
            {"documents": "Tờ khai|một|0"},
            "Dòng 2, cột documents: giấy tờ thứ 1 (Tờ khai): số bản chính phải là số nguyên",
        ),
        ({"documents": "A|1|0;;B"}, "Dòng 2, cột documents: giấy tờ thứ 2: thiếu tên giấy tờ"),
        ({"documents": "A|1|0|3"}, "Dòng 2, cột documents: giấy tờ thứ 1: có 4 phần"),
        ({"documents": "|1|0"}, "Dòng 2, cột documents: giấy tờ thứ 1: thiếu tên giấy tờ"),
        (
            {"documents": "A|1|-2"},
            "Dòng 2, cột documents: giấy tờ thứ 1 (A): số bản sao phải là số nguyên không âm",
        ),
    ],
)
def test_csv_cell_errors(cells: dict[str, str], message: str) -> None:
    assert refused(row(**cells)).message.startswith(message)


def test_csv_row_errors() -> None:
    too_many = row() + "1.1,A,F,3,working_days,0,,,,extra\n"
    assert refused(too_many).message.startswith("Dòng 3: có 10 ô, nhiều hơn 9 cột")
    assert refused(f'{HEADER}\n1.1,"A"x,F\n').message.startswith("Tệp CSV không hợp lệ ở dòng 2")


def test_duplicate_codes() -> None:
    text = row() + "2.000815,B,Chứng thực,0,working_days,0,,,\n\n1.004859,C,Hộ tịch,1,ngày,0,,,\n"
    assert refused(text).message == "Dòng 5, cột code: mã thủ tục 1.004859 bị trùng với dòng 2"
    twice = json.dumps([CAI_CHINH, BAN_SAO, CAI_CHINH]).encode()
    assert refused(twice, "a.json").message == (
        "Mục 3, trường code: mã thủ tục 1.004859 bị trùng với mục 1"
    )


def test_all_or_nothing_and_every_error_listed() -> None:
    text = row() + "1.2,B,F,x,working_days,0,,,\n1.3,C,F,1,working_days,-1,,,\n"
    error = refused(text)
    assert [e.split(":")[0] for e in error.errors] == [
        "Dòng 3, cột time_limit",
        "Dòng 4, cột fee",
    ]
    assert error.message.endswith("(và 1 lỗi khác)")


def test_encoding_size_and_spreadsheet_refused() -> None:
    latin = refused(row(name="Café").encode().replace("é".encode(), b"\xe9"))  # latin-1 é
    assert latin.message.startswith("Tệp không phải văn bản UTF-8")
    assert "CSV UTF-8" in refused(b"PK\x03\x04", "danh_muc.xlsx").message
    assert "quá lớn" in refused(b" " * (16 * 1024 * 1024 + 1), "a.json").message


# Template and round trip ---------------------------------------------------------------------


def test_csv_template_round_trip() -> None:
    tricky = Procedure.model_validate(
        {
            **CAI_CHINH,
            "code": "1.004859.000.00.00.H56",
            "field_code": "G09-TP04",
            "agency": "000.00.17.H56",
            "cutoff": "15:30",
            "documents": [
                {"name": 'Giấy tờ "A"; hoặc B | C \\ D, E', "originals": 2, "copies": 3},
                {"name": "Tờ khai", "originals": 0, "copies": 0},
            ],
            "demo": True,
        }
    )
    procedures = [*EXPECTED, tricky]
    text = catalog_to_csv(procedures)
    assert text.splitlines()[0] == ",".join(CATALOG_CSV_COLUMNS)
    assert set(REQUIRED_COLUMNS) <= set(CATALOG_CSV_COLUMNS)
    assert parse_catalog(text.encode(), "template.csv") == procedures
    assert parse_catalog(text.encode("utf-8-sig"), "template.csv") == procedures
    assert catalog_to_csv([]) == ",".join(CATALOG_CSV_COLUMNS) + "\r\n"


# Demo catalogue ------------------------------------------------------------------------------


def test_demo_catalogue() -> None:
    procedures = demo_catalog()
    assert len(procedures) >= 28
    codes = [p.code for p in procedures]
    assert len(set(codes)) == len(codes)
    assert all(p.demo for p in procedures)
    assert all(p.name and p.field and p.documents for p in procedures)
    assert all(p.on_the_spot == (p.time_limit == 0) for p in procedures)
    fields = {p.field for p in procedures}
    assert {"Hộ tịch", "Chứng thực", "Bảo trợ xã hội", "Đất đai"} <= fields
    by_code = {p.code: p for p in procedures}
    assert by_code["1.001193"].name == "Đăng ký khai sinh" and by_code["1.001193"].fee == 0
    assert by_code["2.000815"].fee == 2000 and by_code["2.000815"].on_the_spot
    assert {p.time_unit for p in procedures} >= {"working_days", "calendar_days"}
    # the shipped file passes the importer and is a valid versioned Catalog record
    raw = resources.files("commune_client").joinpath("data/demo_catalog.json").read_bytes()
    assert parse_catalog(raw, "demo_catalog.json") == procedures
    catalog = Catalog.model_validate(json.loads(raw))
    assert catalog.version == DEMO_CATALOG_VERSION and list(catalog.procedures) == procedures
    # and survives the CSV template
    assert parse_catalog(catalog_to_csv(procedures).encode(), "demo.csv") == procedures
    assert demo_catalog() is not procedures  # a fresh list each call
