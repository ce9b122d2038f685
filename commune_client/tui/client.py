"""The TUI's handle on the station: the same service functions the CLI calls, made safe to call
from worker threads (one SQLite connection, one lock), so the UI thread never touches disk."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from commune_client import clock
from commune_client.station import Session, Station

__all__ = ["DeskClient"]

T = TypeVar("T")


class DeskClient:
    """Holds the open station and the signed-in officer's session."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.station: Station | None = None
        self.session: Session | None = None
        self._lock = threading.RLock()

    def now(self) -> datetime:
        return clock.now()

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "station.db").exists()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a service function under the lock (from a worker thread)."""
        with self._lock:
            return fn(*args, **kwargs)

    def open(self) -> Station:
        with self._lock:
            if self.station is None:
                self.station = Station.open(self.data_dir)
            return self.station

    def create(self, **kwargs: Any) -> Station:
        with self._lock:
            self.station = Station.create(self.data_dir, now=self.now(), **kwargs)
            return self.station

    def sign_in(self, who: str | None, passphrase: str) -> Session:
        with self._lock:
            self.session = self.open().sign_in(who, passphrase)
            return self.session

    def sign_out(self) -> None:
        with self._lock:
            self.session = None

    def require_session(self) -> Session:
        if self.session is None:
            raise RuntimeError("no officer signed in")
        return self.session

    def close(self) -> None:
        with self._lock:
            if self.station is not None:
                self.station.close()
                self.station = None
            self.session = None
