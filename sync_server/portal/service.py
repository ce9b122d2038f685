"""The portal side of a running hub: the adapter, the outbox worker thread, periodic
reconciliation, catalogue import, and the counters `/metrics` shows."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

import httpx

from sync_server.hub import Hub
from sync_server.portal import store
from sync_server.portal.adapter import PortalClient, PortalError
from sync_server.portal.mapping import catalogue_from_portal
from sync_server.portal.outbox import Outbox
from sync_server.portal.reconcile import Reconciliation, reconcile
from sync_server.settings import PortalSettings

__all__ = ["PortalService"]

log = logging.getLogger("sync_server.portal")

IDLE_SECONDS = 1.0
ERRORS_KEPT_SECONDS = 30 * 86400


class PortalService:
    def __init__(
        self,
        hub: Hub,
        settings: PortalSettings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.calls: Counter[tuple[str, str]] = Counter()
        self.events: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.client = PortalClient(settings, transport=transport, on_call=self._on_call)
        self.outbox = Outbox(
            hub.storage, self.client, settings, clock=hub.clock, on_event=self._on_event
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_reconcile = 0.0

    def _on_call(self, service: str, outcome: str) -> None:
        with self._lock:
            self.calls[(service, outcome)] += 1

    def _on_event(self, what: str, n: int) -> None:
        with self._lock:
            self.events[what] += n

    # -- the worker --

    def start(self) -> None:
        self.last_reconcile = time.time()  # the first periodic run waits one period
        self._thread = threading.Thread(target=self._run, name="portal-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.outbox.close()
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.outbox.run_once()
                busy = report.claimed > 0 and not report.calls_blocked
                every = self.settings.reconcile_every
                if every and time.time() - self.last_reconcile >= every:
                    self.last_reconcile = time.time()
                    self.reconcile()
            except Exception:  # the database is down, a bug: log, wait, go on
                log.exception("portal worker error", extra={"fields": {}})
                busy = False
            if not busy:
                self._stop.wait(IDLE_SECONDS)

    # -- operations --

    def reconcile(self, offices: list[str] | None = None) -> Reconciliation:
        result = reconcile(
            self.hub.storage, self.client, clock=self.hub.clock, outbox=self.outbox, offices=offices
        )
        log.info("reconciliation", extra={"fields": {**result.totals(), "at": result.at_unix}})
        now = self.hub.now()
        self.hub.storage.run(lambda tx: store.prune_errors(tx, now - ERRORS_KEPT_SECONDS))
        return result

    def import_catalogue(self, offices: list[str] | None = None) -> dict[str, Any]:
        """`LayDanhSachTTHC` -> a signed catalogue update in the offices' feeds."""
        items = self.client.catalogue()
        procedures, refused = catalogue_from_portal(items)
        if not procedures:
            raise PortalError("empty", "the portal's catalogue has no usable procedure")
        version = time.strftime("portal-%Y%m%d%H%M%S", time.gmtime(self.hub.now()))
        sent = self.hub.publish("catalog", {"version": version, "procedures": procedures}, offices)
        return {
            "version": version,
            "procedures": len(procedures),
            "refused": refused,
            "offices": sent,
        }

    def status(self) -> dict[str, Any]:
        now = self.hub.now()
        with self.hub.storage.transaction() as tx:
            document = store.status(tx, now)
        with self._lock:
            calls = {f"{s}:{o}": n for (s, o), n in sorted(self.calls.items())}
        return {
            "portal": self.settings.url,
            "breaker": self.outbox.breaker.state,
            **document,
            "calls": calls,
        }

    def metrics_text(self) -> str:
        now = self.hub.now()
        with self.hub.storage.transaction() as tx:
            backlog = store.backlog(tx, now)
        lines = ["# TYPE hub_portal_calls_total counter"]
        with self._lock:
            for (service, outcome), n in sorted(self.calls.items()):
                lines.append(
                    f'hub_portal_calls_total{{service="{service}",outcome="{outcome}"}} {n}'
                )
        for key in ("outbox_rows", "dossiers_pending", "dossiers_uncertain", "dossiers_refused"):
            lines += [f"# TYPE hub_portal_{key} gauge", f"hub_portal_{key} {backlog[key]}"]
        lines += [
            "# TYPE hub_portal_breaker_open gauge",
            f"hub_portal_breaker_open {int(self.outbox.breaker.state == 'open')}",
        ]
        return "\n".join(lines) + "\n"
