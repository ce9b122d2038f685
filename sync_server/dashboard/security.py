"""Web security helpers for the dashboard's server-rendered pages (docs/dashboard.md).

Framework-light: functions taking a Starlette `Request`/`Response`. The session cookie, the
CSRF comparison, the client's address, and an in-memory rate limiter.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from sync_server.dashboard.accounts import SESSION_TTL, Session

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = [
    "CHECK_PER_IP",
    "COOKIE",
    "LOGIN_PER_IP",
    "LOGIN_PER_USER",
    "TRUST_PROXY_ENV",
    "RateLimiter",
    "check_limiter",
    "clear_session_cookie",
    "client_ip",
    "csrf_ok",
    "is_https",
    "login_ip_limiter",
    "login_user_limiter",
    "set_session_cookie",
]

COOKIE = "hub_session"
TRUST_PROXY_ENV = "SYNC_SERVER_TRUST_PROXY"

# (limit, per seconds)
LOGIN_PER_IP = (10, 300)
LOGIN_PER_USER = (5, 300)
CHECK_PER_IP = (30, 60)


# -- the client --
def _trust_proxy() -> bool:
    return os.environ.get(TRUST_PROXY_ENV, "").strip() == "1"


def client_ip(request: Request) -> str:
    """The client's address: the socket's peer, or with `SYNC_SERVER_TRUST_PROXY=1` the last
    address in `X-Forwarded-For` (the one our own reverse proxy appended; earlier entries are
    whatever the client chose to send). Never trusted without the flag: anyone could send it."""
    if _trust_proxy():
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            try:
                return str(ipaddress.ip_address(hops[-1]))
            except ValueError:
                pass  # not an address: fall back to the socket's peer
    if request.client is not None and request.client.host:
        return request.client.host
    return "unknown"


def is_https(request: Request) -> bool:
    """Whether the browser talks HTTPS to us (behind a trusted proxy: `X-Forwarded-Proto`)."""
    if request.url.scheme == "https":
        return True
    if _trust_proxy():
        proto = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        return proto == "https"
    return False


# -- the session cookie --
def set_session_cookie(
    request: Request, response: Response, token: str, *, max_age: int = SESSION_TTL
) -> None:
    """`hub_session`: HttpOnly, SameSite=Lax, Path=/, Secure when the request came over HTTPS
    (a plain-HTTP hub on a commune LAN still works)."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


# -- CSRF --
def csrf_ok(session: Session | str | None, submitted: str | None) -> bool:
    """Whether a form's token equals the session's (a `Session` or its csrf string), compared
    in constant time. No session, or no or an empty token, is never ok."""
    expected = session.csrf if isinstance(session, Session) else session
    if not expected or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))


# -- rate limits --
class RateLimiter:
    """At most `limit` hits per `per_seconds` for each key (a sliding window over the hit times).

    In memory and **per process**: several hub processes (workers, or hubs behind a load
    balancer) each count on their own, so the effective limit is multiplied by the number of
    processes. That is acceptable for its purpose (slowing down password guessing and scraping
    of the public check) and is documented in docs/dashboard.md.

    Refused hits are not counted, so a client is let in again once its oldest counted hit
    leaves the window. Memory stays bounded: keys whose hits have all left the window are
    dropped as they age, and beyond `max_keys` live keys the least recently hit are dropped
    (they lose their count). Thread safe.
    """

    def __init__(
        self,
        limit: int,
        per_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1 or per_seconds <= 0 or max_keys < 1:
            raise ValueError("limit, per_seconds and max_keys must be positive")
        self.limit = limit
        self.per = float(per_seconds)
        self.clock = clock
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()  # oldest last hit first
        self._lock = threading.Lock()

    def hit(self, key: str) -> tuple[bool, int]:
        """Count one attempt for `key`: `(True, 0)` when allowed, else `(False, seconds to
        wait)` (at least 1, for a `Retry-After` header)."""
        now = self.clock()
        horizon = now - self.per
        with self._lock:
            self._evict(horizon)
            hits = self._hits.get(key)
            if hits is not None:
                while hits and hits[0] <= horizon:
                    hits.popleft()
                if len(hits) >= self.limit:
                    return False, max(1, math.ceil(hits[0] + self.per - now))
            else:
                hits = deque(maxlen=self.limit)
                self._hits[key] = hits
            hits.append(now)
            self._hits.move_to_end(key)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        return True, 0

    def reset(self, key: str) -> None:
        """Forget a key's hits (e.g. after an administrator's intervention)."""
        with self._lock:
            self._hits.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._hits)

    def _evict(self, horizon: float) -> None:
        # Keys are ordered by their last counted hit: drop from the front while fully expired.
        while self._hits:
            key, hits = next(iter(self._hits.items()))
            if hits and hits[-1] > horizon:
                break
            del self._hits[key]


def login_ip_limiter(clock: Callable[[], float] = time.monotonic) -> RateLimiter:
    """Login attempts: 10 per 5 minutes per client address."""
    return RateLimiter(*LOGIN_PER_IP, clock=clock)


def login_user_limiter(clock: Callable[[], float] = time.monotonic) -> RateLimiter:
    """Login attempts: 5 per 5 minutes per user name."""
    return RateLimiter(*LOGIN_PER_USER, clock=clock)


def check_limiter(clock: Callable[[], float] = time.monotonic) -> RateLimiter:
    """The public receipt check: 30 per minute per client address."""
    return RateLimiter(*CHECK_PER_IP, clock=clock)
