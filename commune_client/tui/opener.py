"""Handing a printed PDF to the operating system without waiting: the desktop's viewer where
there is one, else (for receipts) the printer. Never blocks the UI, never raises."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["hand_to_system"]


def hand_to_system(path: Path, *, print_without_viewer: bool = True) -> str:
    """Open or print `path`: "opened", "printed", or "" when nothing here can (no desktop and
    no `lp`, or printing not wanted) or the attempt failed."""
    try:
        if sys.platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined,unused-ignore]  # Windows-only API
            return "opened"
        if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            opener = shutil.which("xdg-open")
            if opener:
                _detach([opener, str(path)])
                return "opened"
        if sys.platform == "darwin" and (opener := shutil.which("open")):
            _detach([opener, str(path)])
            return "opened"
        lp = shutil.which("lp") if print_without_viewer else None
        if lp:
            _detach([lp, str(path)])
            return "printed"
    except OSError:
        return ""
    return ""


def _detach(argv: list[str]) -> None:
    subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
