"""Dashboard accounts, sessions and web security helpers (docs/dashboard.md, "Decisions"), on
both storage backends; the `sync-server user` commands keep the CLI contract (one JSON document
with --json, exit 2 and one line on stderr for bad input, nothing changed)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from starlette.requests import Request
from starlette.responses import Response

from sync_server.cli import cli
from sync_server.dashboard import accounts, security
from sync_server.dashboard.accounts import AccountError
from sync_server.storage import Storage, open_storage

BIN = Path(sys.executable).parent / "sync-server"
PASSWORD = "mật khẩu rất dài 2027"
NOW = 1_800_000_000


@pytest.fixture
def storage(hub_db: str) -> Iterator[Storage]:
    store = open_storage(hub_db)
    try:
        yield store
    finally:
        store.close()


def _rows(storage: Storage, sql: str) -> list[tuple[object, ...]]:
    with storage.transaction() as tx:
        return [tuple(row) for row in tx.all(sql)]


# -- accounts --
def test_add_then_login(storage: Storage) -> None:
    with storage.transaction() as tx:
        added = accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator", now=NOW)
    assert added == accounts.User("lan.nguyen", "aggregator", added.created_at, False)
    assert added.created_at.startswith("2027-01-15T")
    with storage.transaction() as tx:
        user = accounts.check_login(tx, "lan.nguyen", PASSWORD)
        assert user == added
        assert accounts.get_user(tx, "lan.nguyen") == added
        assert accounts.list_users(tx) == [added]


def test_wrong_password_unknown_user_and_disabled_user_are_refused(storage: Storage) -> None:
    with storage.transaction() as tx:
        accounts.add_user(tx, "kiemtra", PASSWORD, "auditor")
    with storage.transaction() as tx:
        assert accounts.check_login(tx, "kiemtra", PASSWORD + "x") is None
        assert accounts.check_login(tx, "kiemtra", "") is None
        assert accounts.check_login(tx, "nobody", PASSWORD) is None
        assert accounts.check_login(tx, "Not A Name!", PASSWORD) is None
        assert accounts.check_login(tx, "kiemtra", "x" * 5000) is None
        assert accounts.disable_user(tx, "kiemtra") == 0
        assert accounts.check_login(tx, "kiemtra", PASSWORD) is None
        assert accounts.list_users(tx)[0].disabled
        accounts.enable_user(tx, "kiemtra")
        assert accounts.check_login(tx, "kiemtra", PASSWORD) is not None


def test_password_is_compared_after_nfc_normalisation(storage: Storage) -> None:
    import unicodedata

    with storage.transaction() as tx:
        accounts.add_user(tx, "hoa.tran", PASSWORD, "auditor")
        decomposed = unicodedata.normalize("NFD", PASSWORD)
        assert decomposed != PASSWORD
        assert accounts.check_login(tx, "hoa.tran", decomposed) is not None


def test_duplicate_user_is_refused_and_keeps_the_first(storage: Storage) -> None:
    with storage.transaction() as tx:
        accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator")
    with pytest.raises(AccountError) as caught, storage.transaction() as tx:
        accounts.add_user(tx, "lan.nguyen", "another password!", "auditor")
    assert "already exists" in caught.value.message_en and "đã tồn tại" in caught.value.message_vi
    with storage.transaction() as tx:
        assert accounts.check_login(tx, "lan.nguyen", PASSWORD) is not None
        assert [u.role for u in accounts.list_users(tx)] == ["aggregator"]


@pytest.mark.parametrize(
    ("username", "password", "role", "word"),
    [
        ("ab", PASSWORD, "auditor", "user name"),
        ("a" * 41, PASSWORD, "auditor", "user name"),
        ("Lan", PASSWORD, "auditor", "user name"),
        ("lan nguyen", PASSWORD, "auditor", "user name"),
        ("lan/../x", PASSWORD, "auditor", "user name"),
        ("lan.nguyen", "short pw!", "auditor", "at least 10"),
        ("lan.nguyen", "x" * 1025, "auditor", "at most"),
        ("lan.nguyen", PASSWORD, "admin", "role"),
        ("lan.nguyen", PASSWORD, "", "role"),
    ],
)
def test_bad_input_is_rejected_and_nothing_is_stored(
    storage: Storage, username: str, password: str, role: str, word: str
) -> None:
    with pytest.raises(AccountError) as caught, storage.transaction() as tx:
        accounts.add_user(tx, username, password, role)
    assert word in caught.value.message_en
    assert caught.value.message_vi and caught.value.message_vi != caught.value.message_en
    assert _rows(storage, "SELECT username FROM users") == []


def test_hashes_are_argon2id_and_never_the_password(storage: Storage) -> None:
    with storage.transaction() as tx:
        accounts.add_user(tx, "a.one", PASSWORD, "aggregator")
        accounts.add_user(tx, "b.two", PASSWORD, "auditor")
    hashes = [str(h) for (h,) in _rows(storage, "SELECT password_hash FROM users")]
    assert len(hashes) == 2 and hashes[0] != hashes[1]  # salted
    for stored in hashes:
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored


def test_old_parameters_are_rehashed_at_login(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with monkeypatch.context() as patch:
        patch.setattr(accounts, "HASHER", weak)
        with storage.transaction() as tx:
            accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator")
    [(before,)] = _rows(storage, "SELECT password_hash FROM users")
    assert "m=8192,t=1,p=1" in str(before)
    with storage.transaction() as tx:
        assert accounts.check_login(tx, "lan.nguyen", PASSWORD) is not None
    [(after,)] = _rows(storage, "SELECT password_hash FROM users")
    assert after != before and not accounts.HASHER.check_needs_rehash(str(after))
    with storage.transaction() as tx:
        assert accounts.check_login(tx, "lan.nguyen", PASSWORD) is not None


def test_set_password_replaces_it_and_closes_sessions(storage: Storage) -> None:
    with storage.transaction() as tx:
        accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator")
        token, _ = accounts.open_session(tx, "lan.nguyen", NOW)
        assert accounts.set_password(tx, "lan.nguyen", "một mật khẩu mới") == 1
        assert accounts.session(tx, token, NOW) is None
        assert accounts.check_login(tx, "lan.nguyen", PASSWORD) is None
        assert accounts.check_login(tx, "lan.nguyen", "một mật khẩu mới") is not None
    for change in (
        lambda tx: accounts.set_password(tx, "lan.nguyen", "short"),
        lambda tx: accounts.set_password(tx, "nobody", PASSWORD),
        lambda tx: accounts.disable_user(tx, "nobody"),
    ):
        with pytest.raises(AccountError), storage.transaction() as tx:
            change(tx)


# -- sessions --
def test_session_open_lookup_expiry_and_close(storage: Storage) -> None:
    with storage.transaction() as tx:
        accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator")
        token, csrf = accounts.open_session(tx, "lan.nguyen", NOW)
        other, other_csrf = accounts.open_session(tx, "lan.nguyen", NOW, ttl=60)
    assert len(token) >= 43 and token != other and csrf != other_csrf and len(csrf) >= 32
    # Only the token's SHA-256 is stored.
    stored = _rows(storage, "SELECT token_hash, csrf FROM sessions ORDER BY expires_unix")
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert sorted(str(h) for h, _ in stored) == sorted(
        [digest, hashlib.sha256(other.encode()).hexdigest()]
    )
    assert all(token not in str(cell) for row in stored for cell in row)

    with storage.transaction() as tx:
        found = accounts.session(tx, token, NOW + 10)
        assert found == accounts.Session(
            "lan.nguyen", "aggregator", csrf, NOW, NOW + accounts.SESSION_TTL
        )
        assert accounts.session(tx, token, NOW + accounts.SESSION_TTL - 1) is not None
        assert accounts.session(tx, token, NOW + accounts.SESSION_TTL) is None  # expired
        assert accounts.session(tx, other, NOW + 59) is not None
        assert accounts.session(tx, other, NOW + 60) is None
        assert accounts.session(tx, "", NOW) is None
        assert accounts.session(tx, "not-a-token", NOW) is None
        assert accounts.session(tx, digest, NOW) is None  # the stored hash is not a token
        assert accounts.session(tx, "x" * 10_000, NOW) is None

        accounts.close_session(tx, token)
        accounts.close_session(tx, token)  # twice: no error
        assert accounts.session(tx, token, NOW + 10) is None
        assert accounts.session(tx, other, NOW + 10) is not None
        assert accounts.purge_sessions(tx, NOW + 60) == 1
    assert _rows(storage, "SELECT username FROM sessions") == []


def test_disabled_user_loses_sessions_and_cannot_open_one(storage: Storage) -> None:
    with storage.transaction() as tx:
        accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator")
        token, _ = accounts.open_session(tx, "lan.nguyen", NOW)
        # A disabled flag set behind the library's back still hides the session.
        tx._q("UPDATE users SET disabled = 1 WHERE username = ?", ("lan.nguyen",))
        assert accounts.session(tx, token, NOW) is None
        tx._q("UPDATE users SET disabled = 0 WHERE username = ?", ("lan.nguyen",))
        assert accounts.session(tx, token, NOW) is not None
        assert accounts.disable_user(tx, "lan.nguyen") == 1
        assert accounts.session(tx, token, NOW) is None
        with pytest.raises(AccountError):
            accounts.open_session(tx, "lan.nguyen", NOW)
        with pytest.raises(AccountError):
            accounts.open_session(tx, "nobody", NOW)


def test_open_session_purges_expired_ones(storage: Storage) -> None:
    with storage.transaction() as tx:
        accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator")
        accounts.open_session(tx, "lan.nguyen", NOW, ttl=5)
        accounts.open_session(tx, "lan.nguyen", NOW + 100)
    assert len(_rows(storage, "SELECT username FROM sessions")) == 1


def test_login_hashes_outside_the_transaction(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    with monkeypatch.context() as patch:
        patch.setattr(accounts, "HASHER", weak)
        with storage.transaction() as tx:
            accounts.add_user(tx, "lan.nguyen", PASSWORD, "aggregator")
            accounts.add_user(tx, "kiem.tra", PASSWORD, "auditor")
            accounts.disable_user(tx, "kiem.tra")
    assert accounts.login(storage, "lan.nguyen", PASSWORD + "x", NOW) is None
    assert accounts.login(storage, "nobody", PASSWORD, NOW) is None
    assert accounts.login(storage, "kiem.tra", PASSWORD, NOW) is None
    opened = accounts.login(storage, "lan.nguyen", PASSWORD, NOW)
    assert opened is not None
    user, token, csrf = opened
    assert user.username == "lan.nguyen"
    with storage.transaction() as tx:
        found = accounts.session(tx, token, NOW + 1)
        assert found is not None and found.csrf == csrf
    hashes = dict(_rows(storage, "SELECT username, password_hash FROM users"))
    assert not accounts.HASHER.check_needs_rehash(str(hashes["lan.nguyen"]))  # rehashed
    assert "m=8192" in str(hashes["kiem.tra"])  # a refused login changes nothing


# -- web helpers (no database) --
def test_csrf_ok() -> None:
    live = accounts.Session("lan.nguyen", "aggregator", "c" * 43, NOW, NOW + 1)
    assert security.csrf_ok(live, "c" * 43)
    assert security.csrf_ok("c" * 43, "c" * 43)
    assert not security.csrf_ok(live, "c" * 42 + "d")
    assert not security.csrf_ok(live, "")
    assert not security.csrf_ok(live, None)
    assert not security.csrf_ok(None, "c" * 43)
    assert not security.csrf_ok("", "")
    assert not security.csrf_ok(live, "ç" * 43)  # non-ASCII: refused, not an exception


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_blocks_after_the_limit_and_recovers_after_the_window() -> None:
    clock = FakeClock()
    limiter = security.RateLimiter(5, 300, clock=clock)
    for _ in range(5):
        assert limiter.hit("lan.nguyen") == (True, 0)
        clock.now += 10
    allowed, wait = limiter.hit("lan.nguyen")
    assert not allowed and wait == 300 - 50  # the first hit leaves the window at 1300
    assert limiter.hit("other") == (True, 0)  # keys are independent
    clock.now = 1000 + 299.5
    assert limiter.hit("lan.nguyen") == (False, 1)
    clock.now = 1000 + 300
    assert limiter.hit("lan.nguyen") == (True, 0)  # one slot freed
    assert limiter.hit("lan.nguyen")[0] is False
    clock.now += 300
    for _ in range(5):
        assert limiter.hit("lan.nguyen")[0]


def test_rate_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = security.RateLimiter(3, 60, clock=clock, max_keys=100)
    for i in range(1000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100
    clock.now += 61
    limiter.hit("fresh")
    assert len(limiter) == 1  # expired keys are dropped as they age
    with pytest.raises(ValueError):
        security.RateLimiter(0, 60)


def test_default_limits() -> None:
    assert (security.login_ip_limiter().limit, security.login_ip_limiter().per) == (10, 300)
    assert (security.login_user_limiter().limit, security.login_user_limiter().per) == (5, 300)
    assert (security.check_limiter().limit, security.check_limiter().per) == (30, 60)


def _request(scheme: str = "http", headers: dict[str, str] | None = None) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": scheme,
            "path": "/dashboard/",
            "query_string": b"",
            "server": ("hub.test", 443 if scheme == "https" else 80),
            "client": ("192.0.2.7", 51000),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        }
    )


def test_client_ip_trusts_forwarded_for_only_with_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spoofed = _request(headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.4"})
    monkeypatch.delenv(security.TRUST_PROXY_ENV, raising=False)
    assert security.client_ip(spoofed) == "192.0.2.7"
    monkeypatch.setenv(security.TRUST_PROXY_ENV, "0")
    assert security.client_ip(spoofed) == "192.0.2.7"
    monkeypatch.setenv(security.TRUST_PROXY_ENV, "1")
    assert security.client_ip(spoofed) == "198.51.100.4"  # the hop our proxy appended
    assert security.client_ip(_request(headers={"X-Forwarded-For": "junk"})) == "192.0.2.7"
    assert security.client_ip(_request()) == "192.0.2.7"


def _cookie(response: Response) -> str:
    [header] = [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]
    return header


def test_session_cookie_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(security.TRUST_PROXY_ENV, raising=False)
    plain = Response()
    security.set_session_cookie(_request("http"), plain, "tok")
    header = _cookie(plain)
    assert header.startswith("hub_session=tok;")
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header
    assert "Secure" not in header and f"Max-Age={accounts.SESSION_TTL}" in header

    secure = Response()
    security.set_session_cookie(_request("https"), secure, "tok")
    assert "Secure" in _cookie(secure)

    forwarded = _request("http", {"X-Forwarded-Proto": "https"})
    assert not security.is_https(forwarded)
    monkeypatch.setenv(security.TRUST_PROXY_ENV, "1")
    assert security.is_https(forwarded)

    cleared = Response()
    security.clear_session_cookie(cleared)
    header = _cookie(cleared)
    assert header.startswith('hub_session="";') and "Max-Age=0" in header and "Path=/" in header


# -- the command line --
def sync_server(
    db: str, *args: str, password: str | None = PASSWORD, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SYNC_SERVER_USER_PASSWORD"}
    if password is not None:
        env["SYNC_SERVER_USER_PASSWORD"] = password
    return subprocess.run(
        [str(BIN), "--db", db, "--name", "hub.test", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        input=stdin if stdin is not None else "",
    )


def _one_line_exit_2(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("sync-server: ")
    assert "Traceback" not in out.stderr


def test_cli_user_add_list_disable_passwd(hub_db: str) -> None:
    added = sync_server(hub_db, "--json", "user", "add", "lan.nguyen", "--role", "aggregator")
    assert added.returncode == 0, added.stderr
    document = json.loads(added.stdout)
    assert document["username"] == "lan.nguyen" and document["role"] == "aggregator"
    assert document["disabled"] is False
    auditor = sync_server(hub_db, "user", "add", "kiem.tra", "--role", "auditor")
    assert auditor.returncode == 0 and "kiem.tra" in auditor.stdout

    listed = sync_server(hub_db, "--json", "user", "list")
    assert listed.returncode == 0
    assert [(u["username"], u["role"], u["disabled"]) for u in json.loads(listed.stdout)] == [
        ("kiem.tra", "auditor", False),
        ("lan.nguyen", "aggregator", False),
    ]

    disabled = sync_server(hub_db, "--json", "user", "disable", "kiem.tra")
    assert disabled.returncode == 0, disabled.stderr
    assert json.loads(disabled.stdout) == {
        "username": "kiem.tra",
        "disabled": True,
        "sessions_closed": 0,
    }
    new = "một mật khẩu khác hẳn"
    changed = sync_server(hub_db, "--json", "user", "passwd", "lan.nguyen", password=new)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout) == {"username": "lan.nguyen", "sessions_closed": 0}

    human = sync_server(hub_db, "user", "list")
    assert "kiem.tra  auditor" in human.stdout and "(disabled)" in human.stdout
    storage = open_storage(hub_db)
    try:
        with storage.transaction() as tx:
            assert accounts.check_login(tx, "kiem.tra", PASSWORD) is None
            assert accounts.check_login(tx, "lan.nguyen", PASSWORD) is None
            assert accounts.check_login(tx, "lan.nguyen", new) is not None
    finally:
        storage.close()


def test_cli_bad_input_exits_2_with_one_line_and_changes_nothing(hub_db: str) -> None:
    ok = sync_server(hub_db, "user", "add", "lan.nguyen", "--role", "aggregator")
    assert ok.returncode == 0, ok.stderr
    for out in (
        sync_server(hub_db, "--json", "user", "add", "lan.nguyen", "--role", "auditor"),
        sync_server(hub_db, "--json", "user", "add", "Bad Name", "--role", "auditor"),
        sync_server(hub_db, "--json", "user", "add", "tran.b", "--role", "admin"),
        sync_server(hub_db, "--json", "user", "add", "tran.b", "--role", "auditor", password="x"),
        sync_server(hub_db, "--json", "user", "add", "tran.b"),  # --role missing
        sync_server(hub_db, "--json", "user", "add", "tran.b", "--role", "auditor", password=None),
        sync_server(
            hub_db,
            "user",
            "add",
            "tran.b",
            "--role",
            "auditor",
            password=None,
            stdin="a long one\n",
        ),
        sync_server(
            hub_db,
            *("user", "add", "tran.b", "--role", "auditor"),
            password=None,
            stdin="first password\nsecond password\n",
        ),
        sync_server(hub_db, "--json", "user", "disable", "nobody"),
        sync_server(hub_db, "--json", "user", "passwd", "nobody"),
        sync_server(hub_db, "--json", "user", "passwd", "lan.nguyen", password="short"),
    ):
        _one_line_exit_2(out)
    listed = sync_server(hub_db, "--json", "user", "list")
    assert [u["username"] for u in json.loads(listed.stdout)] == ["lan.nguyen"]
    storage = open_storage(hub_db)
    try:
        with storage.transaction() as tx:
            assert accounts.check_login(tx, "lan.nguyen", PASSWORD) is not None
    finally:
        storage.close()


def test_cli_reads_the_password_twice_from_a_pipe(hub_db: str) -> None:
    typed = "mật khẩu qua ống 123"
    out = sync_server(
        hub_db,
        *("--json", "user", "add", "lan", "--role", "auditor"),
        password=None,
        stdin=f"{typed}\r\n{typed}\n",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["username"] == "lan" and typed not in out.stderr
    storage = open_storage(hub_db)
    try:
        with storage.transaction() as tx:
            assert accounts.check_login(tx, "lan", typed) is not None
    finally:
        storage.close()


def test_cli_prompts_twice_without_echo_at_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sync_server.cli

    monkeypatch.delenv("SYNC_SERVER_USER_PASSWORD", raising=False)
    monkeypatch.setattr(sync_server.cli, "_stdin_is_tty", lambda: True)
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    typed = "mật khẩu gõ tay 123"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["--db", db, "--name", "hub.test", "--json", "user", "add", "lan", "--role", "auditor"],
        input=f"{typed}\nsomething else\n{typed}\n{typed}\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["username"] == "lan"  # prompts went to stderr
    assert typed not in result.output  # hidden input
    assert "do not match" in result.stderr
    storage = open_storage(db)
    try:
        with storage.transaction() as tx:
            assert accounts.check_login(tx, "lan", typed) is not None
    finally:
        storage.close()
