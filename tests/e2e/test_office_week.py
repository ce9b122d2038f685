"""A week at the desk, driven only through the `commune` command line (COMMUNE_NOW advancing),
then Biểu 06 checked against numbers computed by hand, and `commune rebuild` reproducing the
projections exactly.

The week: Mon 23 - Fri 27 November 2026. Tue 24/11 is a public holiday (Ngày Văn hóa Việt Nam,
in the `holidays` calendar), so nothing is received that day and it never counts as working time.
Office hours 07:00-11:30, 13:30-17:00. Procedures (imported from a catalogue file):
  HT1 = 1.001193 Đăng ký khai sinh, Hộ tịch, 1 working day
  HT3 = 1.004873 Xác nhận tình trạng hôn nhân, Hộ tịch, 3 working days
  CT0 = 2.000815 Chứng thực bản sao, Chứng thực, on the spot (0)
  DD10 = 1.003005 Đăng ký biến động đất đai, Đất đai, 10 working days

60 dossiers in all; 53 of them are received in the reported week:
  A0      Fri 20/11 10:00 CT0 direct, resolved and returned 10:10 -> closed before the period
  A1-A6   Fri 20/11 10:00 HT3 direct -> due Thu 26/11 10:00 (Fri 5h, Mon 8h, [Tue holiday],
          Wed 8h, Thu 3h):
            A1, A2 resolved Wed 25 (early), A3 resolved Thu 26 (on time), A4 resolved Fri 27
            (late), A5 withdrawn Mon 23, A6 still open (overdue at Fri 27)
  B1-B20  CT0 direct, 5 a day on Mon, Wed, Thu, Fri; resolved + returned 10 min later (on time)
  C1-C5   Mon 23 08:00 HT1 direct -> due Wed 25 08:00. C1 resolved Mon (early); C2-C4 resolved
          Wed (on time); C5: supplement requested Mon 10:00, supplied Wed 10:00 (8 working
          hours) -> due Thu 26 08:00, resolved Thu 26 (on time)
  C6-C10  Wed 25 14:00 HT1 online -> due Thu 26 14:00. C6, C7 resolved Thu (on time); C8, C9
          resolved Fri (late); C10 open (overdue at Fri 27)
  C11-C15 Thu 26 09:00 HT1 postal -> due Fri 27 09:00. C11-C13 resolved Fri (on time); C14
          refused Thu (not counted as received); C15 open (within deadline: due date = 27)
  D1-D10  Fri 27 08:00 DD10 direct, all open within deadline, with: D1 request-payment + pay,
          D2 request-payment, D3 request-supplement, D4 transfer + accept, D5 reschedule,
          D6 stopped (counted as stopped, not pending)
  F1-F8   Fri 27 13:30 HT1 online -> due Mon 30; F1, F2 withdrawn Fri; F3-F8 open (within)

Expected Biểu 06, 23/11-27/11:
  received: online = C6-10 (5) + F (8) = 13; direct_or_postal = B (20) + C1-5 (5) + C11-13,15
            (4) + D (10) = 39; carried_over = A1-A6 = 6; total = 58
  resolved: early = A1, A2, C1 = 3; on_time = A3 + B (20) + C2-5 (4) + C6, C7 + C11-13 = 30;
            late = A4, C8, C9 = 3; total = 36
  pending:  overdue = A6, C10 = 2; within = C15 + D (9, without D6) + F3-8 (6) = 16; total = 18
  withdrawn = A5, F1, F2 = 3; stopped = D6 = 1; refused = C14 = 1
  check: 58 = 36 + 3 + 1 + 18
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.verify import verify_ledger

EXE = str(Path(sys.executable).with_name("commune"))
CATALOG = [
    {
        "code": "1.001193",
        "name": "Đăng ký khai sinh",
        "field": "Hộ tịch",
        "time_limit": 1,
        "time_unit": "working_days",
        "fee": 0,
        "documents": [{"name": "Tờ khai đăng ký khai sinh", "originals": 1, "copies": 0}],
    },
    {
        "code": "1.004873",
        "name": "Xác nhận tình trạng hôn nhân",
        "field": "Hộ tịch",
        "time_limit": 3,
        "time_unit": "working_days",
        "fee": 0,
        "documents": [],
    },
    {
        "code": "2.000815",
        "name": "Chứng thực bản sao từ bản chính",
        "field": "Chứng thực",
        "time_limit": 0,
        "time_unit": "working_days",
        "fee": 2000,
        "on_the_spot": True,
        "documents": [{"name": "Bản chính", "originals": 1, "copies": 1}],
    },
    {
        "code": "1.003005",
        "name": "Đăng ký biến động đất đai",
        "field": "Đất đai",
        "time_limit": 10,
        "time_unit": "working_days",
        "fee": 0,
        "documents": [],
    },
]
HT1, HT3, CT0, DD10 = "1.001193", "1.004873", "2.000815", "1.003005"


def t(day: int, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{hhmm}:00+07:00")


def script() -> list[tuple[datetime, str, str, list[str]]]:
    """(when, dossier label, command, args): receives and actions of the whole week."""
    s: list[tuple[datetime, str, str, list[str]]] = []

    def rx(label: str, when: datetime, proc: str, channel: str = "direct") -> None:
        s.append((when, label, "receive", [proc, channel]))

    def do(label: str, when: datetime, action: str, *args: str) -> None:
        s.append((when, label, action, list(args)))

    rx("A0", t(20, "10:00"), CT0)
    do("A0", t(20, "10:10"), "resolve")
    do("A0", t(20, "10:11"), "return")
    for i in range(1, 7):
        rx(f"A{i}", t(20, "10:00") + timedelta(minutes=i), HT3)
    for label, day in (("A1", 25), ("A2", 25), ("A3", 26), ("A4", 27)):
        do(label, t(day, "15:00"), "accept")
        do(label, t(day, "15:30"), "resolve")
        do(label, t(day, "15:45"), "return")
    do("A1", t(25, "15:50"), "rate", "--rating", "1")
    do("A5", t(23, "09:30"), "withdraw", "--reason", "Công dân xin rút")
    for n, day in enumerate(
        [23, 23, 23, 23, 23, 25, 25, 25, 25, 25, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27], start=1
    ):
        at = t(day, "09:00") + timedelta(minutes=15 * (n % 5))
        rx(f"B{n}", at, CT0)
        do(f"B{n}", at + timedelta(minutes=10), "resolve")
        do(f"B{n}", at + timedelta(minutes=11), "return")
        if n % 4 == 0:
            do(f"B{n}", at + timedelta(minutes=12), "rate", "--rating", str(1 + n % 3))
    for i in range(1, 6):
        rx(f"C{i}", t(23, "08:00") + timedelta(seconds=i), HT1)
    do("C1", t(23, "15:00"), "resolve")
    for label in ("C2", "C3", "C4"):
        do(label, t(25, "08:00"), "resolve")
    do(
        "C5",
        t(23, "10:00"),
        "request-supplement",
        "--reason",
        "Thiếu giấy chứng sinh bản chính",
        "--doc",
        "Giấy chứng sinh",
    )
    do("C5", t(25, "10:00"), "supplement", "--doc", "Giấy chứng sinh:1:0")
    do("C5", t(26, "08:00"), "resolve")
    for i in range(6, 11):
        rx(f"C{i}", t(25, "14:00") + timedelta(seconds=i), HT1, "online")
    for label, day in (("C6", 26), ("C7", 26), ("C8", 27), ("C9", 27)):
        do(label, t(day, "16:00"), "resolve")
    for i in range(11, 16):
        rx(f"C{i}", t(26, "09:00") + timedelta(seconds=i), HT1, "postal")
    for label in ("C11", "C12", "C13"):
        do(label, t(27, "08:30"), "resolve")
        do(label, t(27, "08:31"), "return", "--via", "post")
    do("C14", t(26, "09:30"), "refuse", "--reason", "Không thuộc thẩm quyền của xã")
    for i in range(1, 11):
        rx(f"D{i}", t(27, "08:00") + timedelta(seconds=i), DD10)
    do("D1", t(27, "09:00"), "request-payment", "--amount", "50000", "--reason", "Lệ phí trước bạ")
    do("D1", t(27, "09:30"), "pay", "--amount", "50000")
    do("D2", t(27, "09:00"), "request-payment", "--amount", "30000")
    do("D3", t(27, "09:40"), "request-supplement", "--reason", "Thiếu bản đồ thửa đất")
    do("D4", t(27, "10:00"), "transfer", "--to", "H56.14", "--reason", "Liên thông Sở TN-MT")
    do("D4", t(27, "10:30"), "accept", "--reason", "Nhận lại kết quả liên thông")
    do(
        "D5",
        t(27, "10:40"),
        "reschedule",
        "--new-due",
        "2026-12-18",
        "--reason",
        "Xin lỗi: cần đo đạc lại thửa đất",
    )
    do("D6", t(27, "10:50"), "stop", "--reason", "Có tranh chấp đất đai")
    for i in range(1, 9):
        rx(f"F{i}", t(27, "13:30") + timedelta(seconds=i), HT1, "online")
    do("F1", t(27, "15:00"), "withdraw")
    do("F2", t(27, "15:01"), "withdraw", "--reason", "Nộp nhầm thủ tục")
    return sorted(s, key=lambda item: item[0])


class Desk:
    def __init__(self, data: Path) -> None:
        self.env = {**os.environ, "COMMUNE_DATA_DIR": str(data), "COMMUNE_PASSPHRASE": "hoa-2026"}
        self.calls = 0

    def __call__(self, *args: str, now: datetime | None = None, ok: bool = True) -> Any:
        env = dict(self.env)
        if now is not None:
            env["COMMUNE_NOW"] = now.isoformat()
        out = subprocess.run(
            [EXE, "--json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        self.calls += 1
        if ok:
            assert out.returncode == 0, f"{args}: {out.stderr}"
            return json.loads(out.stdout)
        return out


@pytest.mark.timeout(900)
def test_a_week_at_the_desk(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "station")
    desk(
        "init",
        "--office",
        "000.00.17.H56",
        "--office-name",
        "UBND xã Tân Lập",
        "--officer",
        "Nguyễn Thị Hoa",
        now=t(20, "07:00"),
    )
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG, ensure_ascii=False), encoding="utf-8")
    assert desk("catalog", "import", str(catalog))["imported"] == 4

    codes: dict[str, str] = {}
    for when, label, command, args in script():
        if command == "receive":
            proc, channel = args
            result = desk(
                "receive",
                "--procedure",
                proc,
                "--applicant-name",
                f"Nguyễn Văn Đức {label}",
                "--applicant-id",
                "001088012345",
                "--phone",
                "0912345678",
                "--channel",
                channel,
                now=when,
            )
            codes[label] = result["code"]
        else:
            desk("act", codes[label], command, *args, now=when)
    assert len(codes) == 60

    state = desk("show", codes["C5"])["dossier"]
    assert state["due_at"] == "2026-11-26T08:00:05+07:00"  # received 08:00:05; moved 8 h
    assert state["status"] == "resolved"
    report = desk("report", "--from", "2026-11-23", "--to", "2026-11-27", now=t(27, "17:30"))
    assert report["received"] == {
        "total": 58,
        "online": 13,
        "direct_or_postal": 39,
        "carried_over": 6,
    }
    assert report["resolved"] == {"total": 36, "early": 3, "on_time": 30, "late": 3}
    assert report["pending"] == {"total": 18, "within_deadline": 16, "overdue": 2}
    assert report["withdrawn"] == 3
    assert report["stopped"] == 1
    assert report["refused"] == 1
    fields = {f["field"]: f for f in report["by_field"]}
    assert fields["Chứng thực"]["resolved"] == {"total": 20, "early": 0, "on_time": 20, "late": 0}
    assert fields["Đất đai"]["pending"] == {"total": 9, "within_deadline": 9, "overdue": 0}
    assert report["awaiting_supplement"] == [codes["D3"]]

    rebuilt = desk("rebuild")
    assert rebuilt["identical"] is True and rebuilt["dossiers"] == 60

    export = tmp_path / "ledger.jsonl"
    assert desk("export-ledger", str(export))["entries"] > 60
    lines = export.read_bytes().splitlines()
    header = json.loads(lines[0])
    leaves = lines[1 : 1 + header["entries"]]
    notes = [json.loads(x) for x in lines[1 + header["entries"] :]]
    result = verify_ledger(
        leaves,
        station_cert=header["station_cert"],
        origin=header["origin"],
        checkpoints=notes[-50:],
        schema=True,
    )
    assert result.ok and result.findings == [], result.findings[:3]
