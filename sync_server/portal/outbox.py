"""The portal outbox: every stored dossier change reaches the provincial system exactly once.

Exactly once over a channel that loses answers (docs/portal.md "Outbox"):
- dossier records are idempotent by nature (a create that exists is sent as an update);
- progress rows are not re-sent blindly: when a call's outcome is unknown the dossier is marked
  `uncertain`, and the next attempt first asks the portal (`TraCuuHoSo`) which rows it holds;
- per dossier, attempts back off exponentially with full jitter (tenacity's wait strategy), and
  a circuit breaker stops all calls during an outage, probing once per cool-down;
- state lives in the hub database, so a restart (or another hub process) carries on; a claimed
  dossier is leased for `store.LEASE_SECONDS`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import tenacity

from sync_server.portal import store
from sync_server.portal.adapter import (
    MAX_ROWS,
    PortalClient,
    PortalError,
    PortalRefused,
    PortalUnavailable,
)
from sync_server.portal.mapping import (
    Names,
    applied_steps,
    dossier_record,
    progress_rows,
    row_key,
)
from sync_server.settings import PortalSettings
from sync_server.storage import Storage, Tx

__all__ = ["CircuitBreaker", "FileLinks", "Outbox", "PassReport"]

log = logging.getLogger("sync_server.portal")


class CircuitBreaker:
    """Closed -> open after `failures` consecutive transport failures; while open nothing is
    called until the cool-down ends, then one probe (half-open) decides. The cool-down doubles
    on each failed probe. (A dozen lines: the libraries we looked at wrap calls in their own
    state and clocks, and ours must follow the outbox's clock, simulated in tests.)"""

    def __init__(self, clock: Callable[[], float], failures: int, cooldown: float, cap: float):
        self.clock, self.failures, self.base, self.cap = clock, failures, cooldown, cap
        self.count = 0
        self.open_until = 0.0
        self.cooldown = cooldown
        self.lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.count < self.failures:
            return "closed"
        return "open" if self.clock() < self.open_until else "half-open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        with self.lock:
            self.count, self.cooldown = 0, self.base

    def failure(self, retry_after: float | None = None) -> None:
        with self.lock:
            self.count += 1
            if self.count >= self.failures:
                self.open_until = self.clock() + max(self.cooldown, retry_after or 0)
                self.cooldown = min(self.cooldown * 2, self.cap)


class FileLinks:
    """Expiring links to scans for `DuongDanTaiTepTin`: HMAC over (hash, expiry) with a key
    kept in the hub database. The expiry is rounded to a day so a record's links are stable
    within a day (an unchanged record compares equal)."""

    def __init__(self, storage: Storage, public_url: str, days: int, clock: Callable[[], float]):
        with storage.transaction() as tx:
            key = tx.set_meta_once("portal_link_key", secrets.token_hex(32))
        self.key = bytes.fromhex(key)
        self.base = public_url.rstrip("/")
        self.days = days
        self.clock = clock

    def sign(self, sha: str, expires: int) -> str:
        return store.link_signature(self.key, sha, expires)

    def url(self, sha: str) -> str:
        day = 86400
        expires = (int(self.clock()) // day + 1 + self.days) * day
        return f"{self.base}/v1/portal/files/{sha}?exp={expires}&sig={self.sign(sha, expires)}"


@dataclass
class Work:
    """One claimed dossier during a pass."""

    code: str
    agency: str
    row: store.PortalRow
    record: dict[str, Any]
    rows: list[dict[str, Any]]
    version: int
    record_done: bool = False
    rows_sent: int = 0
    uncertain: bool = False
    error: PortalError | None = None
    waiting: bool = False
    """Not tried: an earlier call for it may still be running at the portal."""

    @property
    def done(self) -> bool:
        return self.record_done and self.rows_sent == len(self.rows) and self.error is None


@dataclass
class PassReport:
    claimed: int = 0
    accepted: int = 0
    failed: int = 0
    refused: int = 0
    calls_blocked: bool = False
    errors: list[str] = field(default_factory=list)


class Outbox:
    def __init__(
        self,
        storage: Storage,
        client: PortalClient,
        settings: PortalSettings,
        *,
        clock: Callable[[], float],
        on_event: Callable[[str, int], None] | None = None,
    ) -> None:
        self.storage = storage
        self.client = client
        self.settings = settings
        self.clock = clock
        self.on_event = on_event  # (what, n) -> metrics
        self.links = FileLinks(storage, settings.public_url, settings.file_link_days, clock)
        self.breaker = CircuitBreaker(
            clock, settings.breaker_failures, settings.breaker_cooldown, settings.backoff_max
        )
        self.wait = tenacity.wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max, min=1
        )
        self._names: dict[str, str] = {}
        self._unanswered: dict[str, float] = {}  # code -> when a rows call went unanswered
        self.settle_seconds = 2 * settings.timeout + 1
        self._pool = ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="portal")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def now(self) -> int:
        return int(self.clock())

    def backoff(self, attempts: int) -> float:
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempts
        return float(self.wait(state))

    # -- names for the mapping --

    def _names_for(self, tx: Tx) -> Names:
        cache = self._names

        def office_name(code: str) -> str:
            key = "o:" + code
            if key not in cache:
                office = tx.office(code)
                cache[key] = office["name"] if office else code
            return cache[key]

        def officer_name(key_id: str) -> str:
            key = "k:" + key_id
            if key not in cache:
                cert = tx.cert(key_id)
                cache[key] = str(cert["name"]) if cert else key_id
            return cache[key]

        return Names(office_name, officer_name, self.links.url)

    # -- one pass --

    def run_once(self, limit: int | None = None, codes: Sequence[str] | None = None) -> PassReport:
        """Claim due dossiers and forward them, `settings.batch` per batch, batches in
        parallel. Returns what happened; never raises for anything the portal does."""
        report = PassReport()
        if not self.breaker.allow():
            report.calls_blocked = True
            return report
        now = self.now()
        half_open = self.breaker.state == "half-open"
        want = 1 if half_open else (limit or self.settings.batch * self.settings.workers)
        claimed = self.storage.run(lambda tx: store.claim_due(tx, now, want, codes=codes))
        report.claimed = len(claimed)
        if not claimed:
            return report
        size = self.settings.batch
        batches = [claimed[i : i + size] for i in range(0, len(claimed), size)]
        for works in self._pool.map(self._batch, batches):
            for w in works:
                if w.done:
                    report.accepted += 1
                else:
                    report.failed += 1
                    report.refused += isinstance(w.error, PortalRefused)
                    if w.error is not None and len(report.errors) < 5:
                        report.errors.append(f"{w.code}: {w.error}")
        return report

    def drain(self, *, max_passes: int = 1_000_000) -> PassReport:
        """Pass after pass until nothing is due now (or the breaker opens)."""
        total = PassReport()
        for _ in range(max_passes):
            r = self.run_once()
            total.claimed += r.claimed
            total.accepted += r.accepted
            total.failed += r.failed
            total.refused += r.refused
            total.errors = (total.errors + r.errors)[:10]
            if r.calls_blocked or r.claimed == 0:
                total.calls_blocked = r.calls_blocked
                break
        return total

    def _load(self, codes: Sequence[str]) -> list[Work]:
        works: list[Work] = []
        with self.storage.transaction() as tx:
            names = self._names_for(tx)
            rows = store.portal_rows(tx, codes)
            for code in codes:
                steps = applied_steps(store.dossier_events(tx, code))
                if not steps:  # every event was a conflict: nothing to forward yet
                    continue
                state = steps[-1].state
                works.append(
                    Work(
                        code=code,
                        agency=code.rsplit("-", 2)[0],
                        row=rows[code],
                        record=dossier_record(state, steps, names),
                        rows=progress_rows(steps, names),
                        version=int(state["version"]),
                        record_done=rows[code].at_portal
                        and rows[code].sent_version >= int(state["version"]),
                        rows_sent=rows[code].rows_sent,
                        uncertain=rows[code].uncertain,
                    )
                )
        return works

    def _batch(self, codes: list[str]) -> list[Work]:
        try:
            works = self._load(codes)
        except Exception:  # a bug or a database error: retry later, never lose the row
            log.exception("portal outbox: could not load dossiers", extra={"fields": {}})
            self.storage.run(lambda tx: self._release(tx, codes, "internal error"))
            return []
        # A call we gave up on may still be running at the portal: asking (or sending) too
        # early would see the rows missing, send them again, and then the late call lands
        # too (or an old record lands over a newer one). Let it settle first.
        now = time.monotonic()
        for w in works:
            since = self._unanswered.get(w.code)
            if since is not None and now - since < self.settle_seconds:
                w.error, w.waiting = PortalUnavailable("settling", "an unanswered call"), True
            else:
                self._unanswered.pop(w.code, None)
        try:
            self._resolve_uncertain(works)
            self._send_records(works)
            self._send_rows(works)
        except Exception as exc:  # never let a pass die with rows claimed
            log.exception("portal outbox pass failed", extra={"fields": {}})
            for w in works:
                if not w.done and w.error is None:
                    w.error = PortalUnavailable("internal", f"{type(exc).__name__}: {exc}")
        self.storage.run(lambda tx: self._record(tx, works))
        return works

    def _call(self, w: Sequence[Work], service: str, fn: Callable[[], Any]) -> Any:
        """Run one portal call for `w`; on failure set each work's error and return None."""
        try:
            result = fn()
        except PortalRefused as exc:
            self.breaker.success()  # the portal answered: it is up
            for one in w:
                one.error = exc
            self._log(service, exc, [x.code for x in w])
            return None
        except PortalUnavailable as exc:
            self.breaker.failure(exc.retry_after)
            given_up = time.monotonic()
            for one in w:
                one.error = exc
                if service != "TraCuuHoSo":  # a look-up writes nothing: no need to settle
                    self._unanswered[one.code] = given_up
            self._log(service, exc, [x.code for x in w])
            return None
        self.breaker.success()
        return result if result is not None else True

    def _log(self, service: str, exc: PortalError, codes: list[str]) -> None:
        log.warning(
            "portal call failed",
            extra={"fields": {"service": service, "kind": exc.kind, "code": exc.code,
                              "detail": exc.detail[:200], "dossiers": codes[:5]}},
        )  # fmt: skip
        now = self.now()
        self.storage.run(
            lambda tx: store.log_error(tx, now, service, exc.kind, exc.code, exc.detail, codes)
        )
        if self.on_event:
            self.on_event(f"error:{exc.kind}", 1)

    def _resolve_uncertain(self, works: list[Work]) -> None:
        """Ask the portal what it holds of each dossier whose last call had no answer."""
        for w in works:
            if not w.uncertain or w.waiting:
                continue
            found = self._call([w], "TraCuuHoSo", partial(self.client.lookup, w.agency, w.code))
            if found is None:
                return  # the portal is not answering: stop this batch here
            if found is True:  # not found: nothing of it reached the portal
                w.record_done, w.rows_sent = False, 0
                w.row.at_portal = False
            else:
                held = {row_key(r) for r in found.get("TienDoXuLy", []) if isinstance(r, dict)}
                n = 0
                while n < len(w.rows) and row_key(w.rows[n]) in held:
                    n += 1
                w.rows_sent = n
                w.row.at_portal = True
                record = {k: v for k, v in found.items() if k != "TienDoXuLy"}
                w.record_done = record == w.record
            w.uncertain = False

    def _send_records(self, works: list[Work]) -> None:
        todo = [w for w in works if not w.record_done and not w.uncertain and w.error is None]
        creates = [w for w in todo if not w.row.at_portal]
        updates = [w for w in todo if w.row.at_portal]
        for group, update in ((creates, False), (updates, True)):
            by_agency: dict[str, list[Work]] = {}
            for w in group:
                by_agency.setdefault(w.agency, []).append(w)
            for agency, ws in by_agency.items():
                if len(ws) > 1 and not self._send_many(agency, ws, update):
                    continue
                # One by one: isolates a refused record, and turns "exists" into an update.
                for w in ws:
                    if w.record_done or w.error is not None:
                        continue
                    ok = self._call(
                        [w],
                        "DongBoHoSoMC",
                        partial(
                            self.client.put_dossier, w.agency, w.record, exists=w.row.at_portal
                        ),
                    )
                    if ok is not None:
                        w.record_done = True
                        w.row.at_portal = True

    def _send_many(self, agency: str, ws: list[Work], update: bool) -> bool:
        """One call for many records. False when done (or failed for now); True when the
        records should go one by one (the portal refused the batch as a whole)."""
        records = [w.record for w in ws]
        for as_update in (True,) if update else (False, True):
            try:
                self.client.sync_dossiers(agency, records, update=as_update)
            except PortalRefused as exc:
                self.breaker.success()
                # A create refused because some exist (an earlier answer was lost): when they
                # all exist, one update call does it; otherwise go one by one.
                if not as_update and exc.code == "5":
                    continue
                return True
            except PortalUnavailable as exc:
                self.breaker.failure(exc.retry_after)
                given_up = time.monotonic()
                for w in ws:
                    w.error = exc
                    self._unanswered[w.code] = given_up
                self._log("DongBoHoSoMC", exc, [w.code for w in ws])
                return False
            self.breaker.success()
            for w in ws:
                w.record_done = True
                w.row.at_portal = True
            return False
        return True

    def _send_rows(self, works: list[Work]) -> None:
        """Rows in chunks of at most 10, each dossier's rows in order, chunk after chunk: a
        chunk with no answer marks its dossiers uncertain and ends the batch."""
        ready = [w for w in works if w.record_done and w.error is None and not w.uncertain]
        for agency in sorted({w.agency for w in ready}):
            queue = [
                (w, i) for w in ready if w.agency == agency for i in range(w.rows_sent, len(w.rows))
            ]
            for start in range(0, len(queue), MAX_ROWS):
                chunk = queue[start : start + MAX_ROWS]
                members = list({id(w): w for w, _ in chunk}.values())
                if any(w.error is not None for w in members):
                    continue
                try:
                    self.client.add_progress(agency, [w.rows[i] for w, i in chunk])
                except PortalUnavailable as exc:
                    self.breaker.failure(exc.retry_after)
                    given_up = time.monotonic()
                    for w in members:
                        w.uncertain, w.error = True, exc
                        self._unanswered[w.code] = given_up
                    self._log("CapNhatTienDoHoSoMC", exc, [w.code for w in members])
                    return
                except PortalRefused as exc:
                    self.breaker.success()
                    for w in members:
                        w.error = exc
                    self._log("CapNhatTienDoHoSoMC", exc, [w.code for w in members])
                    continue
                self.breaker.success()
                for w, i in chunk:
                    w.rows_sent = i + 1

    def _record(self, tx: Tx, works: list[Work]) -> None:
        now = self.now()
        for w in works:
            common = {
                "at_portal": int(w.row.at_portal),
                "sent_version": w.version if w.record_done else 0,
                "rows_sent": w.rows_sent,
                "uncertain": int(w.uncertain),
            }
            if w.done:
                store.update(tx, w.code, **common)
                store.finish(tx, w.code, w.version, now)
                continue
            if w.waiting:  # not an attempt: look again shortly
                store.update(tx, w.code, next_unix=now + 1)
                continue
            attempts = w.row.attempts + 1
            delay = self.backoff(attempts)
            if isinstance(w.error, PortalUnavailable) and w.error.retry_after:
                delay = max(delay, w.error.retry_after)
            store.update(
                tx,
                w.code,
                **common,
                attempts=attempts,
                next_unix=now + int(delay),
                refused=int(isinstance(w.error, PortalRefused)),
                last_error=str(w.error)[:500] if w.error else "not finished",
            )
        if self.on_event:
            self.on_event("accepted", sum(w.done for w in works))

    def _release(self, tx: Tx, codes: Sequence[str], why: str) -> None:
        now = self.now()
        for code in codes:
            store.update(tx, code, next_unix=now + 60, last_error=why)
