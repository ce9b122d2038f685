"""The station's sync agent (DESIGN section 5, docs/sync.md "Station side"). Headless: the CLI
(`commune enroll`, `commune sync`, `commune init --server --enroll`) and the TUI's sync screen
call the same functions.

- `enroll` certifies an existing station's key with the hub (the log and its origin stay as
  they are); `enroll_new` enrols a fresh key before `Station.create` writes `station-open`.
- `sync` runs one round: push the log from the hub's size in adaptive chunks, upload the scans
  the hub lacks, then pull the office feed, verifying every item before applying it.

Every request is signed with the station key (`ledger.httpsig`) over the exact bytes sent. The
signature's `created` time is the hub's clock (learnt from the public `GET /v1/hub`, advanced
with a monotonic clock), so a PC whose clock is wrong still syncs; the difference is recorded
and shown to the officer. Network failures are retried with exponential backoff and jitter
(`tenacity`), a bounded number of times; the hub is idempotent, so a resent chunk whose answer
was lost gets the same answer and nothing is lost or doubled.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx
import orjson
import zstandard
from pydantic import ValidationError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from commune_client import clock
from commune_client.clock import iso
from commune_client.errors import BadInput, CommuneError
from commune_client.projection import apply_foreign
from commune_client.station import Session, Station
from commune_client.store import SqliteNodeStore, Store
from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import (
    Checkpoint,
    cosignatures,
    cosigner_verifier,
    ed25519_verifier,
    open_checkpoint,
    sign_checkpoint,
)
from ledger.encoding import EncodingError, b64, b64url, key_id, unb64url
from ledger.errors import LedgerError
from ledger.httpsig import sign_request
from ledger.keys import SigningKey
from ledger.log import station_origin
from ledger.merkle import MerkleTree, ProofError, leaf_hash, verify_inclusion
from ledger.note import Verifier
from ledger.records import verify_record
from ledger.tlogproof import parse_proof
from schemas.batch import BATCH_TYPE
from schemas.canonical import CanonicalError, canonical
from schemas.event import DOSSIER_ACTIONS, CalendarUpdateData, parse_event
from schemas.types import to_record

__all__ = [
    "CHUNK_FIRST",
    "CHUNK_MAX_BYTES",
    "CHUNK_MAX_ENTRIES",
    "SYNC_STATES",
    "SYNC_STATE_VI",
    "FeedItemRefused",
    "HubInfo",
    "HubRefused",
    "HubUnreachable",
    "RetryPolicy",
    "SyncAgent",
    "SyncError",
    "SyncProgress",
    "SyncReport",
    "add_blob",
    "enroll",
    "enroll_new",
    "enrolment_meta",
    "hub_info",
    "quarantine_rows",
    "station_id",
    "sync",
    "sync_states",
    "verify_feed_event",
]

CHUNK_FIRST: Final = 16
CHUNK_MAX_ENTRIES: Final = 1024
CHUNK_MAX_BYTES: Final = 256 * 1024  # of JSON entries, before compression
BLOB_CHUNK: Final = 256 * 1024  # the largest piece of a scan in one PATCH
BLOB_FIRST: Final = 32 * 1024  # the first piece; then sized to the link like the chunks
BLOB_MIN: Final = 8 * 1024
# A request should take about this long on the link: a chunk or piece grows (doubles) only
# while one takes less than CHUNK_SECONDS, and shrinks when one takes more than twice that, so
# on a 2G link (64 kbit/s, down 10 s a minute) a drop costs a few seconds of sending, while on
# a good link the chunks grow to their maximum.
CHUNK_SECONDS: Final = 4.0
FEED_PAGE: Final = 200
CLOCK_WARN_SECONDS: Final = 120
MAX_GAPS: Final = 3  # 409 gap answers in one run before giving up (the hub keeps moving back)

SYNC_STATES: Final = ("local", "sent", "stored", "portal")
SYNC_STATE_VI: Final[dict[str, str]] = {
    "local": "chỉ lưu tại trạm",
    "sent": "đã gửi, chờ máy chủ xác nhận",
    "stored": "máy chủ đã lưu",
    "portal": "cổng dịch vụ công đã nhận",
}

QUARANTINE_REASON_VI: Final[dict[str, str]] = {
    # answered by the hub for this station's own entries (docs/sync.md "Quarantine")
    "schema": "sai cấu trúc dữ liệu",
    "conflict": "xung đột với trạng thái hồ sơ tại máy chủ",
    "unknown-office": "đơn vị nhận không có trên máy chủ",
    "foreign-dossier": "hồ sơ không thuộc đơn vị này",
    "continuity": "bản ghi nối tiếp không khớp điểm chốt cuối của máy cũ tại máy chủ",
    # feed items this station refused
    "bad-station-cert": "chứng thư trạm không do máy chủ cấp",
    "bad-officer-cert": "chứng thư cán bộ không hợp lệ",
    "bad-signature": "chữ ký sự kiện không hợp lệ",
    "bad-proof": "bằng chứng có trong nhật ký không hợp lệ",
    "bad-checkpoint": "điểm chốt không do trạm ký",
    "no-cosignature": "điểm chốt thiếu chữ ký xác nhận của máy chủ",
    "not-a-dossier-event": "không phải sự kiện hồ sơ",
    "bad-record": "bản ghi của máy chủ không hợp lệ",
    "unknown-kind": "loại mục không hỗ trợ",
    "revoked": "khóa đã bị thu hồi",
}


# -- errors ---------------------------------------------------------------------------------
class SyncError(CommuneError):
    title = "Lỗi đồng bộ"


class HubUnreachable(SyncError):
    title = "Không kết nối được máy chủ đồng bộ"


class HubRefused(SyncError):
    """The hub answered with an error (`code` is its JSON `error`)."""

    title = "Máy chủ đồng bộ từ chối"

    def __init__(self, message: str, *, status: int, code: str, body: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = dict(body)


class _Transient(Exception):
    """A failure worth retrying: the network, a timeout, or a 429/5xx answer."""


class FeedItemRefused(Exception):
    """A feed item the station will not apply; `reason` is the quarantine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# -- hub identity ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HubInfo:
    """What the station knows of its hub (meta "hub")."""

    name: str
    url: str
    issuer_cert: dict[str, Any]
    cosigner: dict[str, Any]  # {"name", "public_key", "key_id"}

    @property
    def issuer_public(self) -> bytes:
        return cert_public_key(self.issuer_cert)

    def cosigner_verifier(self) -> Verifier:
        return cosigner_verifier(self.cosigner["name"], unb64url(self.cosigner["public_key"], 32))

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "name": self.name,
                "url": self.url,
                "issuer_cert": self.issuer_cert,
                "cosigner": self.cosigner,
            }
        ).decode()

    def same_identity(self, other: HubInfo) -> bool:
        return (
            self.name == other.name
            and self.issuer_cert.get("key_id") == other.issuer_cert.get("key_id")
            and self.cosigner == other.cosigner
        )

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any], url: str) -> HubInfo:
        """Check a `GET /v1/hub` answer: a self-signed issuer certificate and a well-formed
        cosigner key."""
        try:
            name = answer["name"]
            cert = answer["issuer_cert"]
            cos = answer["cosigner"]
            if not isinstance(name, str) or not name or not isinstance(cert, dict):
                raise TypeError("name/issuer_cert")
            verify_certificate(cert, cert)
            if cert.get("role") != "issuer":
                raise SyncError("Chứng thư gốc của máy chủ không có vai trò issuer")
            public = unb64url(cos["public_key"], 32)
            if cos.get("key_id") != key_id(public) or not isinstance(cos.get("name"), str):
                raise SyncError("Khóa xác nhận (cosigner) của máy chủ không khớp mã khóa")
        except SyncError:
            raise
        except (KeyError, TypeError, EncodingError, LedgerError) as exc:
            raise SyncError(f"Máy chủ {url} trả thông tin không hợp lệ: {exc}") from exc
        cosigner = {"name": cos["name"], "public_key": cos["public_key"], "key_id": cos["key_id"]}
        return cls(name, url.rstrip("/"), dict(cert), cosigner)


def hub_info(store: Store) -> HubInfo | None:
    raw = store.meta("hub")
    if raw is None:
        return None
    data = orjson.loads(raw)
    return HubInfo(data["name"], data["url"], data["issuer_cert"], data["cosigner"])


def station_id(station: Station) -> str:
    """The station id in URLs: `<office>-<n>`, `<office>-<n>e<k>` from epoch k >= 1 (docs/sync.md
    "Names")."""
    info = station.info
    return f"{info.office}-{info.station}" + (f"e{info.epoch}" if info.epoch else "")


# -- HTTP -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """How hard one sync run tries before it reports "offline"."""

    # 8 attempts wait about 16 s in all (full jitter): long enough to ride out a 2G link's
    # usual 10 s drop inside one run, short enough that "offline" is said within ~20 s
    attempts: int = 8
    initial: float = 0.5  # seconds; exponential with full jitter
    max_wait: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.initial, max=self.max_wait),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
            sleep=self.sleep,
        )


class _HubClock:
    """The hub's time, from its last answer plus the monotonic time elapsed since."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._hub: tuple[int, float] | None = None
        self.offset: int | None = None  # local device clock - hub clock, seconds

    def saw(self, answer: Mapping[str, Any]) -> None:
        hub_unix = answer.get("hub_unix")
        if isinstance(hub_unix, int) and not isinstance(hub_unix, bool):
            self._hub = (hub_unix, time.monotonic())
            self.offset = int(self._now().timestamp()) - hub_unix

    def hub_now(self) -> int:
        if self._hub is None:
            return int(time.time())
        hub_unix, at = self._hub
        return hub_unix + int(time.monotonic() - at)


class _Http:
    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        key: SigningKey | None,
        hub_clock: _HubClock,
    ) -> None:
        self.client = client
        self.base = base_url.rstrip("/")
        self.key = key
        self.clock = hub_clock

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        url = httpx.URL(self.base + path, params=dict(params) if params else None)
        all_headers = dict(headers or {})
        if signed:
            if self.key is None:
                raise SyncError("Cần khóa trạm để ký yêu cầu")
            all_headers.update(
                sign_request(
                    self.key,
                    method=method,
                    path=url.raw_path.split(b"?", 1)[0].decode("ascii"),
                    body=body,
                    keyid=self.key.key_id,
                    nonce=secrets.token_urlsafe(16),
                    created=self.clock.hub_now(),
                )
            )
        try:
            response = self.client.request(method, url, content=body, headers=all_headers)
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}")
        answer = _json(response)
        if answer is not None:
            self.clock.saw(answer)
        return response


def _resize(size: int, took: float, smallest: int, largest: int) -> int:
    """The next chunk or piece size after one that took `took` seconds (CHUNK_SECONDS)."""
    if took < CHUNK_SECONDS:
        return min(size * 2, largest)
    if took > 2 * CHUNK_SECONDS:
        return max(size // 2, smallest)
    return size


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _error(response: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    body = _json(response) or {}
    code = body.get("error")
    detail = body.get("detail")
    return (
        code if isinstance(code, str) else f"http-{response.status_code}",
        detail if isinstance(detail, str) else response.text[:200],
        body,
    )


def _refused(response: httpx.Response, what: str) -> HubRefused:
    code, detail, body = _error(response)
    message = _REFUSAL_VI.get(code, "máy chủ từ chối yêu cầu")
    return HubRefused(
        f"{what}: {message} ({code}: {detail})",
        status=response.status_code,
        code=code,
        body=body,
    )


_REFUSAL_VI: Final[dict[str, str]] = {
    "bad-token": "mã đăng ký không đúng, đã dùng cho khóa khác hoặc đã hết hạn",
    "station-exists": "số trạm này đã đăng ký với một khóa khác",
    "bad-key": "khóa trạm không hợp lệ",
    "bad-request": "yêu cầu không hợp lệ",
    "unknown-key": "trạm chưa đăng ký với máy chủ này",
    "revoked": "khóa của trạm đã bị thu hồi; liên hệ quản trị máy chủ",
    "forbidden": "trạm không có quyền với dữ liệu này",
    "expired": "chữ ký yêu cầu đã quá hạn (kiểm tra đồng hồ máy tính)",
    "from-the-future": "chữ ký yêu cầu ghi thời điểm tương lai (kiểm tra đồng hồ máy tính)",
    "replayed": "yêu cầu bị gửi lặp",
    "missing-signature": "yêu cầu thiếu chữ ký",
    "bad-signature": "chữ ký yêu cầu không hợp lệ",
    "bad-signature-input": "chữ ký yêu cầu sai định dạng",
    "bad-digest": "nội dung yêu cầu không khớp chữ ký",
    "too-large": "lô dữ liệu quá lớn",
}


def _with_retries(policy: RetryPolicy, call: Callable[[], httpx.Response]) -> httpx.Response:
    for attempt in policy.retrying():
        with attempt:
            return call()
    raise AssertionError("unreachable: tenacity re-raises the last failure")


def fetch_hub(
    client: httpx.Client, server_url: str, *, policy: RetryPolicy | None = None
) -> tuple[HubInfo, dict[str, Any]]:
    """`GET /v1/hub` (public): the hub's identity, and the raw answer (its clock)."""
    http = _Http(client, server_url, None, _HubClock(clock.now))
    try:
        response = _with_retries(
            policy or RetryPolicy(), lambda: http.send("GET", "/v1/hub", signed=False)
        )
    except _Transient as exc:
        raise HubUnreachable(f"Không kết nối được {server_url}: {exc}") from exc
    answer = _json(response)
    if response.status_code != 200 or answer is None:
        raise SyncError(
            f"{server_url} không phải máy chủ đồng bộ (GET /v1/hub trả {response.status_code})"
        )
    return HubInfo.from_answer(answer, server_url), answer


# -- enrolment ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Enrolment:
    station_key: SigningKey
    station_cert: dict[str, Any]
    hub: HubInfo
    trust_kit: dict[str, Any]
    office: dict[str, Any]
    previous: dict[str, Any] | None = None  # a replacement's previous epoch (hub's word)


def _enrol(
    client: httpx.Client,
    server_url: str,
    token: str,
    *,
    key: SigningKey,
    office: str,
    station: int,
    office_name: str,
    origin_for: Callable[[HubInfo], str],
    policy: RetryPolicy,
    now: Callable[[], datetime],
    known: HubInfo | None = None,
) -> Enrolment:
    if not token.strip():
        raise BadInput("Cần mã đăng ký (--token) do máy chủ cấp")
    hub, answer = fetch_hub(client, server_url, policy=policy)
    if known is not None and not known.same_identity(hub):
        raise SyncError(
            f"Trạm đã đăng ký với máy chủ {known.name} ({known.url}); không đăng ký sang máy "
            f"chủ khác {hub.name}"
        )
    hub_clock = _HubClock(now)
    hub_clock.saw(answer)
    http = _Http(client, hub.url, key, hub_clock)
    body = orjson.dumps(
        {
            "token": token.strip(),
            "office": office,
            "station": station,
            "origin": origin_for(hub),
            "public_key": b64url(key.public),
            "name": office_name,
        }
    )
    try:
        # The hub answers a repeated enrolment (same key, same token) with the same answer,
        # so a retry after a lost answer is safe.
        response = _with_retries(
            policy,
            lambda: http.send(
                "POST", "/v1/enrol", body=body, headers={"Content-Type": "application/json"}
            ),
        )
    except _Transient as exc:
        raise HubUnreachable(f"Không kết nối được {server_url}: {exc}") from exc
    if response.status_code not in (200, 201):
        raise _refused(response, "Đăng ký trạm không thành công")
    result = _json(response) or {}
    cert = result.get("station_cert")
    if not isinstance(cert, dict):
        raise SyncError("Máy chủ không trả chứng thư trạm")
    try:
        verify_certificate(cert, hub.issuer_cert)
    except LedgerError as exc:
        raise SyncError(f"Chứng thư trạm không do máy chủ ký: {exc.message}") from exc
    if (
        cert.get("key_id") != key.key_id
        or cert.get("role") != "station"
        or cert.get("office") != office
        or cert.get("station") != station
    ):
        raise SyncError("Chứng thư trạm máy chủ cấp không khớp khóa, đơn vị hoặc số trạm")
    kit = result.get("trust_kit")
    office_info = result.get("office")
    previous = result.get("previous")
    return Enrolment(
        key,
        cert,
        hub,
        kit if isinstance(kit, dict) else {},
        office_info if isinstance(office_info, dict) else {},
        previous if isinstance(previous, dict) else None,
    )


def enrolment_meta(enrolment: Enrolment) -> dict[str, str]:
    """The meta rows an enrolled station keeps: the hub, its certificate for the station key,
    and the trust kit."""
    return {
        "hub": enrolment.hub.to_json(),
        "hub_station_cert": orjson.dumps(enrolment.station_cert).decode(),
        "trust_kit": orjson.dumps(enrolment.trust_kit).decode(),
    }


def enroll(
    station: Station,
    session: Session,
    server_url: str,
    token: str,
    *,
    client: httpx.Client,
    policy: RetryPolicy | None = None,
    now: Callable[[], datetime] = clock.now,
) -> dict[str, Any]:
    """Enrol an existing (stand-alone) station: the hub certifies the same station key; the log
    and its origin are kept (docs/sync.md "Enrolment does not start a new epoch")."""
    known = hub_info(station.store)
    info = station.info
    enrolment = _enrol(
        client,
        server_url,
        token,
        key=session.station_key,
        office=info.office,
        station=info.station,
        office_name=info.office_name,
        origin_for=lambda _: info.origin,
        policy=policy or RetryPolicy(),
        now=now,
        known=known,
    )
    with station.store.write():
        for key, value in enrolment_meta(enrolment).items():
            station.store.set_meta(key, value)
    return {
        "hub": enrolment.hub.name,
        "url": enrolment.hub.url,
        "station": info.ref,
        "origin": info.origin,
        "station_cert": enrolment.station_cert,
        "office": enrolment.office,
    }


def enroll_new(
    server_url: str,
    token: str,
    *,
    office: str,
    station: int,
    office_name: str,
    client: httpx.Client,
    policy: RetryPolicy | None = None,
    now: Callable[[], datetime] = clock.now,
    epoch: int = 0,
) -> Enrolment:
    """Enrol a new station key before the station exists (`commune init --server --enroll`):
    its log then starts with the hub's name in the origin and the hub's certificate in
    `station-open`. Pass the result to `Station.create`. `epoch` >= 1 enrols a replacement
    PC (after `sync-server station replace`): the hub then also says what the previous epoch
    ended with, which the new log's `continuity` event names."""
    enrolment = _enrol(
        client,
        server_url,
        token,
        key=SigningKey.generate(),
        office=office,
        station=station,
        office_name=office_name,
        origin_for=lambda hub: station_origin(hub.name, office, station, epoch),
        policy=policy or RetryPolicy(),
        now=now,
    )
    if epoch and not (
        enrolment.previous
        and isinstance(enrolment.previous.get("origin"), str)
        and isinstance(enrolment.previous.get("checkpoint"), str | None)
    ):
        raise SyncError("Máy chủ không cho biết kỷ nguyên trước của trạm")
    return enrolment


# -- reports --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncProgress:
    phase: str  # "push" | "blobs" | "pull"
    done: int
    total: int
    bytes_sent: int
    eta_seconds: float | None

    def text(self) -> str:
        """One line for the officer: `120/400 bản ghi, 35 KB, còn khoảng 12 giây`."""
        if self.phase == "pull":
            return f"Đã nhận {self.done} mục từ máy chủ"
        what = {"push": "bản ghi", "blobs": "tệp quét"}[self.phase]
        parts = [f"{self.done}/{self.total} {what}", f"{self.bytes_sent / 1024:.0f} KB"]
        if self.eta_seconds is not None:
            parts.append(f"còn khoảng {max(1, round(self.eta_seconds))} giây")
        return ", ".join(parts)


@dataclass
class SyncReport:
    hub: str
    url: str
    local_size: int = 0
    hub_size: int | None = None
    accepted: int | None = None
    pushed: int = 0
    chunks: int = 0
    bytes_sent: int = 0
    # requests sent again after a failure (each re-sends one chunk or one scan piece, nothing
    # more: the measure of what a dropped link costs), their bytes, and the largest of them
    retries: int = 0
    bytes_resent: int = 0
    largest_resent: int = 0
    blobs_uploaded: int = 0
    pulled: int = 0
    cursor: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    clock_offset: int | None = None
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None  # None, or a stable code (see docs/sync.md "Station side")
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.quarantined

    def stop(self, problem: str, message: str) -> None:
        if self.problem is None:
            self.problem, self.message = problem, message

    def resent(self, size: int) -> None:
        self.retries += 1
        self.bytes_resent += size
        self.largest_resent = max(self.largest_resent, size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hub": self.hub,
            "url": self.url,
            "ok": self.ok,
            "problem": self.problem,
            "message": self.message,
            "local_size": self.local_size,
            "hub_size": self.hub_size,
            "accepted": self.accepted,
            "pushed": self.pushed,
            "chunks": self.chunks,
            "bytes_sent": self.bytes_sent,
            "retries": self.retries,
            "bytes_resent": self.bytes_resent,
            "largest_resent": self.largest_resent,
            "blobs_uploaded": self.blobs_uploaded,
            "pulled": self.pulled,
            "cursor": self.cursor,
            "quarantined": self.quarantined,
            "findings": self.findings,
            "clock_offset": self.clock_offset,
            "warnings": self.warnings,
        }


PROBLEM_VI: Final[dict[str, str]] = {
    "offline": "Không kết nối được máy chủ đồng bộ; dữ liệu vẫn an toàn trên máy, thử lại sau",
    "unauthorized": "Máy chủ đồng bộ không chấp nhận trạm này",
    "fork": "Máy chủ phát hiện nhật ký của trạm khác với bản đã nhận (rẽ nhánh); "
    "dừng đồng bộ, liên hệ quản trị máy chủ",
    "forked": "Trạm đang bị máy chủ khóa đồng bộ vì nhật ký rẽ nhánh; liên hệ quản trị máy chủ",
    "invalid-entries": "Máy chủ từ chối lô bản ghi vì không kiểm tra được",
    "hub-ahead": "Máy chủ có nhiều bản ghi hơn trạm: có thể trạm đã được khôi phục từ bản sao "
    "cũ; dừng đồng bộ, liên hệ quản trị máy chủ",
    "hub-changed": "Máy chủ ở địa chỉ này không phải máy chủ trạm đã đăng ký",
    "hub-misbehaves": "Máy chủ trả dữ liệu không kiểm tra được",
    "hub-error": "Máy chủ đồng bộ trả lỗi",
}


# -- storage helpers --------------------------------------------------------------------------
def add_blob(store: Store, data: bytes) -> str:
    """Keep a scan (content-addressed); returns its SHA-256 hex, which events reference."""
    sha = hashlib.sha256(data).hexdigest()
    with store.write() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO blobs (sha256, data, size) VALUES (?, ?, ?)",
            (sha, data, len(data)),
        )
    return sha


def _quarantine(
    conn: Any,
    *,
    source: str,
    station: str,
    seq: int,
    cursor: int,
    reason: str,
    detail: str,
    dossier: str | None,
    at: str,
) -> bool:
    cur = conn.execute(
        "INSERT OR IGNORE INTO quarantine (source, station, seq, cursor, reason, detail, "
        "dossier, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (source, station, seq, cursor, reason, detail, dossier, at),
    )
    return bool(cur.rowcount)


def quarantine_rows(station: Station, limit: int = 200) -> list[dict[str, Any]]:
    """What the hub refused to act on (`source` "hub") and what this station refused from the
    feed (`source` "feed"), newest first, with a Vietnamese reason."""
    rows = station.store.conn.execute(
        "SELECT source, station, seq, cursor, reason, detail, dossier, at FROM quarantine "
        "ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    keys = ("source", "station", "seq", "cursor", "reason", "detail", "dossier", "at")
    out = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["reason_vi"] = QUARANTINE_REASON_VI.get(item["reason"], item["reason"])
        out.append(item)
    return out


def sync_states(station: Station, codes: Iterable[str]) -> dict[str, str]:
    """Per dossier: `local` (its latest own event is beyond what was sent), `sent` (sent, no
    answer seen yet), `stored` (covered by a checkpoint the hub cosigned; also a dossier known
    here only from the hub's feed), `portal` (the hub reported that the portal accepted the
    dossier's current version: meta "portal_versions", {code: version})."""
    codes = list(dict.fromkeys(codes))
    conn = station.store.conn
    stored = int(conn.execute("SELECT COALESCE(MAX(size), 0) FROM cosigned").fetchone()[0])
    sent = int(station.store.meta("sync_sent") or 0)
    portal = orjson.loads(station.store.meta("portal_versions") or "{}")
    latest: dict[str, int] = {}
    versions: dict[str, int] = {}
    for start in range(0, len(codes), 500):
        part = codes[start : start + 500]
        marks = ",".join("?" * len(part))
        for code, seq in conn.execute(
            f"SELECT dossier, MAX(seq) FROM entries WHERE dossier IN ({marks}) GROUP BY dossier",
            part,
        ):
            latest[code] = int(seq)
        if portal:
            for code, version in conn.execute(
                f"SELECT code, version FROM dossiers WHERE code IN ({marks})", part
            ):
                versions[code] = int(version)
    out: dict[str, str] = {}
    for code in codes:
        seq = latest.get(code)
        if seq is None or seq < stored:
            at_portal = code in versions and portal.get(code) == versions[code]
            out[code] = "portal" if at_portal else "stored"
        elif seq < sent:
            out[code] = "sent"
        else:
            out[code] = "local"
    return out


# -- feed verification ------------------------------------------------------------------------
def verify_feed_event(item: Mapping[str, Any], hub: HubInfo) -> tuple[dict[str, Any], bytes, str]:
    """Check a feed `event` item fully; returns (event, leaf, origin), or raises FeedItemRefused.

    The station certificate must be issued by the hub issuer, the officer certificate by that
    station key, the event signed by the officer key, and the event included (tlog-proof) in a
    checkpoint signed by the station key and cosigned by the hub."""
    event, station_cert = item.get("event"), item.get("station_cert")
    officer_cert = item.get("officer_cert")
    if not isinstance(event, dict) or not isinstance(station_cert, dict):
        raise FeedItemRefused("bad-record", "mục thiếu sự kiện hoặc chứng thư trạm")
    if not isinstance(officer_cert, dict):
        raise FeedItemRefused("bad-officer-cert", "mục thiếu chứng thư cán bộ")
    ref = event.get("station")
    if not isinstance(ref, str) or "/" not in ref:
        raise FeedItemRefused("bad-record", "sự kiện không ghi trạm")
    office, _, number = ref.rpartition("/")
    if event.get("dossier") is None or event.get("action") not in DOSSIER_ACTIONS:
        raise FeedItemRefused("not-a-dossier-event", f"thao tác {event.get('action')!r}")
    try:
        verify_certificate(station_cert, hub.issuer_cert)
    except LedgerError as exc:
        raise FeedItemRefused("bad-station-cert", exc.message) from exc
    if (
        station_cert.get("role") != "station"
        or station_cert.get("office") != office
        or str(station_cert.get("station")) != number
    ):
        raise FeedItemRefused("bad-station-cert", f"chứng thư trạm không thuộc trạm {ref}")
    try:
        verify_certificate(officer_cert, station_cert)
    except LedgerError as exc:
        raise FeedItemRefused("bad-officer-cert", exc.message) from exc
    if officer_cert.get("key_id") != event.get("officer") or officer_cert.get("role") != "officer":
        raise FeedItemRefused("bad-officer-cert", "sự kiện không do cán bộ của chứng thư ký")
    try:
        verify_record(event, cert_public_key(officer_cert))
        leaf = canonical(event)
    except (LedgerError, CanonicalError) as exc:
        raise FeedItemRefused("bad-signature", str(exc)) from exc
    try:
        parse_event(event)
    except ValidationError as exc:
        raise FeedItemRefused("schema", str(exc.errors(include_url=False)[:2])) from exc
    proof_text = item.get("proof")
    if not isinstance(proof_text, str):
        raise FeedItemRefused("bad-proof", "mục thiếu bằng chứng")
    try:
        proof = parse_proof(proof_text)
        origin = proof.checkpoint.partition("\n")[0]
        log = rf"[^/\s]+/office/{re.escape(office)}/{re.escape(number)}/e(0|[1-9][0-9]*)"
        if re.fullmatch(log, origin) is None:
            raise FeedItemRefused("bad-checkpoint", f"điểm chốt của nhật ký khác: {origin}")
        signed = open_checkpoint(
            proof.checkpoint, ed25519_verifier(origin, cert_public_key(station_cert))
        )
    except FeedItemRefused:
        raise
    except LedgerError as exc:
        raise FeedItemRefused("bad-checkpoint", exc.message) from exc
    if proof.index != event.get("seq"):
        raise FeedItemRefused("bad-proof", "chỉ số trong bằng chứng khác số thứ tự sự kiện")
    cp = signed.checkpoint
    try:
        verify_inclusion(leaf_hash(leaf), proof.index, cp.size, proof.hashes, cp.root)
    except ProofError as exc:
        raise FeedItemRefused("bad-proof", str(exc)) from exc
    try:
        if not cosignatures(signed.note, hub.cosigner_verifier()):
            raise FeedItemRefused("no-cosignature", "điểm chốt chưa được máy chủ xác nhận")
    except LedgerError as exc:
        raise FeedItemRefused("no-cosignature", exc.message) from exc
    return event, leaf, cp.origin


# -- the agent ------------------------------------------------------------------------------
ProgressFn = Callable[[SyncProgress], None]


class SyncAgent:
    """One sync run over an open station and a signed-in session (its keys sign requests,
    missing checkpoints and the calendar updates the hub sends)."""

    def __init__(
        self,
        station: Station,
        session: Session,
        *,
        client: httpx.Client,
        server_url: str | None = None,
        progress: ProgressFn | None = None,
        policy: RetryPolicy | None = None,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        hub = hub_info(station.store)
        if hub is None:
            raise BadInput(
                "Trạm chưa đăng ký với máy chủ đồng bộ: chạy `commune enroll --server URL "
                "--token TOKEN` trước"
            )
        self.station = station
        self.session = session
        self.store = station.store
        self.hub = hub
        self.url = (server_url or hub.url).rstrip("/")
        self.client = client
        self.progress = progress
        self.policy = policy or RetryPolicy()
        self.now = now
        self.clock = _HubClock(now)
        self.http = _Http(client, self.url, session.station_key, self.clock)
        self.report = SyncReport(hub=hub.name, url=self.url)
        self.sid = station_id(station)
        self.piece = BLOB_FIRST  # the scans' piece size, adapted to the link as they go

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return _with_retries(self.policy, lambda: self.http.send(method, path, **kw))

    def _emit(self, phase: str, done: int, total: int, started: float) -> None:
        if self.progress is None:
            return
        elapsed = time.monotonic() - started
        eta = (total - done) * elapsed / done if done and elapsed > 0 else None
        self.progress(SyncProgress(phase, done, total, self.report.bytes_sent, eta))

    def _unauthorized(self, response: httpx.Response) -> None:
        code, _, _ = _error(response)
        reason = _REFUSAL_VI.get(code, "máy chủ từ chối")
        self.report.stop("unauthorized", f"{PROBLEM_VI['unauthorized']}: {reason} ({code})")

    # -- run --------------------------------------------------------------------------------
    def run(self) -> SyncReport:
        report = self.report
        report.local_size = self.store.size()
        try:
            if self._check_hub() and self._push():
                self._upload_blobs()
                if report.problem is None:
                    self._pull()
                if report.problem is None:
                    self._pull_portal()
        except _Transient as exc:
            report.stop("offline", f"{PROBLEM_VI['offline']} ({exc})")
        finally:
            self._finish()
        return report

    def _check_hub(self) -> bool:
        try:
            response = self._call("GET", "/v1/hub", signed=False)
        except _Transient as exc:
            self.report.stop("offline", f"{PROBLEM_VI['offline']} ({self.url}: {exc})")
            return False
        answer = _json(response)
        try:
            if response.status_code != 200 or answer is None:
                raise SyncError(f"GET /v1/hub trả {response.status_code}")
            seen = HubInfo.from_answer(answer, self.url)
        except SyncError as exc:
            self.report.stop("hub-changed", f"{PROBLEM_VI['hub-changed']}: {exc.message}")
            return False
        if not seen.same_identity(self.hub):
            self.report.stop(
                "hub-changed",
                f"{PROBLEM_VI['hub-changed']} ({self.hub.name}); máy chủ ở {self.url} là "
                f"{seen.name}",
            )
            return False
        return True

    def _finish(self) -> None:
        offset = self.clock.offset
        self.report.clock_offset = offset
        if offset is not None and abs(offset) > CLOCK_WARN_SECONDS:
            minutes = abs(offset) / 60
            side = "nhanh" if offset > 0 else "chậm"
            self.report.warnings.append(
                f"Đồng hồ máy tính {side} hơn giờ máy chủ {minutes:.0f} phút: chỉnh lại đồng "
                "hồ (thời điểm ghi trên biên nhận sẽ bị đánh dấu bất thường)"
            )
        self.report.cursor = int(self.store.meta("feed_cursor") or 0)
        with self.store.write():
            if offset is not None:
                self.store.set_meta("hub_clock_offset", str(offset))
            if self.report.problem is None:
                self.store.set_meta("last_sync", iso(self.now()))

    # -- push -------------------------------------------------------------------------------
    def _push(self) -> bool:
        report = self.report
        path = f"/v1/stations/{self.sid}"
        first = self._call("GET", path)
        if first.status_code in (401, 403):
            self._unauthorized(first)
            return False
        status = _json(first)
        if first.status_code != 200 or status is None:
            code, detail, _ = _error(first)
            report.stop("hub-error", f"{PROBLEM_VI['hub-error']}: {code} {detail}")
            return False
        if status.get("forked"):
            report.stop("forked", PROBLEM_VI["forked"])
            return False
        hub_size = status.get("size")
        if not isinstance(hub_size, int) or hub_size < 0:
            report.stop("hub-misbehaves", f"{PROBLEM_VI['hub-misbehaves']}: size {hub_size!r}")
            return False
        report.hub_size = hub_size
        local = self.store.size()
        if hub_size > local:
            report.stop("hub-ahead", f"{PROBLEM_VI['hub-ahead']} ({hub_size} > {local})")
            return False
        if status.get("checkpoint") and not self._record_cosigned(status["checkpoint"], []):
            return False
        pos, chunk, gaps = hub_size, CHUNK_FIRST, 0
        total, started = local - hub_size, time.monotonic()
        if total == 0:
            report.accepted = hub_size
        while pos < local:
            response: httpx.Response | None = None
            for attempt in self.policy.retrying():
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        chunk = max(1, chunk // 2)  # a failure: smaller chunks on this link
                    end, body = self._chunk(pos, chunk, local)
                    if attempt.retry_state.attempt_number > 1:
                        report.resent(len(body))
                    with self.store.write():
                        sent = int(self.store.meta("sync_sent") or 0)
                        self.store.set_meta("sync_sent", str(max(sent, end)))
                    report.chunks += 1
                    report.bytes_sent += len(body)
                    sent_at = time.monotonic()
                    response = self.http.send(
                        "POST",
                        f"/v1/stations/{self.sid}/entries",
                        body=body,
                        headers={"Content-Type": "application/json", "Content-Encoding": "zstd"},
                    )
            took = time.monotonic() - sent_at
            assert response is not None
            answer = _json(response) or {}
            if response.status_code == 200:
                accepted = answer.get("accepted")
                if not isinstance(accepted, int) or not pos < accepted <= local:
                    report.stop(
                        "hub-misbehaves", f"{PROBLEM_VI['hub-misbehaves']}: accepted {accepted!r}"
                    )
                    return False
                if not self._record_cosigned(answer.get("checkpoint"), answer.get("quarantined")):
                    return False
                report.pushed += accepted - pos
                report.accepted = accepted
                pos = accepted
                chunk = _resize(chunk, took, 1, CHUNK_MAX_ENTRIES)
                self._emit("push", pos - hub_size, total, started)
                continue
            code, detail, body_json = _error(response)
            if response.status_code == 409 and code == "gap":
                gaps += 1
                size = body_json.get("size")
                if gaps > MAX_GAPS or not isinstance(size, int) or not 0 <= size < pos:
                    report.stop("hub-misbehaves", f"{PROBLEM_VI['hub-misbehaves']}: gap {size}")
                    return False
                pos = size  # the hub has less than it said: resend from its size
                continue
            if response.status_code == 409 and code in ("fork", "forked"):
                report.stop(code, f"{PROBLEM_VI[code]} ({detail})")
                return False
            if response.status_code == 413 and chunk > 1:
                chunk = max(1, chunk // 2)
                continue
            if response.status_code == 422 and code == "invalid-entries":
                findings = body_json.get("findings")
                report.findings = findings if isinstance(findings, list) else []
                report.stop("invalid-entries", f"{PROBLEM_VI['invalid-entries']}: {detail}")
                return False
            if response.status_code in (401, 403):
                self._unauthorized(response)
                return False
            report.stop("hub-error", f"{PROBLEM_VI['hub-error']}: {response.status_code} {code}")
            return False
        return True

    def _send_fork_evidence(self, size: int) -> None:
        """This log differs from what the hub cosigned at `size` (e.g. the station was restored
        from an old copy and went on): send our entry and checkpoint of that size, so the hub
        keeps both signed checkpoints as evidence (it answers 409 fork and stops accepting)."""
        if size < 1:
            return
        _, body = self._chunk(size - 1, 1, size)
        with suppress(_Transient):
            self._call(
                "POST",
                f"/v1/stations/{self.sid}/entries",
                body=body,
                headers={"Content-Type": "application/json", "Content-Encoding": "zstd"},
            )

    def _chunk(self, pos: int, max_entries: int, local: int) -> tuple[int, bytes]:
        """The zstd-compressed batch [pos, end): up to `max_entries` entries and 256 KiB of JSON
        (at least one entry), ending at a size with a signed checkpoint."""
        leaves: list[bytes] = []
        size = 0
        for leaf in list(self.store.leaves(pos, min(local, pos + max_entries))):
            if leaves and size + len(leaf) + 1 > CHUNK_MAX_BYTES:
                break
            leaves.append(leaf)
            size += len(leaf) + 1
        end = pos + len(leaves)
        note = self._checkpoint(end)
        info = self.station.info
        batch = {
            "type": BATCH_TYPE,
            "station": info.ref,
            "origin": info.origin,
            "from": pos,
            "to": end,
            # the signed events byte for byte (canonical JSON): never re-serialised
            "entries": [orjson.Fragment(leaf) for leaf in leaves],
            "checkpoint": note,
            "held": local,
        }
        return end, zstandard.ZstdCompressor(level=3).compress(orjson.dumps(batch))

    def _checkpoint(self, size: int) -> str:
        """The station's signed checkpoint of exactly `size` (signed now if it is missing, e.g.
        after a crash between an append's commit and its checkpoint)."""
        note = self.store.checkpoint_at(size)
        if note is not None:
            return note
        info = self.station.info
        with self.store.write() as conn:
            note = self.store.checkpoint_at(size)
            if note is None:
                root = MerkleTree(SqliteNodeStore(conn), self.store.size()).root(size)
                checkpoint = Checkpoint(info.origin, size, root)
                note = sign_checkpoint(checkpoint, self.session.station_key)
                self.store.add_checkpoint(size, note)
        return note

    def _record_cosigned(self, note: Any, quarantined: Any) -> bool:
        """Check the hub's cosigned checkpoint (our signature, the hub's cosignature, our own
        tree's root at its size), then keep it, the beacon and the quarantined entries."""
        info = self.station.info
        try:
            if not isinstance(note, str):
                raise LedgerError("no checkpoint")
            signed = open_checkpoint(
                note,
                ed25519_verifier(info.origin, cert_public_key(self.station.info.station_cert)),
            )
            times = cosignatures(signed.note, self.hub.cosigner_verifier())
            if not times:
                raise LedgerError("the checkpoint has no hub cosignature")
        except LedgerError as exc:
            self.report.stop(
                "hub-misbehaves", f"{PROBLEM_VI['hub-misbehaves']}: điểm chốt {exc.message}"
            )
            return False
        cp = signed.checkpoint
        local = self.store.size()
        if cp.origin != info.origin or cp.size > local:
            self.report.stop("hub-misbehaves", f"{PROBLEM_VI['hub-misbehaves']}: {cp.origin}")
            return False
        root = MerkleTree(SqliteNodeStore(self.store.conn), local).root(cp.size)
        if root != cp.root:
            self._send_fork_evidence(cp.size)
            self.report.stop("fork", f"{PROBLEM_VI['fork']} (kích thước {cp.size})")
            return False
        at = iso(self.now())
        rows = quarantined if isinstance(quarantined, list) else []
        with self.store.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO cosigned (size, note, hub_unix) VALUES (?, ?, ?)",
                (cp.size, note, max(times)),
            )
            accepted = int(self.store.meta("hub_accepted") or 0)
            if cp.size >= accepted:
                self.store.set_meta("hub_accepted", str(cp.size))
                beacon = {"origin": cp.origin, "size": cp.size, "root": b64(cp.root)}
                self.store.set_meta("beacon", orjson.dumps(beacon).decode())
            for row in rows:
                seq = row.get("seq") if isinstance(row, dict) else None
                if not isinstance(seq, int):
                    continue
                leaf = self.store.leaf(seq)
                dossier = orjson.loads(leaf).get("dossier") if leaf else None
                reason = str(row.get("reason") or "unknown")
                detail = str(row.get("detail") or "")
                if _quarantine(
                    conn,
                    source="hub",
                    station=info.ref,
                    seq=seq,
                    cursor=0,
                    reason=reason,
                    detail=detail,
                    dossier=dossier,
                    at=at,
                ):
                    self.report.quarantined.append(
                        {
                            "source": "hub",
                            "seq": seq,
                            "dossier": dossier,
                            "reason": reason,
                            "reason_vi": QUARANTINE_REASON_VI.get(reason, reason),
                            "detail": detail,
                        }
                    )
        return True

    # -- blobs ------------------------------------------------------------------------------
    def _upload_blobs(self) -> None:
        pending = self.store.conn.execute(
            "SELECT sha256, size FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM "
            "blobs_at_hub) ORDER BY sha256"
        ).fetchall()
        started = time.monotonic()
        for done, (sha, size) in enumerate(pending, 1):
            if not self._upload_blob(str(sha), int(size)):
                return
            with self.store.write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO blobs_at_hub (sha256, at) VALUES (?, ?)",
                    (sha, iso(self.now())),
                )
            self.report.blobs_uploaded += 1
            self._emit("blobs", done, len(pending), started)

    def _upload_blob(self, sha: str, size: int) -> bool:
        path = f"/v1/blobs/{sha}"
        response = self._call("HEAD", path)
        if response.status_code in (401, 403):
            self._unauthorized(response)
            return False
        offset = 0
        if response.status_code == 200:
            offset = int(response.headers.get("Upload-Offset", "0"))
            if offset >= size:
                return True
        elif response.status_code != 404:
            self.report.stop("hub-error", f"{PROBLEM_VI['hub-error']}: HEAD {path}")
            return False
        data = bytes(
            self.store.conn.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha,)).fetchone()[0]
        )
        restarts = 0
        while True:
            sent: httpx.Response | None = None
            for attempt in self.policy.retrying():
                with attempt:
                    if attempt.retry_state.attempt_number > 1:  # a failure: smaller pieces
                        self.piece = max(BLOB_MIN, self.piece // 2)
                    piece = data[offset : offset + self.piece]
                    if attempt.retry_state.attempt_number > 1:
                        self.report.resent(len(piece))
                    sent_at = time.monotonic()
                    sent = self.http.send(
                        "PATCH",
                        path,
                        body=piece,
                        headers={
                            "Content-Type": "application/offset+octet-stream",
                            "Upload-Offset": str(offset),
                            "Upload-Length": str(size),
                        },
                    )
            assert sent is not None
            response = sent
            if len(piece) == self.piece:  # a short last piece says nothing about the link
                self.piece = _resize(self.piece, time.monotonic() - sent_at, BLOB_MIN, BLOB_CHUNK)
            answer = _json(response) or {}
            code = answer.get("error")
            if response.status_code in (200, 201, 204):
                if answer.get("complete"):
                    return True
                offset = int(answer.get("offset", offset + len(piece)))
            elif response.status_code == 409 and code == "offset-mismatch":
                offset = int(answer.get("offset", 0))
            elif response.status_code == 422 and code == "digest-mismatch" and restarts < 1:
                restarts, offset = restarts + 1, 0
            elif response.status_code in (401, 403):
                self._unauthorized(response)
                return False
            else:
                self.report.stop(
                    "hub-error", f"{PROBLEM_VI['hub-error']}: PATCH {path} {response.status_code}"
                )
                return False
            self.report.bytes_sent += len(piece)

    # -- pull -------------------------------------------------------------------------------
    def _pull(self) -> None:
        path = f"/v1/offices/{self.station.info.office}/feed"
        started = time.monotonic()
        while True:
            cursor = int(self.store.meta("feed_cursor") or 0)
            response = self._call("GET", path, params={"after": cursor, "limit": FEED_PAGE})
            if response.status_code in (401, 403):
                self._unauthorized(response)
                return
            page = _json(response)
            items = page.get("items") if page else None
            if response.status_code != 200 or page is None or not isinstance(items, list):
                self.report.stop("hub-error", f"{PROBLEM_VI['hub-error']}: feed")
                return
            for item in items:
                if isinstance(item, dict):
                    self.apply_item(item)
            following = page.get("next")
            if isinstance(following, int) and following > int(self.store.meta("feed_cursor") or 0):
                # items the feed skipped (this station's own) still move the cursor on
                with self.store.write():
                    self.store.set_meta("feed_cursor", str(following))
            self._emit("pull", self.report.pulled, self.report.pulled, started)
            if not page.get("more") or not items:
                return

    def _pull_portal(self) -> None:
        """Which dossiers the provincial portal accepted, and at which version (the hub says;
        docs/portal.md): the "accepted by portal" sync state. Not signed data, only a state to
        show, so a hub without the endpoint (404) is not an error."""
        path = f"/v1/offices/{self.station.info.office}/portal"
        while True:
            after = int(self.store.meta("portal_cursor") or 0)
            response = self._call("GET", path, params={"after": after})
            page = _json(response)
            accepted = page.get("accepted") if page else None
            following = page.get("next") if page else None
            if response.status_code != 200 or not isinstance(accepted, dict):
                return
            versions = orjson.loads(self.store.meta("portal_versions") or "{}")
            versions.update(
                {str(k): v for k, v in accepted.items() if isinstance(v, int) and v > 0}
            )
            with self.store.write():
                self.store.set_meta("portal_versions", orjson.dumps(versions).decode())
                if isinstance(following, int) and following > after:
                    self.store.set_meta("portal_cursor", str(following))
            if not page or not page.get("more") or not isinstance(following, int):
                return
            if following <= after:  # a page of one second's worth: take it whole next time
                return

    def apply_item(self, item: dict[str, Any]) -> None:
        """Verify and apply one feed item, or quarantine it; either way the cursor moves past
        it in the same transaction (a refused item never blocks the rest)."""
        cursor = item.get("cursor")
        if not isinstance(cursor, int) or cursor <= int(self.store.meta("feed_cursor") or 0):
            return  # already applied (or malformed: the page's `next` moves past it)
        kind = item.get("kind")
        try:
            if kind == "event":
                self._apply_event(item, cursor)
            elif kind in ("catalog", "calendar", "revocation"):
                self._apply_record(kind, item, cursor)
            else:
                raise FeedItemRefused("unknown-kind", f"loại {kind!r}")
        except FeedItemRefused as refused:
            event = item.get("event") if isinstance(item.get("event"), dict) else {}
            assert isinstance(event, dict)
            seq = item.get("seq")
            station = item.get("station")
            with self.store.write() as conn:
                added = _quarantine(
                    conn,
                    source="feed",
                    station=station if isinstance(station, str) else "",
                    seq=seq if isinstance(seq, int) else -1,
                    cursor=cursor,
                    reason=refused.reason,
                    detail=refused.detail[:500],
                    dossier=event.get("dossier") if isinstance(event.get("dossier"), str) else None,
                    at=iso(self.now()),
                )
                self.store.set_meta("feed_cursor", str(cursor))
            if added:
                self.report.quarantined.append(
                    {
                        "source": "feed",
                        "cursor": cursor,
                        "station": station,
                        "seq": seq,
                        "dossier": event.get("dossier"),
                        "reason": refused.reason,
                        "reason_vi": QUARANTINE_REASON_VI.get(refused.reason, refused.reason),
                        "detail": refused.detail[:500],
                    }
                )

    def _apply_event(self, item: dict[str, Any], cursor: int) -> None:
        event, leaf, origin = verify_feed_event(item, self.hub)
        self._check_revocation(item["station_cert"], origin, int(event["seq"]))
        with self.store.write() as conn:
            known = conn.execute(
                "SELECT 1 FROM foreign_entries WHERE origin = ? AND seq = ?",
                (origin, event["seq"]),
            ).fetchone()
            if known is None:
                conn.execute(
                    "INSERT INTO foreign_entries (local_size, cursor, origin, station, seq, "
                    "leaf, dossier, action, claimed_time, proof, officer_cert, station_cert) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.store.size(),
                        cursor,
                        origin,
                        event["station"],
                        event["seq"],
                        leaf,
                        event["dossier"],
                        event["action"],
                        event["claimed_time"],
                        item["proof"],
                        orjson.dumps(item["officer_cert"]).decode(),
                        orjson.dumps(item["station_cert"]).decode(),
                    ),
                )
                apply_foreign(conn, event)
                self.report.pulled += 1
            self.store.set_meta("feed_cursor", str(cursor))

    def _check_revocation(self, station_cert: Mapping[str, Any], origin: str, seq: int) -> None:
        raw = self.store.meta("revocations")
        if raw is None:
            return
        for entry in _revoked_keys(orjson.loads(raw)):
            if entry.get("key_id") != station_cert.get("key_id"):
                continue
            through = entry.get("through")  # the key signed validly before this log size
            if entry.get("origin") in (None, origin) and (
                not isinstance(through, int) or seq >= through
            ):
                raise FeedItemRefused("revoked", f"khóa trạm {entry.get('key_id')} đã bị thu hồi")

    def _apply_record(self, kind: str, item: dict[str, Any], cursor: int) -> None:
        record = item.get("record")
        want = {
            "catalog": "commune.catalog-update/v1",
            "calendar": "commune.calendar-update/v1",
            "revocation": "commune.revocations/v1",
        }[kind]
        if not isinstance(record, dict) or record.get("type") != want:
            raise FeedItemRefused("bad-record", f"cần bản ghi {want}")
        try:
            verify_record(record, self.hub.issuer_public)
        except LedgerError as exc:
            raise FeedItemRefused("bad-record", exc.message) from exc
        if kind == "catalog":
            self._apply_catalog(record, cursor)
        elif kind == "calendar":
            self._apply_calendar(record, cursor)
        else:
            with self.store.write():
                self.store.set_meta("revocations", orjson.dumps(record).decode())
                self.store.set_meta("feed_cursor", str(cursor))
        self.report.pulled += 1

    def _apply_catalog(self, record: dict[str, Any], cursor: int) -> None:
        from commune_client.catalog import parse_catalog

        items = record.get("procedures")
        if not isinstance(items, list):
            raise FeedItemRefused("bad-record", "danh mục không có procedures")
        try:
            procedures = parse_catalog(orjson.dumps(items), "catalog-update.json")
        except LedgerError as exc:
            raise FeedItemRefused("bad-record", exc.message) from exc
        rows = [(p.code, p.model_dump_json(exclude_none=True), int(p.demo)) for p in procedures]
        with self.store.write() as conn:
            conn.executemany(
                "INSERT INTO catalog (code, data, demo) VALUES (?, ?, ?) ON CONFLICT (code) "
                "DO UPDATE SET data = excluded.data, demo = excluded.demo",
                rows,
            )
            self.store.set_meta("feed_cursor", str(cursor))

    def _apply_calendar(self, record: dict[str, Any], cursor: int) -> None:
        fields = {k: record[k] for k in ("version", "holidays", "makeup_workdays") if k in record}
        try:
            data = to_record(CalendarUpdateData.model_validate(fields))
        except ValidationError as exc:
            raise FeedItemRefused("bad-record", str(exc.errors(include_url=False)[:2])) from exc
        row = self.store.conn.execute(
            "SELECT leaf FROM entries WHERE action = 'calendar-update' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is not None and orjson.loads(row[0])["data"] == data:  # already the calendar
            with self.store.write():
                self.store.set_meta("feed_cursor", str(cursor))
            return

        def prepare(store: Store) -> dict[str, Any]:
            store.set_meta("feed_cursor", str(cursor))  # in the event's own transaction
            return {
                "claimed_time": iso(self.now()),
                "beacon": self.session.beacon(),
                "dossier": None,
                "action": "calendar-update",
                "data": data,
            }

        self.session.record(prepare, signer=self.session.station_key)


def _revoked_keys(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries of a `commune.revocations/v1` record: {key_id, station, origin, through}."""
    value = record.get("revocations")
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def sync(
    station: Station,
    session: Session,
    *,
    client: httpx.Client,
    server_url: str | None = None,
    progress: ProgressFn | None = None,
    policy: RetryPolicy | None = None,
    now: Callable[[], datetime] = clock.now,
) -> SyncReport:
    """One sync round (push, scans, pull); never raises for hub or network trouble: the report
    says what happened (`problem`, `message`, `quarantined`, `warnings`)."""
    agent = SyncAgent(
        station,
        session,
        client=client,
        server_url=server_url,
        progress=progress,
        policy=policy,
        now=now,
    )
    return agent.run()
