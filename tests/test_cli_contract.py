"""DESIGN section 8: the three console scripts exist, answer --help/--version, and a usage
error is exit 2 with exactly one line on stderr and nothing on stdout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
COMMANDS = ["commune", "sync-server", "commune-audit"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(args[0], path=str(BIN)) or args[0]
    return subprocess.run(
        [exe, *args[1:]], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_version_and_help(command: str) -> None:
    out = _run(command, "--version")
    assert out.returncode == 0
    assert "0.1.0" in out.stdout
    out = _run(command, "--help")
    assert out.returncode == 0
    assert "--json" in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", [["--no-such-flag"], ["no-such-command"]])
def test_usage_error_is_exit_2_with_one_line(command: str, bad: list[str]) -> None:
    out = _run(command, *bad)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"{command}: ")
    assert "Traceback" not in out.stderr
