"""The adapter for the one-stop systems' integration protocol (docs/portal.md, DOMAIN section 6).

Every call ends in exactly one of three ways, and the outbox relies on the distinction:
- success (`error_code` 0): the answer's `data`;
- `PortalRefused`: the portal answered with an error code; nothing was written;
- `PortalUnavailable`: no usable answer (timeout, dropped connection, 5xx, 429, HTML, garbage,
  JSON without `error_code`); **the call may or may not have been applied**.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

import httpx
import orjson

from sync_server.settings import PortalSettings

__all__ = ["PortalClient", "PortalError", "PortalRefused", "PortalUnavailable"]

log = logging.getLogger("sync_server.portal")

SESSION_EXPIRED: Final = "10"
EXISTS: Final = "5"
NOT_FOUND: Final = "6"
MAX_ROWS: Final = 10


class PortalError(Exception):
    def __init__(self, kind: str, detail: str, code: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.code = code


class PortalRefused(PortalError):
    """The portal answered with an error code: the call changed nothing."""


class PortalUnavailable(PortalError):
    """No usable answer: the outcome of the call is unknown."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(kind, detail)
        self.retry_after = retry_after


def _ok(code: Any) -> bool:
    return code in (0, "0", "00")


class PortalClient:
    """One logged-in session to the provincial system; thread-safe."""

    def __init__(
        self,
        settings: PortalSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        on_call: Callable[[str, str], None] | None = None,
    ) -> None:
        if not settings.url:
            raise ValueError("no portal URL configured")
        self.settings = settings
        self.base = settings.url.rstrip("/")
        self.http = httpx.Client(timeout=settings.timeout, transport=transport)
        self.on_call = on_call  # (service, outcome) -> metrics
        self._session: str | None = None
        self._login_lock = threading.Lock()
        self.calls = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # -- transport --

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        data = orjson.dumps(body)
        try:
            response = self.http.post(
                self.base + path,
                content=data,
                headers={"Content-Type": "application/json; charset=utf-8", **headers},
            )
        except httpx.TimeoutException as exc:
            detail = f"no answer within {self.settings.timeout} s"
            raise PortalUnavailable("timeout", detail) from exc
        except httpx.HTTPError as exc:
            raise PortalUnavailable("connection", f"{type(exc).__name__}: {exc}") from exc
        finally:
            with self._count_lock:
                self.calls += 1
                self.bytes_sent += len(data)
        with self._count_lock:
            self.bytes_received += len(response.content)
        if response.status_code == 429:
            retry = response.headers.get("Retry-After", "")
            after = float(retry) if retry.replace(".", "", 1).isdigit() else None
            raise PortalUnavailable("rate-limited", "429 Too Many Requests", retry_after=after)
        if response.status_code != 200:
            snippet = response.text[:120].replace("\n", " ")
            raise PortalUnavailable(f"http-{response.status_code}", snippet)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            kind = "html" if response.content.lstrip()[:1] == b"<" else "not-json"
            raise PortalUnavailable(kind, f"the answer is not JSON: {exc}") from exc
        if not isinstance(answer, dict) or "error_code" not in answer:
            raise PortalUnavailable("bad-answer", "a JSON answer without error_code")
        return answer

    def login(self) -> str:
        answer = self._post(
            self.settings.auth_path,
            {"username": self.settings.username, "password": self.settings.password},
            {"dstcode": self.settings.dstcode},
        )
        session = answer.get("session")
        if not _ok(answer["error_code"]):
            raise PortalRefused("login", str(answer.get("message", "")), str(answer["error_code"]))
        if not isinstance(session, str) or not session:
            raise PortalUnavailable("bad-answer", "login succeeded without a session")
        return session

    def _session_token(self, stale: str | None = None) -> str:
        with self._login_lock:
            if self._session is None or self._session == stale:
                self._session = self.login()
            return self._session

    def call(self, service: str, agency: str, **fields: Any) -> Any:
        """One service call; returns the answer's `data`. Logs in (again) when needed."""
        outcome = "ok"
        try:
            session = self._session_token()
            answer = self._post(
                self.settings.service_path,
                {"session": session, "madonvi": agency, "service": service, **fields},
                {},
            )
            if str(answer["error_code"]) == SESSION_EXPIRED:
                session = self._session_token(stale=session)
                answer = self._post(
                    self.settings.service_path,
                    {"session": session, "madonvi": agency, "service": service, **fields},
                    {},
                )
            if not _ok(answer["error_code"]):
                raise PortalRefused(
                    "refused", str(answer.get("message", "")), str(answer["error_code"])
                )
            return answer.get("data")
        except PortalRefused:
            outcome = "refused"
            raise
        except PortalUnavailable as exc:
            outcome = exc.kind
            raise
        finally:
            if self.on_call is not None:
                self.on_call(service, outcome)

    # -- services --

    def sync_dossiers(
        self, agency: str, records: Sequence[dict[str, Any]], *, update: bool
    ) -> None:
        self.call(
            "DongBoHoSoMC",
            agency,
            isUpdating="True" if update else "False",
            data=list(records),
        )

    def put_dossier(self, agency: str, record: dict[str, Any], *, exists: bool) -> None:
        """Create or update one dossier; a create the portal says exists is sent as an update."""
        if exists:
            self.sync_dossiers(agency, [record], update=True)
            return
        try:
            self.sync_dossiers(agency, [record], update=False)
        except PortalRefused as exc:
            if exc.code != EXISTS and "đã tồn tại" not in exc.detail:
                raise
            self.sync_dossiers(agency, [record], update=True)

    def add_progress(self, agency: str, rows: Sequence[dict[str, Any]]) -> None:
        if not 1 <= len(rows) <= MAX_ROWS:
            raise ValueError(f"1 to {MAX_ROWS} progress rows per call")
        self.call("CapNhatTienDoHoSoMC", agency, data=list(rows))

    def lookup(self, agency: str, code: str) -> dict[str, Any] | None:
        """The portal's record of `code` with its rows (`TienDoXuLy`), or None if it has none."""
        try:
            data = self.call("TraCuuHoSo", agency, mahoso=code)
        except PortalRefused as exc:
            if exc.code == NOT_FOUND:
                return None
            raise
        if not isinstance(data, dict):
            raise PortalUnavailable("bad-answer", "TraCuuHoSo answered without a record")
        return data

    def catalogue(self) -> list[dict[str, Any]]:
        data = self.call("LayDanhSachTTHC", self.settings.agency)
        if not isinstance(data, list):
            raise PortalUnavailable("bad-answer", "LayDanhSachTTHC answered without a list")
        return data

    def summary(self, agency: str, level: str, first_day: str, last_day: str) -> list[Any]:
        """`DoiSoatHoSo`: per-month or per-day counts and digests, or the codes of a range."""
        data = self.call("DoiSoatHoSo", agency, capdo=level, tungay=first_day, denngay=last_day)
        if not isinstance(data, list):
            raise PortalUnavailable("bad-answer", "DoiSoatHoSo answered without a list")
        return data
