"""The aggregator's pages (aggregator and auditor roles): overview, office, dossier, portal,
exports; and the aggregator-only actions (register an office, reconcile now)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from schemas.reports import VN_TZ
from sync_server.dashboard import queries
from sync_server.dashboard.charts import trend_svg
from sync_server.dashboard.export import bieu06_xlsx
from sync_server.dashboard.web import Web
from sync_server.errors import HubError

if TYPE_CHECKING:
    from sync_server.portal.service import PortalService

__all__ = ["PAGE_SIZE", "SORTS", "pages_router"]

PAGE_SIZE = 100
READERS = ("aggregator", "auditor")
SORTS: dict[str, Any] = {
    "code": lambda r: r.code,
    "name": lambda r: r.name,
    "sync": lambda r: -1 if r.last_sync_unix is None else r.last_sync_unix,
    "waiting": lambda r: r.waiting,
    "clock": lambda r: r.clock_anomalies,
    "forks": lambda r: r.forks,
    "backlog": lambda r: r.portal_backlog,
    "open": lambda r: r.open,
    "overdue": lambda r: r.overdue,
    "on_time": lambda r: -1.0 if r.on_time_rate is None else r.on_time_rate,
}


def _period(request: Request, now: int) -> tuple[date, date] | None:
    today = datetime.fromtimestamp(now, VN_TZ).date()
    try:
        start = date.fromisoformat(
            request.query_params.get("from") or today.replace(day=1).isoformat()
        )
        end = date.fromisoformat(request.query_params.get("to") or today.isoformat())
    except ValueError:
        return None
    if start > end or (end - start) > timedelta(days=3 * 366):
        return None
    return start, end


def _fold(text: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in plain if not unicodedata.combining(c)).casefold()


def pages_router(web: Web, portal: PortalService | None) -> APIRouter:
    router = APIRouter(prefix="/dashboard", include_in_schema=False)
    hub = web.hub

    @router.get("/")
    def overview(request: Request) -> Response:
        viewer = web.member(request, *READERS)
        now = hub.now()
        with hub.storage.transaction() as tx:
            rows = queries.overview(tx, now)
        q = request.query_params.get("q", "").strip()[:80]
        stale_only = request.query_params.get("stale") == "1"
        if q:
            folded = _fold(q)
            rows = [r for r in rows if folded in _fold(r.code) or folded in _fold(r.name)]
        if stale_only:
            rows = [r for r in rows if r.stale]
        sort = request.query_params.get("sort", "sync")
        sort = sort if sort in SORTS else "sync"
        desc = request.query_params.get("desc", "0" if sort in ("code", "name", "sync") else "1")
        rows.sort(key=SORTS[sort], reverse=desc == "1")
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(page, pages)
        shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]

        def link(**change: Any) -> str:
            params = {"q": q, "stale": "1" if stale_only else "", "sort": sort, "desc": desc}
            params.update({k: str(v) for k, v in change.items()})
            return "?" + urlencode({k: v for k, v in params.items() if v})

        context = {
            "rows": shown,
            "count": len(rows),
            "stale_count": sum(1 for r in rows if r.stale),
            "now": now,
            "q": q,
            "stale_only": stale_only,
            "sort": sort,
            "desc": desc,
            "page": page,
            "pages": pages,
            "link": link,
        }
        return web.page(request, viewer, "overview.html", context)

    @router.get("/offices/{code}")
    def office(code: str, request: Request) -> Response:
        viewer = web.member(request, *READERS)
        now = hub.now()
        period = _period(request, now)
        if period is None:
            return web.page(request, viewer, "error.html", {"message": "bad_period"}, 400)
        with hub.storage.transaction() as tx:
            view = queries.office_view(tx, code, period[0], period[1], now)
        if view is None:
            return web.page(request, viewer, "error.html", {"message": "not_found"}, 404)
        chart = trend_svg(view["trend"], (viewer.t("received"), viewer.t("resolved")))
        context = {**view, "chart": chart, "period": period, "now": now}
        return web.page(request, viewer, "office.html", context)

    @router.get("/dossiers")
    def dossier_lookup(request: Request) -> Response:
        viewer = web.member(request, *READERS)
        code = request.query_params.get("code", "").strip()
        if not code:
            return web.page(request, viewer, "error.html", {"message": "not_found"}, 404)
        return RedirectResponse(f"/dashboard/dossiers/{code}", 303)

    @router.get("/dossiers/{code}")
    def dossier(code: str, request: Request) -> Response:
        viewer = web.member(request, *READERS)
        with hub.storage.transaction() as tx:
            view = queries.dossier_view(tx, code)
            names = {o["code"]: o["name"] for o in tx.offices()}
        if view is None:
            return web.page(
                request, viewer, "error.html", {"message": "not_found", "what": code}, 404
            )
        return web.page(request, viewer, "dossier.html", {**view, "names": names})

    @router.get("/portal")
    def portal_page(request: Request) -> Response:
        viewer = web.member(request, *READERS)
        with hub.storage.transaction() as tx:
            view = queries.portal_view(tx, hub.now())
        context = {
            **view,
            "configured": portal is not None,
            "started": "started" in request.query_params,
        }
        return web.page(request, viewer, "portal.html", context)

    @router.post("/portal/reconcile")
    async def reconcile_now(request: Request) -> Response:
        viewer = web.member(request, "aggregator")
        await web.form(request, viewer)
        if portal is None:
            return web.page(request, viewer, "error.html", {"message": "no_portal"}, 409)
        threading.Thread(target=_reconcile, args=(portal,), daemon=True).start()
        return RedirectResponse("/dashboard/portal?started=1", 303)

    @router.get("/exports")
    def exports(request: Request) -> Response:
        viewer = web.member(request, *READERS)
        now = hub.now()
        period = _period(request, now)
        return web.page(request, viewer, "exports.html", {"period": period})

    @router.get("/exports/bieu06.xlsx")
    def export_bieu06(request: Request) -> Response:
        viewer = web.member(request, *READERS)
        period = _period(request, hub.now())
        if period is None:
            return web.page(request, viewer, "error.html", {"message": "bad_period"}, 400)
        chosen = [c for c in request.query_params.get("offices", "").split(",") if c.strip()]
        with hub.storage.transaction() as tx:
            total, per = queries.province_bieu06(tx, *period, offices=chosen or None)
        body = bieu06_xlsx(total, per, f"Trung tâm {hub.name}")
        name = f"bieu06-{period[0].isoformat()}-{period[1].isoformat()}.xlsx"
        response = Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
        return web.finish(request, viewer, response)

    @router.post("/offices")
    async def add_office(request: Request) -> Response:
        viewer = web.member(request, "aggregator")
        form = await web.form(request, viewer)
        code, name = str(form.get("code", "")).strip(), str(form.get("name", "")).strip()
        try:
            made = hub.add_office(code, name)
        except HubError as exc:
            return web.page(request, viewer, "error.html", {"message": exc.detail}, 400)
        return web.page(request, viewer, "token.html", {"made": made})

    return router


def _reconcile(portal: PortalService) -> None:
    import logging

    try:
        portal.reconcile()
    except Exception:  # the report or the error log says what happened; never kill the hub
        logging.getLogger("sync_server").exception("reconciliation from the dashboard failed")
