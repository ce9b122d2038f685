"""Dashboard accounts and sessions over the hub database (docs/dashboard.md, "Decisions").

Plain functions over a storage transaction (`sync_server.storage.Tx`), no web framework: the
command line creates accounts (`sync-server user ...`), the dashboard checks logins and opens
sessions, and every hub process sharing the database sees the same sessions.

- Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher` defaults) after Unicode NFC
  normalisation (a Vietnamese password typed with another input method still matches), and are
  re-hashed at the next login when the parameters change. An unknown or disabled user costs the
  same work as a wrong password (a verification against a dummy hash).
- A session is a random token given to the browser; the database keeps only its SHA-256, so a
  copy of the database does not hold live sessions. Each session has its own CSRF token.
- Changing a password or disabling a user closes that user's sessions.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ledger.errors import LedgerError
from schemas.reports import VN_TZ

if TYPE_CHECKING:
    from sync_server.storage import Storage, Tx

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "ROLES",
    "SESSION_TTL",
    "AccountError",
    "Session",
    "User",
    "add_user",
    "check_login",
    "close_session",
    "disable_user",
    "enable_user",
    "get_user",
    "list_users",
    "login",
    "open_session",
    "purge_sessions",
    "session",
    "set_password",
    "validate_password",
    "validate_role",
    "validate_username",
]

ROLES = ("aggregator", "auditor")
SESSION_TTL = 8 * 3600
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a bound keeps a login post from being a burden
USERNAME = re.compile(r"[a-z0-9._-]{3,40}")
MAX_TOKEN = 128  # token_urlsafe(32) is 43 characters; anything much longer is not ours

HASHER = PasswordHasher()  # argon2id, RFC 9106 "low memory" profile


class AccountError(LedgerError):
    """A refused account operation, with the sentence in Vietnamese and in English."""

    title = "Tài khoản / Account"

    def __init__(self, message_vi: str, message_en: str) -> None:
        super().__init__(message_vi)
        self.message_vi = message_vi
        self.message_en = message_en

    def __str__(self) -> str:
        return f"{self.message_vi} / {self.message_en}"


@dataclass(frozen=True)
class User:
    username: str
    role: str
    created_at: str
    disabled: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role,
            "created_at": self.created_at,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class Session:
    username: str
    role: str
    csrf: str
    created_unix: int
    expires_unix: int


# -- validation --
def validate_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise AccountError(
            "Tên đăng nhập phải gồm 3–40 ký tự a-z, 0-9, dấu chấm, gạch dưới hoặc gạch ngang",
            "user name must be 3-40 characters among a-z, 0-9, '.', '_' and '-'",
        )
    return username


def validate_password(password: str) -> str:
    """The password as hashed (NFC), or AccountError when too short or too long."""
    if not isinstance(password, str):
        raise AccountError("Mật khẩu không hợp lệ", "invalid password")
    text = unicodedata.normalize("NFC", password)
    if len(text) < MIN_PASSWORD:
        raise AccountError(
            f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự",
            f"the password must have at least {MIN_PASSWORD} characters",
        )
    if len(text) > MAX_PASSWORD:
        raise AccountError(
            f"Mật khẩu không được dài quá {MAX_PASSWORD} ký tự",
            f"the password must have at most {MAX_PASSWORD} characters",
        )
    return text


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(
            f"Vai trò không hợp lệ (chọn: {', '.join(ROLES)})",
            f"unknown role (one of: {', '.join(ROLES)})",
        )
    return role


def _unknown(username: str) -> AccountError:
    return AccountError(f"Không có tài khoản {username}", f"no account named {username}")


# -- accounts --
def _user(row: Any) -> User:
    return User(
        username=str(row[0]), role=str(row[1]), created_at=str(row[2]), disabled=bool(row[3])
    )


def get_user(tx: Tx, username: str) -> User | None:
    row = tx.one(
        "SELECT username, role, created_at, disabled FROM users WHERE username = ?", (username,)
    )
    return None if row is None else _user(row)


def list_users(tx: Tx) -> list[User]:
    rows = tx.all("SELECT username, role, created_at, disabled FROM users ORDER BY username")
    return [_user(row) for row in rows]


def add_user(tx: Tx, username: str, password: str, role: str, *, now: int | None = None) -> User:
    """Create an account (AccountError for a bad name, password or role, or an existing name;
    nothing is stored then). `now` (unix seconds) dates it; default: the wall clock."""
    validate_username(username)
    validate_role(role)
    text = validate_password(password)
    if get_user(tx, username) is not None:
        raise AccountError(
            f"Tài khoản {username} đã tồn tại", f"an account named {username} already exists"
        )
    at = datetime.fromtimestamp(int(time.time() if now is None else now), VN_TZ).isoformat()
    cur = tx._q(
        "INSERT INTO users (username, role, password_hash, created_at, disabled) "
        "VALUES (?, ?, ?, ?, 0) ON CONFLICT (username) DO NOTHING",
        (username, role, HASHER.hash(text), at),
    )
    if cur.rowcount == 0:  # another process created it in between
        raise AccountError(
            f"Tài khoản {username} đã tồn tại", f"an account named {username} already exists"
        )
    return User(username=username, role=role, created_at=at, disabled=False)


def set_password(tx: Tx, username: str, password: str) -> int:
    """Replace a password; closes the user's sessions and returns how many were open."""
    text = validate_password(password)
    cur = tx._q(
        "UPDATE users SET password_hash = ? WHERE username = ?", (HASHER.hash(text), username)
    )
    if cur.rowcount == 0:
        raise _unknown(username)
    return _close_all(tx, username)


def disable_user(tx: Tx, username: str) -> int:
    """Refuse the user's logins from now on (idempotent); closes the user's sessions and
    returns how many were open. The account stays, for the record."""
    cur = tx._q("UPDATE users SET disabled = 1 WHERE username = ?", (username,))
    if cur.rowcount == 0:
        raise _unknown(username)
    return _close_all(tx, username)


def enable_user(tx: Tx, username: str) -> None:
    """Undo `disable_user` (idempotent)."""
    cur = tx._q("UPDATE users SET disabled = 0 WHERE username = ?", (username,))
    if cur.rowcount == 0:
        raise _unknown(username)


def _close_all(tx: Tx, username: str) -> int:
    cur = tx._q("DELETE FROM sessions WHERE username = ?", (username,))
    return max(int(cur.rowcount), 0)


@functools.cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(24))


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _login_row(tx: Tx, username: str) -> Any:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        return None
    return tx.one(
        "SELECT username, role, created_at, disabled, password_hash FROM users WHERE username = ?",
        (username,),
    )


def _check(row: Any, password: str) -> tuple[User | None, str | None]:
    """The argon2 part of a login, no database: `(user, new hash or None)`; always exactly
    one verification (against a dummy hash for an unknown user)."""
    text = unicodedata.normalize("NFC", password) if isinstance(password, str) else ""
    if row is None or len(text) > MAX_PASSWORD:
        _verify(_dummy_hash(), text[:MAX_PASSWORD])
        return None, None
    stored = str(row[4])
    if not _verify(stored, text):
        return None, None
    user = _user(row)
    if user.disabled:
        return None, None
    return user, HASHER.hash(text) if HASHER.check_needs_rehash(stored) else None


def check_login(tx: Tx, username: str, password: str) -> User | None:
    """The user when the password is right and the account enabled, else None.

    Always one argon2 verification, so an unknown name, a disabled account and a wrong password
    take about the same time. A stored hash made with older parameters is replaced.

    The verification (about 0.1 s) runs inside `tx`: on SQLite that holds the database's write
    lock meanwhile. `login` does the same work outside any transaction."""
    user, rehashed = _check(_login_row(tx, username), password)
    if user is not None and rehashed is not None:
        tx._q("UPDATE users SET password_hash = ? WHERE username = ?", (rehashed, user.username))
    return user


def login(
    storage: Storage, username: str, password: str, now: int, ttl: int = SESSION_TTL
) -> tuple[User, str, str] | None:
    """`check_login` + `open_session` with the argon2 work between two short transactions (no
    database lock held while hashing): `(user, token, csrf)`, or None. A password changed or an
    account disabled in between refuses the login."""
    row = storage.run(lambda tx: _login_row(tx, username))
    user, rehashed = _check(row, password)
    if user is None:
        return None
    stored = str(row[4])

    def finish(tx: Tx) -> tuple[User, str, str] | None:
        again = _login_row(tx, user.username)
        if again is None or str(again[4]) != stored or bool(again[3]):
            return None
        if rehashed is not None:
            tx._q(
                "UPDATE users SET password_hash = ? WHERE username = ?",
                (rehashed, user.username),
            )
        token, csrf = open_session(tx, user.username, now, ttl)
        return user, token, csrf

    return storage.run(finish)


# -- sessions --
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(tx: Tx, username: str, now: int, ttl: int = SESSION_TTL) -> tuple[str, str]:
    """A new session for an enabled user: `(token, csrf)`. The token goes to the browser (only
    its SHA-256 is stored); the CSRF token goes into the session's forms. Expired sessions are
    purged on the way."""
    user = get_user(tx, username)
    if user is None:
        raise _unknown(username)
    if user.disabled:
        raise AccountError(
            f"Tài khoản {username} đã bị khoá", f"the account {username} is disabled"
        )
    purge_sessions(tx, now)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    tx._q(
        "INSERT INTO sessions (token_hash, username, csrf, created_unix, expires_unix) "
        "VALUES (?, ?, ?, ?, ?)",
        (_token_hash(token), username, csrf, int(now), int(now) + int(ttl)),
    )
    return token, csrf


def session(tx: Tx, token: str, now: int) -> Session | None:
    """The live session for a browser's token, or None (unknown, expired, user disabled)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        return None
    row = tx.one(
        "SELECT s.username, u.role, s.csrf, s.created_unix, s.expires_unix "
        "FROM sessions s JOIN users u ON u.username = s.username "
        "WHERE s.token_hash = ? AND s.expires_unix > ? AND u.disabled = 0",
        (_token_hash(token), int(now)),
    )
    if row is None:
        return None
    return Session(
        username=str(row[0]),
        role=str(row[1]),
        csrf=str(row[2]),
        created_unix=int(row[3]),
        expires_unix=int(row[4]),
    )


def close_session(tx: Tx, token: str) -> None:
    """Log out: forget the session (nothing happens for an unknown token)."""
    if isinstance(token, str) and token and len(token) <= MAX_TOKEN:
        tx._q("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))


def purge_sessions(tx: Tx, now: int) -> int:
    """Delete expired sessions; returns how many."""
    cur = tx._q("DELETE FROM sessions WHERE expires_unix <= ?", (int(now),))
    return max(int(cur.rowcount), 0)
