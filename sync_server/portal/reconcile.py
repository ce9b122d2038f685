"""Reconciliation: prove the hub and the portal agree, cheaply, and repair where they do not.

Per office (the portal's `madonvi`), dossiers are grouped by the day of receipt. Both sides
compute, per month and per day, the count and a digest of (code, status, version)
(docs/portal.md `DoiSoatHoSo`). Only months that differ are split into days, and only days
that differ are listed code by code: on a healthy province the whole exchange is one small
answer per office.
"""

from __future__ import annotations

import calendar
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from sync_server.portal import store
from sync_server.portal.adapter import PortalClient, PortalError
from sync_server.portal.outbox import Outbox
from sync_server.storage import Storage

__all__ = ["OfficeReport", "Reconciliation", "digest", "reconcile"]

ALL_DAYS = ("19700101", "29991231")


def digest(lines: Iterable[tuple[str, int, int]]) -> str:
    """The first 16 hex digits of SHA-256 over the sorted lines (docs/portal.md)."""
    h = hashlib.sha256()
    for code, status, version in sorted(lines):
        h.update(f"{code}\t{status}\t{version}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class OfficeReport:
    office: str
    dossiers: int = 0
    matched: int = 0
    missing: list[str] = field(default_factory=list)
    """At the hub, not at the portal."""
    stale: list[str] = field(default_factory=list)
    """At both, but the portal's status or version is behind (or otherwise differs)."""
    extra: list[str] = field(default_factory=list)
    """At the portal, unknown to the hub: reported, never deleted."""
    in_flight: list[str] = field(default_factory=list)
    """Different, but the outbox is already forwarding them."""
    months_differing: int = 0
    days_differing: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "office": self.office,
            "dossiers": self.dossiers,
            "matched": self.matched,
            "missing": len(self.missing),
            "stale": len(self.stale),
            "extra": len(self.extra),
            "in_flight": len(self.in_flight),
            "months_differing": self.months_differing,
            "days_differing": self.days_differing,
            "codes": {
                "missing": self.missing,
                "stale": self.stale,
                "extra": self.extra,
                "in_flight": self.in_flight,
            },
            "error": self.error,
        }


@dataclass
class Reconciliation:
    offices: list[OfficeReport]
    bytes_compared: int
    """Request and answer bodies of the comparison itself."""
    bytes_exchanged: int
    """Everything, the repairs included."""
    calls: int
    repaired: int
    still_different: int
    at_unix: int

    def totals(self) -> dict[str, int]:
        return {
            "dossiers": sum(o.dossiers for o in self.offices),
            "matched": sum(o.matched for o in self.offices),
            "missing": sum(len(o.missing) for o in self.offices),
            "stale": sum(len(o.stale) for o in self.offices),
            "extra": sum(len(o.extra) for o in self.offices),
            "in_flight": sum(len(o.in_flight) for o in self.offices),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.totals(),
            "repaired": self.repaired,
            "still_different": self.still_different,
            "bytes_compared": self.bytes_compared,
            "bytes_exchanged": self.bytes_exchanged,
            "calls": self.calls,
            "errors": [f"{o.office}: {o.error}" for o in self.offices if o.error],
            "at_unix": self.at_unix,
            "offices": [o.as_dict() for o in self.offices if o.error or o.dossiers],
        }


HubRow = tuple[str, str, int, int, bool]  # code, day, portal status, version, pending


def _hub_rows(storage: Storage, office: str) -> list[HubRow]:
    with storage.transaction() as tx:
        return [
            (r[0], r[1], int(r[2]), int(r[3]), bool(r[4]))
            for r in tx.all(
                "SELECT code, day, pstatus, version, pending FROM portal_dossiers "
                "WHERE office = ? ORDER BY code",
                (office,),
            )
        ]


def _periods(rows: Sequence[HubRow], width: int) -> dict[str, tuple[int, str]]:
    groups: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for code, day, status, version, _ in rows:
        groups[day[:width]].append((code, status, version))
    return {k: (len(v), digest(v)) for k, v in groups.items()}


def _portal_periods(answer: list[Any]) -> dict[str, tuple[int, str]]:
    return {str(p["ky"]): (int(p["soluong"]), str(p["digest"])) for p in answer}


def _month_range(month: str) -> tuple[str, str]:
    last = calendar.monthrange(int(month[:4]), int(month[4:6]))[1]
    return f"{month}01", f"{month}{last:02d}"


def reconcile_office(client: PortalClient, storage: Storage, office: str) -> OfficeReport:
    report = OfficeReport(office)
    rows = _hub_rows(storage, office)
    report.dossiers = len(rows)
    by_code = {r[0]: r for r in rows}
    hub_months = _periods(rows, 6)
    portal_months = _portal_periods(client.summary(office, "thang", *ALL_DAYS))
    months = sorted(
        m for m in hub_months.keys() | portal_months.keys()
        if hub_months.get(m) != portal_months.get(m)
    )  # fmt: skip
    report.months_differing = len(months)
    differing_days: list[str] = []
    for month in months:
        in_month = [r for r in rows if r[1][:6] == month]
        hub_days = _periods(in_month, 8)
        portal_days = _portal_periods(client.summary(office, "ngay", *_month_range(month)))
        differing_days += sorted(
            d for d in hub_days.keys() | portal_days.keys()
            if hub_days.get(d) != portal_days.get(d)
        )  # fmt: skip
    report.days_differing = len(differing_days)
    seen_differing: set[str] = set()
    for day in differing_days:
        portal = {
            str(p["MaHoSo"]): (int(p["TrangThaiHoSo"]), int(p["PhienBan"]))
            for p in client.summary(office, "hoso", day, day)
        }
        hub_codes = {r[0] for r in rows if r[1] == day}
        for code in sorted(hub_codes | portal.keys()):
            if code in seen_differing:  # listed on another day too (the days disagree)
                continue
            seen_differing.add(code)
            mine = by_code.get(code)
            theirs = portal.get(code)
            if mine is None:
                report.extra.append(code)
            elif theirs == (mine[2], mine[3]):
                report.matched += 1
            elif mine[4]:
                report.in_flight.append(code)
            elif theirs is None:
                report.missing.append(code)
            else:
                report.stale.append(code)
    report.matched += sum(1 for r in rows if r[0] not in seen_differing)
    return report


def reconcile(
    storage: Storage,
    client: PortalClient,
    *,
    clock: Callable[[], float],
    outbox: Outbox | None = None,
    offices: Sequence[str] | None = None,
    repair: bool = True,
) -> Reconciliation:
    """Compare every office (or `offices`); with `repair`, queue what the portal lacks or has
    stale and, given an `outbox`, forward it at once. The report is kept for the dashboard."""
    sent, received = client.bytes_sent, client.bytes_received
    calls_before = _calls(client)
    if offices is None:
        with storage.transaction() as tx:
            known = {o["code"] for o in tx.offices()}
            known |= {r[0] for r in tx.all("SELECT DISTINCT office FROM portal_dossiers")}
        offices = sorted(known)
    reports: list[OfficeReport] = []
    for office in offices:
        try:
            reports.append(reconcile_office(client, storage, office))
        except (PortalError, KeyError, TypeError, ValueError) as exc:
            reports.append(OfficeReport(office, error=f"{type(exc).__name__}: {exc}"))
    now = int(clock())
    compared = client.bytes_sent - sent + client.bytes_received - received
    repairs = [(c, False) for o in reports for c in o.missing]
    repairs += [(c, True) for o in reports for c in o.stale]
    if not repair:
        repairs = []

    def requeue(tx: Any) -> None:
        for code, stale in repairs:
            fields: dict[str, Any] = {"rows_sent": 0, "sent_version": 0}
            if stale:  # the portal has part of it: ask before re-sending any row
                fields.update(uncertain=1, at_portal=1)
            else:
                fields.update(uncertain=0, at_portal=0)
            store.requeue(tx, code, now, **fields)

    if repairs:
        storage.run(requeue)
    repaired = 0
    if outbox is not None and repairs:
        codes = [c for c, _ in repairs]
        for start in range(0, len(codes), outbox.settings.batch):
            passed = outbox.run_once(codes=codes[start : start + outbox.settings.batch])
            repaired += passed.accepted
    result = Reconciliation(
        offices=reports,
        bytes_compared=compared,
        bytes_exchanged=client.bytes_sent - sent + client.bytes_received - received,
        calls=_calls(client) - calls_before,
        repaired=repaired,
        still_different=sum(len(o.missing) + len(o.stale) for o in reports) - repaired,
        at_unix=now,
    )
    document = orjson.dumps(result.as_dict()).decode()
    storage.run(
        lambda tx: tx._q(
            "INSERT INTO portal_reports (at_unix, kind, report) VALUES (?, 'reconcile', ?)",
            (now, document),
        )
    )
    return result


def _calls(client: PortalClient) -> int:
    return client.calls
