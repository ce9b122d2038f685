"""A lost or stolen station PC, end to end with the real commands and a real hub on loopback:
revocation by position (`sync-server station replace`), the replacement's new epoch opening
with a `continuity` event, receipts of the lost PC re-attested (`commune reattest`), and the
auditor's view of all of it (docs/audit.md "Lost or stolen station")."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hubaudit_kit import OFFICE, Desk, hub_for, make_office, ok_json, run, sync_server

from sync_server.storage import open_storage

NEXT_DAY = "2026-11-24T08:30:00+07:00"


def audit(*args: str, code: int) -> Any:
    return ok_json(run("commune-audit", "--json", *args), code)


def write(path: Path, value: Any) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return path


def test_a_lost_pc_is_replaced_and_its_receipts_reattested(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    with hub_for(db) as server:
        office = make_office(server, db, tmp_path, syncs=1)
        old = office.desk
        synced_receipt = old.ok("receipt", office.codes[0])
        # The PC takes one more dossier, then is stolen before it syncs.
        lost = old.receive("Trần Văn Mất", "001088099999")
        lost_receipt = old.ok("receipt", lost)
        lost_qr = old.ok("receipt", lost, "--text")["qr"]
        held = old.ok("show", lost)
        assert held["sync"] == "local"

        answer = sync_server(db, "station", "replace", office.sid, "--reason", "Máy bị lấy cắp")
        assert answer["epoch"] == 1 and answer["new_station"] == f"{OFFICE}-1e1"
        hub_size = answer["through"]
        assert hub_size >= 3  # station-open, officer-enrol, the two synced dossiers
        # Asked again before the replacement enrols (a token lost): a new token, same point.
        again = sync_server(db, "station", "replace", office.sid, "--reason", "Mất mã đăng ký")
        assert again["through"] == hub_size and again["token"] != answer["token"]
        answer = again

        # The stolen PC can no longer write to the hub.
        stolen = old.run("sync")
        assert stolen.returncode == 2 and "thu hồi" in stolen.stderr.decode()

        # Before the replacement exists, the lost receipt is refused for its revocation.
        kit = tmp_path / "kit.json"
        sync_server(db, "trust-kit", str(kit))
        refused = audit("receipt", str(write(tmp_path / "lost.json", lost_receipt)),
                        "--trust", str(kit), code=1)  # fmt: skip
        assert refused["reason"] == "revocation"
        said = run("commune-audit", "receipt", str(tmp_path / "lost.json"), "--trust", str(kit))
        assert said.returncode == 1 and "commune reattest" in said.stdout.decode()
        audit("receipt", str(write(tmp_path / "synced.json", synced_receipt)),
              "--trust", str(kit), code=0)  # fmt: skip

        # The replacement PC: the same station, epoch 1.
        new = Desk(tmp_path / "replacement")
        opened = new.ok(
            "init", "--office", OFFICE, "--office-name", "UBND xã Tân Lập",
            "--officer", "Lê Văn Mới", "--server", server.url, "--enroll", answer["token"],
            "--epoch", "1",
        )  # fmt: skip
        assert opened["epoch"] == 1 and opened["origin"].endswith(f"/office/{OFFICE}/1/e1")
        late = run("sync-server", "--json", "--db", db, "station", "replace", office.sid,
                   "--reason", "x")  # fmt: skip
        assert late.returncode == 2 and b"already" in late.stderr
        new.ok("catalog", "demo")

        # Re-attestation: the lost receipt (from its QR text) is taken in again, once.
        redone = new.ok("reattest", str(write(tmp_path / "lost.qr", lost_qr)))
        assert redone["code"] == lost
        assert redone["reattested"]["index"] == lost_receipt["event"]["seq"]
        assert new.ok("show", lost)["dossier"]["status"] == held["dossier"]["status"]
        twice = new.run("reattest", str(tmp_path / "lost.qr"))
        assert twice.returncode == 2 and b"Traceback" not in twice.stderr
        # A receipt the hub holds needs none; garbage is refused with one line.
        still = new.run("reattest", str(tmp_path / "synced.json"))
        assert still.returncode == 2 and "còn hiệu lực" in still.stderr.decode()
        garbage = new.run("reattest", str(write(tmp_path / "junk.txt", "not a receipt")))
        assert garbage.returncode == 2 and len(garbage.stderr.decode().splitlines()) == 1

        # The first day's new codes come from the upper half of the station's block, so they
        # cannot meet a code the lost PC issued that day.
        fresh = new.receive("Phạm Thị Mới", "001088077777")
        assert int(fresh.rsplit("-", 1)[1]) > 500
        later = new.receive("Phạm Thị Sau", "001088077778", now=NEXT_DAY)
        assert later.endswith("-0001")

        report = new.sync()
        assert report["problem"] is None and report["quarantined"] == []
        assert new.ok("show", lost)["sync"] == "stored"
        # The dossiers the lost PC had synced came back through the feed, verified: the new
        # desk carries on with them.
        assert report["pulled"] >= len(office.codes)
        for code in office.codes:
            assert new.ok("show", code)["dossier"]["code"] == code
        new.ok("act", office.codes[0], "resolve", "--reason", "Đã giải quyết trên máy mới")
        assert new.sync()["quarantined"] == []

        # The auditor: the new receipt verifies; the new epoch's ledger shows its link to the
        # old one and the re-attested entry with their own status, and no error.
        sync_server(db, "trust-kit", str(kit))
        audit("receipt", str(write(tmp_path / "redone.json", redone["receipt"])),
              "--trust", str(kit), code=0)  # fmt: skip
        export = tmp_path / "new-ledger.jsonl"
        new.ok("export-ledger", str(export))
        verdict = audit("ledger", str(export), "--trust", str(kit), code=0)
        by_code = {f["code"]: f for f in verdict["findings"]}
        assert by_code["continuity"]["severity"] == "info" and by_code["continuity"]["index"] == 1
        assert by_code["continuity"]["detail"]["size"] == hub_size
        assert by_code["reattested"]["severity"] == "info"
        assert by_code["reattested"]["index"] == redone["receipt"]["event"]["seq"]
        assert not [f for f in verdict["findings"] if f["severity"] == "error"]

        # The hub's records of both epochs check out (the old log ends at its revocation).
        hub_view = audit("hub", server.url, "--office", OFFICE, "--trust", str(kit),
                         "--token", office.token, code=0)  # fmt: skip
        assert hub_view

        # The old PC's own ledger (recovered): its entries past the revocation point are shown
        # as signed by a revoked key, each at its index.
        old_export = tmp_path / "old-ledger.jsonl"
        old.ok("export-ledger", str(old_export))
        recovered = audit("ledger", str(old_export), "--trust", str(kit), code=1)
        revoked = [f["index"] for f in recovered["findings"] if f["code"] == "revoked-key"]
        assert revoked and min(revoked) == hub_size

        # Tampering with the re-attested dossier is caught at its entry.
        lines = export.read_bytes().splitlines()
        at = 1 + redone["receipt"]["event"]["seq"]
        entry = orjson.loads(lines[at])
        entry["data"]["reattests"]["event"]["data"]["applicant"]["name"] = "Người Khác"
        lines[at] = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
        tampered = tmp_path / "tampered.jsonl"
        tampered.write_bytes(b"\n".join(lines) + b"\n")
        found = audit("ledger", str(tampered), "--trust", str(kit), code=1)
        assert any(f["code"] == "reattest" and f["index"] == at - 1 for f in found["findings"])


def test_the_hub_refuses_a_continuity_that_names_another_checkpoint(tmp_path: Path) -> None:
    from commune_client.cli import http_client
    from commune_client.station import Station
    from commune_client.sync import enroll_new, enrolment_meta

    db = f"sqlite:///{tmp_path}/hub.db"
    with hub_for(db) as server:
        office = make_office(server, db, tmp_path, syncs=1)
        answer = sync_server(db, "station", "replace", office.sid, "--reason", "Máy hỏng")
        with http_client() as client:
            enrolment = enroll_new(
                server.url, answer["token"], office=OFFICE, station=1,
                office_name="UBND xã Tân Lập", client=client, epoch=1,
            )  # fmt: skip
        assert enrolment.previous is not None
        previous = dict(enrolment.previous)
        # the station-signed note without the hub's cosignature line: not what the hub cosigned
        previous["checkpoint"] = previous["checkpoint"].rsplit("\n— ", 1)[0] + "\n"
        desk = Desk(tmp_path / "forged")
        st = Station.create(
            desk.data, office=OFFICE, office_name="UBND xã Tân Lập", officer_name="X",
            passphrase="mật khẩu Hoa", now=datetime.fromisoformat("2026-11-23T10:00:00+07:00"),
            hub=enrolment.hub.name, station_key=enrolment.station_key,
            station_cert=enrolment.station_cert, meta=enrolment_meta(enrolment), epoch=1,
            previous=previous,
        )  # fmt: skip
        st.close()
        report = desk.ok("sync", code=1)
        assert [q["reason"] for q in report["quarantined"]] == ["continuity"]


@pytest.mark.parametrize("step", ["fresh", "old"])
def test_sqlite_hub_made_before_epochs_is_migrated(tmp_path: Path, step: str) -> None:
    """A hub database whose `stations.ref` was UNIQUE (before epochs) loses that constraint
    and keeps its rows."""
    path = tmp_path / "hub.db"
    storage = open_storage(f"sqlite:///{path}")
    storage.setup()
    if step == "old":
        with storage.transaction() as tx:
            (ddl,) = tx.conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = 'stations'"
            ).fetchone()
            tx.conn.execute("DROP TABLE stations")
            tx.conn.execute(ddl.replace("ref TEXT NOT NULL,", "ref TEXT NOT NULL UNIQUE,"))
            tx.conn.execute(
                "INSERT INTO stations (sid, ref, office, number, origin, key_id, public_key, "
                "cert, size, root, enrolled_at) VALUES ('o-1', 'o/1', 'o', 1, 'h/office/o/1/e0', "
                "'k', 'p', '{}', 0, 'r', 't')"
            )
    storage.close()
    again = open_storage(f"sqlite:///{path}")
    again.setup()
    with again.transaction() as tx:
        (ddl,) = tx.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'stations'").fetchone()
        assert "UNIQUE" not in ddl.split("origin")[0]
        rows = tx.conn.execute("SELECT sid FROM stations").fetchall()
    assert rows == ([("o-1",)] if step == "old" else [])
    again.close()
