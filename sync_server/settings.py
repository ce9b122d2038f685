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


class PortalSettings(BaseSettings):
    """The provincial portal (`SYNC_SERVER_PORTAL_*`; docs/portal.md). No `url`: no forwarding."""

    model_config = SettingsConfigDict(env_prefix="SYNC_SERVER_PORTAL_", extra="ignore")

    url: str | None = None
    """Base URL of the provincial system, e.g. `https://dichvucong.phutho.gov.vn`."""
    auth_path: str = "/api/auth"
    service_path: str = "/api/service"
    dstcode: str = "dstcode-demo"
    username: str = "hub"
    password: str = "hub-secret"
    agency: str = "H56"
    """Agency code for province-wide calls (the catalogue)."""
    timeout: float = 10.0
    """Seconds for one call; a slower answer counts as lost (the outcome is then looked up)."""
    public_url: str = "http://127.0.0.1:8470"
    """The hub's URL as the portal reaches it: scans are linked from `DuongDanTaiTepTin`."""
    file_link_days: int = 7
    """How long a scan link given to the portal stays valid."""
    batch: int = 50
    """Dossiers per outbox pass (and per `DongBoHoSoMC` create call)."""
    workers: int = 4
    """Concurrent portal calls."""
    backoff_initial: float = 5.0
    backoff_max: float = 3600.0
    breaker_failures: int = 5
    """Consecutive transport failures that open the circuit breaker."""
    breaker_cooldown: float = 30.0
    """First pause of an open breaker (doubles, up to `backoff_max`)."""
    reconcile_every: float = 6 * 3600.0
    """Seconds between periodic reconciliations while `serve` runs (0: never)."""
