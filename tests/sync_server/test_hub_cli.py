"""`sync-server` commands (DESIGN section 8): one JSON document with --json, exit 2 and one line
on stderr for bad input, nothing changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ledger.encoding import unb64url
from ledger.records import verify_record
from sync_server.hub import Hub
from sync_server.storage import open_storage

BIN = Path(sys.executable).parent / "sync-server"


def run(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "--db", db, "--name", "hub.test", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_office_add_list_trust_kit_publish_and_revoke(hub_db: str, tmp_path: Path) -> None:
    added = run(hub_db, "--json", "office", "add", "000.00.17.H56", "--name", "UBND xã Tân Lập")
    assert added.returncode == 0, added.stderr
    token = json.loads(added.stdout)["token"]
    assert len(token) >= 32

    listed = run(hub_db, "--json", "office", "list")
    assert [o["code"] for o in json.loads(listed.stdout)] == ["000.00.17.H56"]

    kit_file = tmp_path / "kit.json"
    kit = run(hub_db, "--json", "trust-kit", str(kit_file))
    assert kit.returncode == 0 and json.loads(kit.stdout)["stations"] == 0
    document = json.loads(kit_file.read_text())
    verify_record(document, unb64url(document["issuer"]["public_key"], 32))

    calendar = tmp_path / "calendar.json"
    calendar.write_text(json.dumps({"version": "2027", "holidays": ["2027-01-01"]}))
    sent = run(hub_db, "--json", "publish", "calendar", str(calendar))
    assert sent.returncode == 0 and json.loads(sent.stdout) == {"kind": "calendar", "offices": 1}
    storage = open_storage(hub_db)
    try:
        with storage.transaction() as tx:
            assert tx.feed_end("000.00.17.H56") == 1
        hub = Hub(storage, name="hub.test")
        assert hub.issuer.key_id == document["issuer"]["key_id"]  # one key set per database
    finally:
        storage.close()


def test_bad_input_exits_2_with_one_line_and_changes_nothing(hub_db: str, tmp_path: Path) -> None:
    bad = run(hub_db, "office", "add", "not an office!", "--name", "X")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    missing = run(hub_db, "station", "revoke", "H99.99-1", "--reason", "mất máy")
    assert missing.returncode == 2 and "unknown-station" in missing.stderr
    not_json = tmp_path / "x.json"
    not_json.write_text("{nope")
    pub = run(hub_db, "publish", "catalog", str(not_json))
    assert pub.returncode == 2 and "not JSON" in pub.stderr
    listed = run(hub_db, "--json", "office", "list")
    assert json.loads(listed.stdout) == []
    wrong_db = subprocess.run(
        [str(BIN), "--db", "mysql://nowhere", "office", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong_db.returncode == 2 and "unsupported database URL" in wrong_db.stderr
