from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubkit import running_hub
from pg_fixtures import pg_server, pg_url  # noqa: F401  (fixtures)
from stationkit import session, station  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every hub test runs on both storage backends (DESIGN section 6)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub' / 'hub.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def live_hub(hub_db: str) -> Iterator[object]:
    with running_hub(hub_db) as server:
        yield server
