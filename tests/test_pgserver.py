from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pgserver
import psycopg
import pytest
from pg_fixtures import pg_server, pg_url  # noqa: F401  (fixtures)
from pgserver import PgNotInstalledError, PgServer


def test_server_answers_version(pg_url: str) -> None:  # noqa: F811
    parts = urlsplit(pg_url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port not in (None, 5432)
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SELECT version()").fetchone()
        database = conn.execute("SELECT current_database()").fetchone()
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes',"
                " 'max_connections', 'server_encoding')"
            ).fetchall()
        )
    assert version is not None and version[0].startswith("PostgreSQL ")
    assert database == (parts.path.lstrip("/"),)
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "server_encoding": "UTF8",
    }


def test_vietnamese_text_round_trips(pg_url: str) -> None:  # noqa: F811
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT %s::text, upper(%s)", ["Nguyễn Văn Đức", "đức"]).fetchone()
    assert row == ("Nguyễn Văn Đức", "ĐỨC")


def test_fresh_databases_are_independent(pg_server: PgServer, pg_url: str) -> None:  # noqa: F811
    other = pg_server.create_database("independent_other")
    try:
        with psycopg.connect(pg_url) as conn:
            conn.execute("CREATE TABLE dossier (id int PRIMARY KEY)")
            conn.execute("INSERT INTO dossier VALUES (1)")
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT to_regclass('dossier')").fetchone() == (None,)
            conn.execute("CREATE TABLE dossier (id int PRIMARY KEY)")  # no clash
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT count(*) FROM dossier").fetchone() == (1,)
    finally:
        pg_server.drop_database("independent_other")
    with psycopg.connect(pg_server.url()) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = 'independent_other'"
        ).fetchone()
    assert left == (0,)


def test_drop_database_ends_open_sessions(pg_server: PgServer) -> None:  # noqa: F811
    url = pg_server.create_database("dropped_while_open")
    conn = psycopg.connect(url)
    try:
        pg_server.drop_database("dropped_while_open")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_data_dir_is_temporary_and_removed_after_stop() -> None:
    t0 = time.monotonic()
    server = PgServer().start()
    started_in = time.monotonic() - t0
    try:
        tmpdir, data_dir, port = server.tmpdir, server.data_dir, server.port
        assert tmpdir is not None and port is not None
        roots = {Path("/tmp").resolve(), Path(tempfile.gettempdir()).resolve()}
        assert tmpdir.resolve().parent in roots
        assert (data_dir / "PG_VERSION").is_file()
        assert server.socket_dir.is_dir()
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert not tmpdir.exists()
    assert not server.running
    assert not _port_open(port)
    server.stop()  # idempotent
    assert started_in < 30, f"starting PostgreSQL took {started_in:.1f}s"


def test_missing_postgresql_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgserver, "find_pg_bin", lambda: None)
    with pytest.raises(PgNotInstalledError, match=r"run `make test`.*postgresql"):
        PgServer().start()


def test_find_pg_bin_finds_the_server_binaries() -> None:
    bindir = pgserver.find_pg_bin()
    assert bindir is not None
    for name in ("initdb", "pg_ctl", "postgres"):
        assert (bindir / name).is_file()
