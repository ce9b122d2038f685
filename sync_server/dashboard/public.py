"""Pages without a login: the login form itself and the citizens' receipt check.

The receipt check verifies everything offline-style against the hub's own trust kit
(`ledger.receipt.verify_receipt`), and only for a genuine receipt adds the dossier's current
status from the hub. It shows nothing personal: the code, the procedure, the dates and the
status, never the applicant's name, number or address (even though the receipt carries them).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from ledger.receipt import parse_receipt_input, verify_receipt
from sync_server.dashboard import accounts, security
from sync_server.dashboard.web import Web

__all__ = ["public_router"]

MAX_RECEIPT = 64 * 1024
KIT_TTL = 60.0


class _KitCache:
    """The hub's signed trust kit, rebuilt at most once a minute (it signs and reads every
    station: cheap, but not per request)."""

    def __init__(self, web: Web) -> None:
        self.web, self.at, self.lock = web, 0.0, threading.Lock()
        self.kit: dict[str, Any] | None = None

    def get(self) -> dict[str, Any]:
        with self.lock:
            if self.kit is None or time.monotonic() - self.at > KIT_TTL:
                self.kit, self.at = self.web.hub.trust_kit(), time.monotonic()
            kit: dict[str, Any] = self.kit
            return kit


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never an open redirect.
    if target and target.startswith("/dashboard") and not target.startswith("//"):
        return target
    return "/dashboard/"


def public_router(web: Web) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    hub = web.hub
    kits = _KitCache(web)

    @router.get("/dashboard/login")
    def login_form(request: Request) -> Response:
        viewer = web.viewer(request)
        if viewer.user is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        context = {"next": _safe_next(request.query_params.get("next")), "error": None}
        return web.page(request, viewer, "login.html", context)

    @router.post("/dashboard/login")
    async def login(request: Request) -> Response:
        viewer = web.viewer(request)
        form = await web.form(request, viewer)
        username = str(form.get("username", "")).strip().lower()[:64]
        target = _safe_next(str(form.get("next", "")))
        ip_ok, ip_wait = web.login_by_ip.hit(security.client_ip(request))
        user_ok, user_wait = web.login_by_user.hit(username or "-")
        if not (ip_ok and user_ok):
            wait = max(ip_wait, user_wait)
            context = {"next": target, "error": viewer.t("too_many", s=wait)}
            response = web.page(request, viewer, "login.html", context, 429)
            response.headers["Retry-After"] = str(wait)
            return response
        # The argon2 work runs between two short transactions: no write lock is held while
        # hashing (on SQLite a login would otherwise stall ingest).
        opened = accounts.login(hub.storage, username, str(form.get("password", "")), hub.now())
        if opened is None:
            context = {"next": target, "error": viewer.t("bad_login")}
            return web.page(request, viewer, "login.html", context, 401)
        _, token, _ = opened
        done = RedirectResponse(target, 303)
        security.set_session_cookie(request, done, token)
        return web.finish(request, viewer, done)

    @router.post("/dashboard/logout")
    async def logout(request: Request) -> Response:
        viewer = web.viewer(request)
        if viewer.user is None:
            return RedirectResponse("/dashboard/login", 303)
        await web.form(request, viewer)
        if viewer.token is not None:
            with hub.storage.transaction() as tx:
                accounts.close_session(tx, viewer.token)
        response = RedirectResponse("/dashboard/login", 303)
        security.clear_session_cookie(response)
        return web.finish(request, viewer, response)

    @router.get("/check")
    def check_form(request: Request) -> Response:
        viewer = web.viewer(request)
        return web.page(request, viewer, "check.html", {"verdict": None, "payload": ""})

    @router.post("/check")
    async def check(request: Request) -> Response:
        viewer = web.viewer(request)
        allowed, wait = web.checks_by_ip.hit(security.client_ip(request))
        if not allowed:
            context = {"verdict": None, "payload": "", "error": viewer.t("too_many", s=wait)}
            response = web.page(request, viewer, "check.html", context, 429)
            response.headers["Retry-After"] = str(wait)
            return response
        form = await web.form(request, viewer)
        text = str(form.get("payload", "") or "")
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(MAX_RECEIPT + 1)
            text = raw.decode("utf-8", "replace")
        if not text.strip():
            context = {"verdict": None, "payload": "", "error": viewer.t("empty")}
            return web.page(request, viewer, "check.html", context, 400)
        if len(text) > MAX_RECEIPT:
            text = text[:MAX_RECEIPT]
        try:
            receipt = parse_receipt_input(text)
        except Exception as exc:  # any undecodable input is simply not a genuine receipt
            receipt = {"unreadable": str(exc)}
        verdict = verify_receipt(receipt, kits.get())
        status = None
        if verdict.genuine and verdict.code:
            with hub.storage.transaction() as tx:
                found = tx.dossiers([verdict.code]).get(verdict.code)
            if found is not None and found["state"] is not None:
                state = found["state"]
                status = {
                    "status": state.get("status"),
                    "due_at": state.get("due_at"),
                    "updated_at": state.get("updated_at"),
                }
        answer = {"verdict": verdict, "status": status, "payload": ""}
        return web.page(request, viewer, "check.html", answer, 200 if verdict.genuine else 422)

    @router.get("/")
    def root() -> Response:
        return RedirectResponse("/check", 303)

    return router
