"""Two offices and a hub, driven through the `commune` command line over real HTTP (a real
uvicorn hub on loopback, `tests/hubkit.py`).

A transfer (liên thông) from office A to office B and back: A receives and transfers, the hub
sends B the dossier's history, B accepts and resolves, A sees it and returns the result; the
dossier's final state is the same at A, at B and at the hub, and `commune rebuild` reproduces
both stations' projections. Then the command's contract: exit codes, one-line errors, the
quarantine, a PC clock far from the hub's, and an unreachable hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hubkit import HUB_NAME, HubServer, add_office, free_port, running_hub

from commune_client.clock import VN_TZ, iso

EXE = str(Path(sys.executable).with_name("commune"))
OFFICE_A, OFFICE_B = "000.00.17.H56", "000.00.17.H57"
PASSES = {"a": "hoa-pass", "b": "lan-pass", "c": "tu-pass"}


class Desk:
    """One station's data dir, its officer passphrase, and a device clock that moves on."""

    def __init__(self, root: Path, name: str) -> None:
        self.data = root / name
        self.passphrase = PASSES[name]
        self.clock = datetime.now(VN_TZ).replace(microsecond=0) - timedelta(hours=2)

    def run(self, *args: str, now: str | None = None) -> subprocess.CompletedProcess[str]:
        self.clock += timedelta(minutes=1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNE_")}
        env.update(
            {
                "COMMUNE_DATA_DIR": str(self.data),
                "COMMUNE_NOW": now or iso(self.clock),
                "COMMUNE_PASSPHRASE": self.passphrase,
            }
        )
        return subprocess.run(
            [EXE, "--json", *args], capture_output=True, text=True, env=env, timeout=120
        )

    def ok(self, *args: str, now: str | None = None) -> Any:
        out = self.run(*args, now=now)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return json.loads(out.stdout)

    def bad(self, *args: str, match: str) -> None:
        before = self.digest()
        out = self.run(*args)
        assert out.returncode == 2, (args, out.returncode, out.stdout, out.stderr)
        assert out.stdout == ""
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert match in lines[0], lines[0]
        assert self.digest() == before, "a refused command changed the station"

    def digest(self) -> str:
        db = self.data / "station.db"
        if not db.exists():
            return "absent"
        conn = sqlite3.connect(db)
        h = hashlib.sha256()
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'dossier_search%' ORDER BY name"
        ):
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                h.update(repr(row).encode())
        conn.close()
        return h.hexdigest()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    (tmp_path / "hub").mkdir()
    with running_hub(tmp_path / "hub") as server:
        yield server


def hub_dossier(hub: HubServer, code: str) -> dict[str, Any]:
    with hub.hub.storage.transaction() as tx:
        found = tx.dossiers([code])
    return dict(found[code])


def test_transfer_between_two_offices_and_back(hub: HubServer, tmp_path: Path) -> None:
    a, b = Desk(tmp_path, "a"), Desk(tmp_path, "b")
    for desk, office, officer in ((a, OFFICE_A, "Nguyễn Thị Hoa"), (b, OFFICE_B, "Trần Thị Lan")):
        token = add_office(hub.hub, office, f"UBND {office}")
        opened = desk.ok(
            "init",
            "--office",
            office,
            "--office-name",
            f"UBND {office}",
            "--officer",
            officer,
            "--server",
            hub.url,
            "--enroll",
            token,
        )
        assert opened["hub"] == HUB_NAME
        assert opened["origin"] == f"{HUB_NAME}/office/{office}/1/e0"
        desk.ok("catalog", "demo")
    code = a.ok(
        "receive",
        "--procedure",
        "1.004194",
        "--applicant-name",
        "Nguyễn Văn Đức",
        "--applicant-id",
        "001088012345",
    )["code"]
    assert a.ok("show", code)["sync"] == "local"
    a.ok("act", code, "transfer", "--to", OFFICE_B, "--reason", "Thuộc thẩm quyền xã B")
    pushed = a.ok("sync")
    assert pushed["ok"] and pushed["accepted"] == pushed["local_size"] == 4
    assert a.ok("show", code)["sync"] == "stored"

    got = b.ok("sync")
    assert got["ok"] and got["pulled"] == 2
    at_b = b.ok("show", code)
    assert at_b["dossier"]["status"] == "transferred"
    assert at_b["sync"] == "stored"  # known here from the hub's feed
    assert [r["station"] for r in at_b["timeline"]] == [f"{OFFICE_A}/1"] * 2
    b.bad("receipt", code, match="biên nhận do trạm đó cấp")
    b.ok("act", code, "accept", "--reason", "Đã nhận hồ sơ liên thông")
    b.ok("act", code, "resolve", "--reason", "Đã cấp giấy xác nhận")
    assert b.ok("show", code)["sync"] == "local"
    assert b.ok("sync")["pushed"] == 2
    assert b.ok("show", code)["sync"] == "stored"

    back = a.ok("sync")
    assert back["pulled"] == 2 and back["pushed"] == 0
    assert a.ok("show", code)["dossier"]["status"] == "resolved"
    a.ok("act", code, "return", "--via", "desk")
    a.ok("sync")
    assert b.ok("sync")["pulled"] == 1

    final_a = a.ok("show", code)
    final_b = b.ok("show", code)
    at_hub = hub_dossier(hub, code)
    assert final_a["dossier"] == final_b["dossier"] == at_hub["state"]
    assert at_hub["status"] == "returned"
    assert at_hub["participants"] == [OFFICE_A, OFFICE_B]
    steps = [(r["station"], r["action"]) for r in final_a["timeline"]]
    assert steps == [
        (f"{OFFICE_A}/1", "receive"),
        (f"{OFFICE_A}/1", "transfer"),
        (f"{OFFICE_B}/1", "accept"),
        (f"{OFFICE_B}/1", "resolve"),
        (f"{OFFICE_A}/1", "return"),
    ]
    assert [r["step"] for r in final_a["timeline"]] == [r["step"] for r in final_b["timeline"]]
    for desk in (a, b):
        rebuilt = desk.ok("rebuild")
        assert rebuilt["identical"], desk.data
        again = desk.ok("sync")  # nothing new: idempotent
        assert again["ok"] and again["pushed"] == 0 and again["pulled"] == 0
    assert a.ok("list")[0]["sync"] == "stored"


def test_sync_commands_contract(hub: HubServer, tmp_path: Path) -> None:
    c = Desk(tmp_path, "c")
    c.ok("init", "--office", OFFICE_A, "--office-name", "UBND xã Tân Lập", "--officer", "Lê Tư")
    c.ok("catalog", "demo")
    c.bad("sync", match="chưa đăng ký")
    c.bad("enroll", "--server", "ftp://hub", "--token", "x", match="Địa chỉ máy chủ không hợp lệ")
    c.bad("enroll", "--server", hub.url, "--token", "sai", match="mã đăng ký không đúng")
    token = add_office(hub.hub, OFFICE_A)
    enrolled = c.ok("enroll", "--server", hub.url, "--token", token)
    assert enrolled["hub"] == HUB_NAME and enrolled["origin"].startswith("local/")
    kit = c.ok("trust-kit", str(tmp_path / "kit.json"))
    assert kit["hub"] is True
    code = c.ok(
        "receive",
        "--procedure",
        "1.004194",
        "--applicant-name",
        "Phạm Văn Sơn",
        "--applicant-id",
        "001088099999",
    )["code"]
    c.ok("act", code, "transfer", "--to", "000.00.99.H99")  # an office the hub does not know
    scan = tmp_path / "giay-chung-sinh.jpg"
    scan.write_bytes(os.urandom(300 * 1024))
    sha = hashlib.sha256(scan.read_bytes()).hexdigest()
    receive = ("receive", "--procedure", "1.004194", "--applicant-name", "Lê Thị Mai")
    c.bad(*receive, "--applicant-id", "12", "--scan", str(scan), match="số giấy tờ")
    missing = str(tmp_path / "none.jpg")
    c.bad(*receive, "--applicant-id", "001088011111", "--scan", missing, match="tệp quét")
    scanned = c.ok(
        *receive,
        "--applicant-id",
        "001088011111",
        "--doc",
        "Giấy chứng sinh:1:0",
        "--scan",
        str(scan),
    )
    assert scanned["receipt"]["event"]["data"]["documents"][0]["blob"] == sha

    # the PC's clock three hours ahead: the sync works (signed with the hub's time) and warns;
    # the unknown office's transfer is quarantined: exit 1 with the report
    ahead = iso(datetime.now(VN_TZ) + timedelta(hours=3))
    out = c.run("sync", now=ahead)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["problem"] is None and report["accepted"] == report["local_size"]
    assert [(q["reason"], q["dossier"]) for q in report["quarantined"]] == [
        ("unknown-office", code)
    ]
    assert report["blobs_uploaded"] == 1 and hub.hub.blob_get(sha) == scan.read_bytes()
    assert 3 * 3600 - 60 <= report["clock_offset"] <= 3 * 3600 + 60
    assert "nhanh hơn giờ máy chủ 180 phút" in report["warnings"][0]
    rows = c.ok("quarantine")
    assert len(rows) == 1 and rows[0]["reason_vi"] == "đơn vị nhận không có trên máy chủ"

    closed = f"http://127.0.0.1:{free_port()}"
    c.bad("sync", "--server", closed, match="Không kết nối được máy chủ đồng bộ")
    c.bad(
        "init",
        *("--office", OFFICE_B, "--office-name", "B", "--officer", "X", "--server", hub.url),
        match="Cần cả --server URL và --enroll TOKEN",
    )

    fine = c.ok("sync", now=iso(datetime.now(VN_TZ)))
    assert fine["ok"] and fine["warnings"] == [] and abs(fine["clock_offset"]) <= 60
