"""What every dashboard page shares: templates, the viewer (who is asking, in which language),
CSRF tokens, security headers and the refusals (login redirect, 403, 404, 429) as HTML pages.

Sessions live in the hub database (`accounts`), so several hub processes share them. Forms
carry a CSRF token: the session's for a logged-in user, else a random value that must match
the `hub_csrf` cookie (double submit), so even the login and the public check refuse a post
made from another site.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from schemas.reports import VN_TZ
from sync_server.dashboard import accounts, security
from sync_server.dashboard.i18n import LANGS, Translator
from sync_server.hub import Hub

__all__ = ["ANON_CSRF_COOKIE", "Denied", "Viewer", "Web"]

HERE = Path(__file__).parent
ANON_CSRF_COOKIE = "hub_csrf"
LANG_COOKIE = "hub_lang"
# No inline script or style anywhere: the policy forbids them.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class Viewer:
    t: Translator
    user: str | None = None
    role: str | None = None
    csrf: str = ""
    token: str | None = None
    set_anon_csrf: bool = False

    @property
    def lang(self) -> str:
        return self.t.lang


class Denied(Exception):
    """Answered as an HTML page (or a redirect to the login page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _datetime(value: Any) -> str:
    """RFC 3339 text or a unix time as `dd/mm/yyyy HH:MM` in Vietnam time."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float):
        at = datetime.fromtimestamp(value, VN_TZ)
    else:
        try:
            at = datetime.fromisoformat(str(value)).astimezone(VN_TZ)
        except ValueError:
            return str(value)
    return at.strftime("%d/%m/%Y %H:%M")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


class Web:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["dt"] = _datetime
        self.templates.env.filters["pct"] = _percent
        self.login_by_ip = security.RateLimiter(10, 300)
        self.login_by_user = security.RateLimiter(5, 300)
        self.checks_by_ip = security.RateLimiter(30, 60)

    # -- who is asking --
    def viewer(self, request: Request) -> Viewer:
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "vi"
        viewer = Viewer(t=Translator(lang))
        token = request.cookies.get(security.COOKIE)
        if token:
            with self.hub.storage.transaction() as tx:
                found = accounts.session(tx, token, self.hub.now())
            if found is not None:
                viewer.user, viewer.role, viewer.csrf = found.username, found.role, found.csrf
                viewer.token = token
                return viewer
        anon = request.cookies.get(ANON_CSRF_COOKIE)
        if anon and len(anon) >= 32:
            viewer.csrf = anon
        else:
            viewer.csrf, viewer.set_anon_csrf = secrets.token_urlsafe(32), True
        return viewer

    def member(self, request: Request, *roles: str) -> Viewer:
        """The logged-in viewer, else a redirect to the login page; 403 for another role."""
        viewer = self.viewer(request)
        if viewer.user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise Denied(RedirectResponse(f"/dashboard/login?next={_quote(target)}", 303))
        if roles and viewer.role not in roles:
            raise Denied(self.page(request, viewer, "error.html", {"message": "forbidden"}, 403))
        return viewer

    async def form(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        """The posted form, after its CSRF token was checked (403 without one)."""
        try:
            form = await request.form(max_files=1, max_fields=20, max_part_size=256 * 1024)
        except Exception as exc:  # a malformed body: refused like a missing token
            raise Denied(
                self.page(request, viewer, "error.html", {"message": "csrf"}, 400)
            ) from exc
        submitted = form.get("csrf")
        if not isinstance(submitted, str) or not viewer.csrf:
            raise Denied(self.page(request, viewer, "error.html", {"message": "csrf"}, 403))
        if viewer.user is None:
            good = request.cookies.get(ANON_CSRF_COOKIE) == viewer.csrf
            good = good and secrets.compare_digest(submitted, viewer.csrf)
        else:
            good = security.csrf_ok(viewer.csrf, submitted)
        if not good:
            raise Denied(self.page(request, viewer, "error.html", {"message": "csrf"}, 403))
        return dict(form)

    # -- answers --
    def page(
        self,
        request: Request,
        viewer: Viewer,
        template: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> Response:
        response = self.templates.TemplateResponse(
            request,
            template,
            {"v": viewer, "t": viewer.t, "langs": LANGS, "path": request.url.path, **context},
            status_code=status,
        )
        return self.finish(request, viewer, response)

    def finish(self, request: Request, viewer: Viewer, response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if viewer.user is not None:
            response.headers["Cache-Control"] = "no-store"
        secure = request.url.scheme == "https"
        if viewer.set_anon_csrf:
            response.set_cookie(
                ANON_CSRF_COOKIE, viewer.csrf, httponly=True, samesite="lax", secure=secure
            )
        if request.query_params.get("lang") in LANGS:
            response.set_cookie(LANG_COOKIE, viewer.lang, samesite="lax", secure=secure)
        return response


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")
