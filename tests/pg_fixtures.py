"""pytest fixtures for a real PostgreSQL server (see pgserver.py).

Re-export them where they are needed, like the other fixture kits of this suite:

    from pg_fixtures import pg_server, pg_url  # noqa: F401  (fixtures)

`pg_server` is one server for the whole session; `pg_url` is the URL of a fresh, empty
database of that server, made for one test and dropped after it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from pgserver import PgNotInstalledError, PgServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    missing = None
    try:
        server.start()
    except PgNotInstalledError as exc:
        missing = str(exc)
    if missing is not None:  # a failure, never a skip: `make test` installs PostgreSQL
        pytest.fail(missing, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def _db_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")[:40]
    return f"t_{stem}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg_url(pg_server: PgServer, request: pytest.FixtureRequest) -> Iterator[str]:
    name = _db_name(request.node.name)
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)
