"""Helpers for the hub-audit, evidence and receipt-command tests: the real console scripts
(`commune`, `sync-server`, `commune-audit`) as subprocesses, and an office whose station was
made, enrolled and synced with the `commune` command line against a real hub on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubkit import HUB_NAME, HubServer, add_office, running_hub

BIN = Path(sys.executable).parent
OFFICE = "000.00.17.H56"
PASS = "mật khẩu Hoa"
NOW = "2026-11-23T09:00:00+07:00"


def run(
    prog: str, *args: str, env: dict[str, str] | None = None, stdin: str | bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMMUNE_", "SYNC_SERVER_")) and k not in ("HTTP_PROXY", "http_proxy")
    }
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        [str(BIN / prog), *args],
        capture_output=True,
        env={**base, **(env or {})},
        timeout=120,
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
    )


def ok_json(out: subprocess.CompletedProcess[bytes], code: int = 0) -> Any:
    assert out.returncode == code, (out.returncode, out.stdout.decode(), out.stderr.decode())
    return json.loads(out.stdout)


def one_line_error(out: subprocess.CompletedProcess[bytes], prog: str = "commune-audit") -> str:
    """The contract for bad input: exit 2, nothing on stdout, one line on stderr."""
    err = out.stderr.decode()
    assert out.returncode == 2, (out.returncode, out.stdout.decode(), err)
    assert out.stdout == b"", out.stdout.decode()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: "), err
    assert "Traceback" not in err
    return lines[0]


def sync_server(db: str, *args: str) -> Any:
    return ok_json(run("sync-server", "--json", "--db", db, "--name", HUB_NAME, *args))


@dataclass
class Desk:
    """A station's data directory driven by the `commune` command line."""

    data: Path

    def env(self, now: str = NOW) -> dict[str, str]:
        return {"COMMUNE_DATA_DIR": str(self.data), "COMMUNE_PASSPHRASE": PASS, "COMMUNE_NOW": now}

    def run(self, *args: str, now: str = NOW) -> subprocess.CompletedProcess[bytes]:
        return run("commune", "--json", *args, env=self.env(now))

    def ok(self, *args: str, now: str = NOW, code: int = 0) -> Any:
        return ok_json(self.run(*args, now=now), code)

    def receive(self, name: str, applicant_id: str, now: str = NOW) -> str:
        out = self.ok(
            "receive",
            "--procedure",
            "1.001193",
            "--applicant-name",
            name,
            "--applicant-id",
            applicant_id,
            now=now,
        )
        return str(out["code"])

    def sync(self, code: int = 0) -> Any:
        return self.ok("sync", code=code)


@dataclass
class Office:
    server: HubServer
    db: str
    desk: Desk
    token: str  # an auditor's
    kit: Path
    codes: list[str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def sid(self) -> str:
        return f"{OFFICE}-1"


def make_office(server: HubServer, db: str, root: Path, *, syncs: int = 2) -> Office:
    """Station 1 of OFFICE, enrolled at init (`--server --enroll`), with a few dossiers synced
    in `syncs` runs (so the hub holds several checkpoints); an auditor's token; the hub's kit."""
    desk = Desk(root / "station")
    desk.ok(
        "init",
        "--office",
        OFFICE,
        "--office-name",
        "UBND xã Tân Lập",
        "--officer",
        "Nguyễn Thị Hoa",
        "--server",
        server.url,
        "--enroll",
        add_office(server.hub, OFFICE, "UBND xã Tân Lập"),
    )
    desk.ok("catalog", "demo")
    codes = []
    for run_no in range(syncs):
        for i in range(2):
            codes.append(desk.receive(f"Người nộp {run_no}-{i}", f"00108801{run_no}{i:03d}"))
        assert desk.sync()["problem"] is None
    token = sync_server(db, "auditor", "token", "thanh-tra")["token"]
    kit = root / "hub-kit.json"
    sync_server(db, "trust-kit", str(kit))
    return Office(server, db, desk, str(token), kit, codes)


@contextmanager
def hub_for(db: str) -> Iterator[HubServer]:
    with running_hub(db) as server:
        yield server
