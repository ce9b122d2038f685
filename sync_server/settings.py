"""Hub settings from the environment (`SYNC_SERVER_*`), overridden by command-line options."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["HubSettings"]


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNC_SERVER_", extra="ignore")

    db: str | None = None
    """`sqlite:///PATH` or `postgresql://...`; unset: SQLite in `data_dir`."""
    data_dir: Path = Path(platformdirs.user_data_dir("commune-hub"))
    name: str = "hub.local"
    """The hub's name: it appears in station origins and cosignatures."""
