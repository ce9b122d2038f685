"""The aggregator's web dashboard and the public receipt check (docs/dashboard.md).

Server-rendered pages (Jinja2, one stylesheet, no JavaScript needed) mounted on the hub's
FastAPI app by `install`; they are left out of the API's OpenAPI document. The headless parts
(`queries`, `export`, `charts`) import no web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sync_server.hub import Hub
    from sync_server.portal.service import PortalService

__all__ = ["install"]


def install(app: FastAPI, hub: Hub, portal: PortalService | None = None) -> None:
    from pathlib import Path

    from fastapi import Request
    from fastapi.responses import Response
    from fastapi.staticfiles import StaticFiles

    from sync_server.dashboard.pages import pages_router
    from sync_server.dashboard.public import public_router
    from sync_server.dashboard.web import Denied, Web

    web = Web(hub)
    app.include_router(public_router(web))
    app.include_router(pages_router(web, portal))
    static = StaticFiles(directory=str(Path(__file__).parent / "static"))
    app.mount("/dashboard/static", static, name="dashboard-static")

    @app.exception_handler(Denied)
    async def denied(_: Request, exc: Denied) -> Response:
        return exc.response
