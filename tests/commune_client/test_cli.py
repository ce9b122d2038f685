"""The `commune` command line: outputs of every kind, and bad input of every kind gives exit 2,
one line on stderr, no traceback, and writes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXE = str(Path(sys.executable).with_name("commune"))
NOW = "2026-11-23T09:00:00+07:00"


def run(
    data: Path,
    *args: str,
    now: str = NOW,
    passphrase: str | None = "hoa-pass",
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNE_")}
    env.update({"COMMUNE_DATA_DIR": str(data), "COMMUNE_NOW": now})
    if passphrase is not None:
        env["COMMUNE_PASSPHRASE"] = passphrase
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, timeout=120, input=stdin
    )


def ok(data: Path, *args: str, **kw: Any) -> Any:
    out = run(data, "--json", *args, **kw)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def bad(data: Path, *args: str, match: str, **kw: Any) -> None:
    before = _digest(data)
    out = run(data, "--json", *args, **kw)
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert match in lines[0], lines[0]
    assert _digest(data) == before, "a refused command changed the station"


def _digest(data: Path) -> str:
    db = data / "station.db"
    if not db.exists():
        return "absent"
    import sqlite3

    conn = sqlite3.connect(db)
    h = hashlib.sha256()
    for table in ("entries", "checkpoints", "dossiers", "counters", "catalog", "officers"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
            h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data = tmp_path_factory.mktemp("cli") / "station"
    ok(
        data,
        "init",
        "--office",
        "000.00.17.H56",
        "--office-name",
        "UBND xã Tân Lập",
        "--officer",
        "Nguyễn Thị Hoa",
    )
    assert ok(data, "catalog", "demo")["imported"] >= 28
    code = ok(
        data,
        "receive",
        "--procedure",
        "1.001193",
        "--applicant-name",
        "Nguyễn Văn Đức",
        "--applicant-id",
        "001088012345",
        "--phone",
        "0912 345 678",
        "--doc",
        "Tờ khai đăng ký khai sinh:1:0",
        "--doc",
        "Giấy chứng sinh",
    )["code"]
    return data, code


def test_receive_output_and_receipt(station: tuple[Path, str], tmp_path: Path) -> None:
    data, code = station
    shown = ok(data, "show", code)
    assert shown["dossier"]["applicant"]["phone"] == "0912345678"
    assert [d["name"] for d in shown["dossier"]["documents"]] == [
        "Tờ khai đăng ký khai sinh",
        "Giấy chứng sinh",
    ]
    rec = ok(data, "receipt", code)
    assert set(rec) == {"type", "event", "cert", "station_cert", "proof"}
    qr = ok(data, "receipt", code, "--text")["qr"]
    assert qr.startswith("CLR1.") and len(qr) < 1800
    plain = run(data, "receipt", code, "--text")
    assert plain.stdout.strip() == qr
    pdf = tmp_path / "receipt.pdf"
    ok(data, "receipt", code, "--pdf", str(pdf))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text
    assert "Nguyễn Văn Đức" in text and code in text


def test_forms_book_and_report(station: tuple[Path, str], tmp_path: Path) -> None:
    data, _ = station
    code = ok(
        data,
        "receive",
        "--procedure",
        "1.001193",
        "--applicant-name",
        "Trần Thị Lan",
        "--applicant-id",
        "001088099999",
        now="2026-11-23T09:30:00+07:00",
    )["code"]
    ok(
        data,
        "act",
        code,
        "request-supplement",
        "--reason",
        "Thiếu giấy chứng sinh",
        "--doc",
        "Giấy chứng sinh",
        now="2026-11-23T09:40:00+07:00",
    )
    ok(data, "act", code, "supplement", now="2026-11-23T10:40:00+07:00")
    ok(
        data,
        "act",
        code,
        "reschedule",
        "--new-due",
        "2026-11-30",
        "--reason",
        "Xin lỗi vì phải xác minh thêm",
        now="2026-11-23T10:50:00+07:00",
    )
    refused = ok(
        data,
        "receive",
        "--procedure",
        "1.001193",
        "--applicant-name",
        "Lê Văn Tám",
        "--applicant-id",
        "001088077777",
        now="2026-11-23T11:00:00+07:00",
    )["code"]
    ok(
        data,
        "act",
        refused,
        "refuse",
        "--reason",
        "Không thuộc thẩm quyền",
        now="2026-11-23T11:05:00+07:00",
    )
    for target, form, expected in [
        (code, "supplement", "PHIẾU YÊU CẦU BỔ SUNG"),
        (refused, "refusal", "PHIẾU TỪ CHỐI"),
        (code, "apology", "PHIẾU XIN LỖI"),
        (code, "control-slip", "PHIẾU KIỂM SOÁT"),
    ]:
        out = tmp_path / f"{form}.pdf"
        ok(data, "print", target, form, "--out", str(out))
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
        assert expected in text, form
    bad(data, "print", refused, "apology", "--out", str(tmp_path / "x.pdf"), match="chưa có")
    book = tmp_path / "book.xlsx"
    assert ok(data, "book", "--xlsx", str(book))["dossiers"] == 3
    report = ok(
        data,
        "report",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-23",
        "--xlsx",
        str(tmp_path / "b06.xlsx"),
        now="2026-11-23T17:00:00+07:00",
    )
    assert report["received"]["total"] == 2 and report["refused"] == 1
    from openpyxl import load_workbook

    assert load_workbook(tmp_path / "b06.xlsx").active.max_row > 5
    assert ok(data, "list", "--search", "tran thi lan")[0]["code"] == code
    assert ok(data, "rebuild")["identical"] is True


def test_bad_input_is_exit_2_and_changes_nothing(station: tuple[Path, str], tmp_path: Path) -> None:
    data, code = station
    rx = ["receive", "--procedure", "1.001193", "--applicant-name", "Nguyễn Văn A"]
    bad(
        data,
        *rx[:2],
        "9.999999",
        *rx[3:],
        "--applicant-id",
        "001088012345",
        match="Không có thủ tục",
    )
    bad(data, *rx, "--applicant-id", "0010880123", match="CCCD")
    bad(data, *rx, "--applicant-id", "001088012345", "--phone", "12345", match="điện thoại")
    bad(data, *rx, "--applicant-id", "001088012345", "--channel", "fax", match="fax")
    bad(data, *rx, "--applicant-id", "001088012345", "--doc", "Tờ khai:x:y", match="Giấy tờ")
    bad(data, "act", code, "return", match="Không thể trả kết quả")
    bad(data, "act", code, "refuse", match="lý do")
    bad(
        data,
        "act",
        code,
        "reschedule",
        "--new-due",
        "30/11/2026",
        "--reason",
        "x",
        match="Ngày hẹn mới",
    )
    bad(data, "act", code, "rate", "--rating", "5", match="5")
    bad(data, "act", "000.00.17.H56-261123-0999", "resolve", match="Không tìm thấy")
    bad(data, "show", "not-a-code", match="Không tìm thấy")
    bad(data, "list", "--status", "bogus", match="Trạng thái")
    bad(data, "report", "--from", "2026-11-30", "--to", "2026-11-01", match="Ngày bắt đầu")
    bad(data, "report", "--from", "2026-02-30", "--to", "2026-03-01", match="2026-02-30")
    bad(data, *rx, "--applicant-id", "001088012345", passphrase="sai", match="Sai mật khẩu")
    bad(data, *rx, "--applicant-id", "001088012345", passphrase=None, match="COMMUNE_PASSPHRASE")
    bad(data, *rx, "--applicant-id", "001088012345", now="hôm nay", match="COMMUNE_NOW")
    bad(
        data,
        "init",
        "--office",
        "000.00.17.H56",
        "--office-name",
        "X",
        "--officer",
        "Y",
        match="đã được khởi tạo",
    )
    for name, content, match in [
        ("broken.json", b'[{"code": ', "JSON"),
        (
            "bad.json",
            json.dumps(
                [
                    {
                        "code": "1.1",
                        "name": "X",
                        "field": "Y",
                        "time_limit": -1,
                        "time_unit": "working_days",
                        "fee": 0,
                    }
                ]
            ).encode(),
            "time_limit",
        ),
        (
            "bad.csv",
            "code,name,field,time_limit,time_unit,fee\n1.2,X,Y,3,tuần,0\n".encode(),
            "time_unit",
        ),
        ("empty.csv", b"", "trống"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        bad(data, "catalog", "import", str(path), match=match)
    bad(data, "catalog", "import", str(tmp_path / "missing.json"), match="Không đọc được")


def test_missing_data_dir_is_exit_2_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nowhere"
    for args in (
        ["list"],
        ["show", "X"],
        ["receive", "--procedure", "1", "--applicant-name", "A", "--applicant-id", "001088012345"],
        ["rebuild"],
    ):
        bad(data, *args, match="commune init")
    assert not data.exists()


def test_cli_action_choices_match_the_lifecycle() -> None:
    from commune_client.cli import ACT_ACTIONS
    from schemas.event import DOSSIER_ACTIONS
    from schemas.lifecycle import TRANSITIONS

    assert set(ACT_ACTIONS) == set(TRANSITIONS) == DOSSIER_ACTIONS - {"receive"}
