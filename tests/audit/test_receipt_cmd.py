"""`commune-audit receipt FILE|- --trust KIT` (docs/audit.md) over real receipts: a station
made, enrolled and synced with the `commune` command line (the receipt carries the hub's
cosignature), and a stand-alone station with its own kit. Everything runs after the hub has
stopped: the check needs no network.

Exit 0: genuine. Exit 1: not genuine, with the reason and every check. Exit 2: not a receipt,
or the kit cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hubaudit_kit import OFFICE, Desk, hub_for, make_office, ok_json, one_line_error, run

from ledger.receipt import CHECKS, decode_qr_payload, qr_payload


@dataclass
class Receipts:
    json_file: Path
    qr_file: Path
    kit: Path
    receipt: dict[str, Any]
    qr: str
    alone: Path  # a stand-alone station's receipt
    alone_kit: Path


@pytest.fixture(scope="module")
def receipts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receipts]:
    root = tmp_path_factory.mktemp("receipts")
    db = f"sqlite:///{root / 'hub' / 'hub.db'}"
    with hub_for(db) as server:
        office = make_office(server, db, root, syncs=1)
    # the hub is stopped: from here on nothing reaches it
    code = office.codes[0]
    receipt = office.desk.ok("receipt", code)
    qr = office.desk.ok("receipt", code, "--text")["qr"]
    json_file, qr_file = root / "receipt.json", root / "receipt.txt"
    json_file.write_text(json.dumps(receipt, ensure_ascii=False))
    qr_file.write_text(qr + "\n")
    alone = Desk(root / "alone")
    alone.ok("init", "--office", OFFICE, "--office-name", "UBND xã Tân Lập", "--officer", "Hoa")
    alone.ok("catalog", "demo")
    alone_code = alone.receive("Người nộp", "001088123456")
    alone_file = root / "alone.json"
    alone_file.write_text(json.dumps(alone.ok("receipt", alone_code)))
    alone.ok("trust-kit", str(root / "alone-kit.json"))
    yield Receipts(json_file, qr_file, office.kit, receipt, qr, alone_file, root / "alone-kit.json")


def _audit(file: str | Path, kit: Path, *extra: str, stdin: str | None = None) -> Any:
    return run("commune-audit", *extra, "receipt", str(file), "--trust", str(kit), stdin=stdin)


def test_a_genuine_receipt_json_and_qr(receipts: Receipts) -> None:
    out = _audit(receipts.json_file, receipts.kit)
    text = out.stdout.decode()
    assert out.returncode == 0, (text, out.stderr.decode())
    assert text.startswith("BIÊN NHẬN HỢP LỆ / GENUINE RECEIPT")
    assert sum(line.startswith("[ok] ") for line in text.splitlines()) == 1 + len(CHECKS)
    assert "cosigned by the hub at" in text
    verdict = ok_json(_audit(receipts.json_file, receipts.kit, "--json"))
    assert verdict["genuine"] is True and verdict["reason"] is None
    assert [c["name"] for c in verdict["checks"]] == ["schema", *CHECKS]
    assert verdict["code"] == receipts.receipt["event"]["dossier"]
    assert verdict["cosigned_at"] is not None  # synced: the hub's cosignature is checked
    qr = ok_json(_audit(receipts.qr_file, receipts.kit, "--json"))
    assert qr["genuine"] is True and qr["code"] == verdict["code"]
    piped = _audit("-", receipts.kit, stdin=receipts.qr)
    assert piped.returncode == 0, piped.stdout.decode()
    assert (
        ok_json(
            run(
                "commune-audit",
                "receipt",
                "-",
                "--json",
                "--trust",
                str(receipts.kit),
                stdin=receipts.json_file.read_text(),
            )
        )["genuine"]
        is True
    )
    alone = ok_json(_audit(receipts.alone, receipts.alone_kit, "--json"))
    assert alone["genuine"] is True
    hub_check = alone["checks"][-1]
    assert (hub_check["name"], hub_check["ok"]) == ("hub-cosignature", None)


def test_a_tampered_receipt_is_not_genuine(receipts: Receipts, tmp_path: Path) -> None:
    forged = json.loads(json.dumps(receipts.receipt))
    forged["event"]["data"]["applicant"]["name"] = "Người khác"
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged, ensure_ascii=False))
    out = _audit(path, receipts.kit)
    text = out.stdout.decode()
    assert out.returncode == 1, text
    assert text.startswith("BIÊN NHẬN KHÔNG HỢP LỆ / NOT GENUINE: event-signature")
    marks = [line[:4] for line in text.splitlines() if line[:1] == "["]
    assert len(marks) == 1 + len(CHECKS) and "[!!]" in marks  # every check is shown
    verdict = ok_json(_audit(path, receipts.kit, "--json"), code=1)
    assert verdict["genuine"] is False and verdict["reason"] == "event-signature"

    # the QR text, changed and re-encoded
    body = decode_qr_payload(receipts.qr)
    body["event"]["seq"] += 1
    qr = tmp_path / "forged.txt"
    qr.write_text(qr_payload(body))
    verdict = ok_json(_audit(qr, receipts.kit, "--json"), code=1)
    assert verdict["genuine"] is False and verdict["reason"] == "event-signature"

    # the right receipt against another station's kit: not one the kit vouches for
    verdict = ok_json(_audit(receipts.json_file, receipts.alone_kit, "--json"), code=1)
    assert verdict["reason"] == "station-cert"


def test_bad_input_is_exit_2(receipts: Receipts, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    for content, words in [
        (b"hello", "not a receipt"),
        (b"CLR1.AAAA", "corrupt receipt QR"),
        (b"[1, 2]", "a receipt is a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (b"x" * 300_000, "too large"),
    ]:
        junk.write_bytes(content)
        assert words in one_line_error(_audit(junk, receipts.kit))
    assert "not a receipt" in one_line_error(_audit("-", receipts.kit, stdin=""))
    assert "cannot read" in one_line_error(_audit(tmp_path / "missing.json", receipts.kit))
    assert "cannot read the trust kit" in one_line_error(
        _audit(receipts.json_file, tmp_path / "missing-kit.json")
    )
    junk.write_text("{")
    assert "not JSON" in one_line_error(_audit(receipts.json_file, junk))
    junk.write_text('{"type": "commune.trust-kit/v1"}')
    assert "malformed trust kit" in one_line_error(_audit(receipts.json_file, junk))
    kit = json.loads(receipts.kit.read_text())
    kit["revocations"] = []
    kit["stations"] = []
    junk.write_text(json.dumps(kit))
    assert "signature does not verify" in one_line_error(_audit(receipts.json_file, junk))
    # usage: the kit is required
    out = run("commune-audit", "receipt", str(receipts.json_file))
    assert out.returncode == 2 and "--trust" in out.stderr.decode()
