"""Smoke test through a real terminal: `commune tui` in tmux, a complete intake typed with
send-keys, and the dossier code read back from the screen with capture-pane."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from commune_client.catalog import demo_catalog
from commune_client.procedures import save_catalog
from commune_client.station import Station

PASS = "tmux-pass-1"
NOW = "2026-11-23T09:00:00+07:00"
EXE = str(Path(sys.executable).with_name("commune"))
CODE = re.compile(r"000\.00\.17\.H56-261123-\d{4}")


def _tmux(*args: str) -> str:
    out = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if shutil.which("tmux") is None:
        raise RuntimeError(
            "tmux is needed by the test suite: `apt-get install tmux` (make test does)"
        )
    data = tmp_path / "station"
    station = Station.create(
        data,
        office="000.00.17.H56",
        office_name="UBND xã Tân Lập",
        officer_name="Nguyễn Thị Hoa",
        passphrase=PASS,
        now=__import__("datetime").datetime.fromisoformat(NOW),
    )
    save_catalog(station.store, demo_catalog())
    station.close()
    name = f"commune-{uuid.uuid4().hex[:8]}"
    command = (
        f"env COMMUNE_NOW={NOW} COMMUNE_DATA_DIR={data} TERM=xterm-256color {EXE} tui --lang vi"
    )
    _tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "32", command)
    try:
        yield name, data
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def _screen(name: str) -> str:
    return _tmux("capture-pane", "-p", "-t", name)


def _wait_for(name: str, pattern: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(name)
        if re.search(pattern, screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} did not appear; screen was:\n{screen}")


def _keys(name: str, *keys: str) -> None:
    for key in keys:
        _tmux("send-keys", "-t", name, key)
        time.sleep(0.15)


def test_intake_typed_in_a_real_terminal(session: tuple[str, Path]) -> None:
    name, data = session
    _wait_for(name, "Đăng nhập")
    _tmux("send-keys", "-t", name, "-l", PASS)
    _keys(name, "Enter")
    _wait_for(name, "Hôm nay|Tiếp nhận")
    _keys(name, "F2")
    _wait_for(name, "Họ tên")
    _tmux("send-keys", "-t", name, "-l", "khai sinh")
    _wait_for(name, "1.001193")
    _keys(name, "Enter")
    _wait_for(name, "Hẹn trả")
    _keys(name, "Tab")  # choosing moved focus to the documents checklist; next: applicant name
    _tmux("send-keys", "-t", name, "-l", "Nguyễn Văn Đức")
    _keys(name, "Tab", "Tab")  # name -> ID kind (kept: CCCD) -> ID number
    _tmux("send-keys", "-t", name, "-l", "001088012345")
    _keys(name, "F6")
    screen = _wait_for(name, CODE.pattern)
    code = CODE.search(screen)
    assert code is not None
    station = Station.open(data)
    state = station.dossier(code.group(0))
    assert state is not None and state["applicant"]["name"] == "Nguyễn Văn Đức"
    station.close()
