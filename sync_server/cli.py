"""`sync-server`: the hub's command line (DESIGN section 8).

Settings come from options, else `SYNC_SERVER_*` environment variables (`sync_server.settings`):
with neither, the hub keeps a SQLite file in the user data directory, so `sync-server serve`
just works.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from ledger.cliutil import emit_json, run
from sync_server import __version__


class Ctx:
    def __init__(self, as_json: bool, db: str | None, name: str | None) -> None:
        self.json = as_json
        self.db = db
        self.name = name

    def hub(self) -> Any:
        from sync_server.errors import HubError
        from sync_server.hub import Hub
        from sync_server.settings import HubSettings
        from sync_server.storage import StorageError, open_storage

        settings = HubSettings()
        try:
            storage = open_storage(self.db or settings.db, default_dir=settings.data_dir)
            return Hub(storage, name=self.name or settings.name)
        except (StorageError, HubError) as exc:
            raise click.ClickException(str(exc)) from exc

    def out(self, document: Any, human: str) -> None:
        if self.json:
            emit_json(document)
        else:
            click.echo(human)


def _hub_errors(fn: Any) -> Any:
    """HubError (bad office code, unknown station...) becomes the CLI's exit 2 + one line."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sync_server.errors import HubError

        try:
            return fn(*args, **kwargs)
        except HubError as exc:
            raise click.ClickException(f"{exc.code}: {exc.detail}") from exc

    return wrapper


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="sync-server")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.option("--db", envvar="SYNC_SERVER_DB", help="sqlite:///PATH or postgresql://...")
@click.option("--name", envvar="SYNC_SERVER_NAME", help="The hub's name (a domain).")
@click.pass_context
def cli(ctx: click.Context, as_json: bool, db: str | None, name: str | None) -> None:
    """Hub that gathers every office's signed records and forwards them to the portal."""
    ctx.obj = Ctx(as_json, db, name)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@cli.command()
@click.option("--db", "db_opt", help="sqlite:///PATH or postgresql://... (default: SQLite)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8470, show_default=True, type=int)
@click.option("--portal-url", multiple=True, help="Provincial portal endpoint(s) (issue 6).")
@click.option("--log-level", default="info", show_default=True)
@click.pass_obj
def serve(
    obj: Ctx, db_opt: str | None, host: str, port: int, portal_url: tuple[str, ...], log_level: str
) -> None:
    """Run the hub (uvicorn)."""
    import logging

    import uvicorn

    from sync_server.app import JsonLogFormatter, create_app

    if db_opt:
        obj.db = db_opt
    hub = obj.hub()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("sync_server")
    logger.handlers[:] = [handler]
    logger.setLevel(log_level.upper())
    logger.propagate = False
    logger.info(
        "hub starting",
        extra={"fields": {"name": hub.name, "db": hub.storage.url, "host": host, "port": port}},
    )
    uvicorn.run(create_app(hub), host=host, port=port, log_level="warning", access_log=False)


@cli.group()
def office() -> None:
    """Offices registered on this hub."""


@office.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The office's name (e.g. UBND xã Tân Lập).")
@click.pass_obj
@_hub_errors
def office_add(obj: Ctx, code: str, name: str) -> None:
    """Register an office (or add a station to it) and print a one-time enrolment token."""
    answer = obj.hub().add_office(code, name)
    obj.out(
        answer, f"{answer['token']}\n(one-time token for {code}, valid until {answer['expires']})"
    )


@office.command("list")
@click.pass_obj
def office_list(obj: Ctx) -> None:
    hub = obj.hub()
    with hub.storage.transaction() as tx:
        offices = tx.offices()
        stations = tx.stations()
    rows = [
        {
            **o,
            "stations": [
                {"station": s.ref, "size": s.size, "origin": s.origin, "forked": s.forked}
                for s in stations
                if s.office == o["code"]
            ],
        }
        for o in offices
    ]
    obj.out(rows, "\n".join(f"{o['code']}  {o['name']}  {len(o['stations'])} trạm" for o in rows))


@cli.group()
def station() -> None:
    """Enrolled stations."""


@station.command("revoke")
@click.argument("sid")
@click.option("--reason", required=True)
@click.option("--through", type=int, help="Last valid log size (default: what the hub holds).")
@click.pass_obj
@_hub_errors
def station_revoke(obj: Ctx, sid: str, reason: str, through: int | None) -> None:
    """Revoke a station key by log position (a lost or stolen PC)."""
    answer = obj.hub().revoke(sid, reason, through)
    obj.out(answer, f"revoked {sid} after entry {answer['through']}")


@cli.command("trust-kit")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def trust_kit(obj: Ctx, file: Path) -> None:
    """Write the signed trust kit an auditor needs (issuer and hub keys, stations, revocations)."""
    import orjson

    kit = obj.hub().trust_kit()
    data = orjson.dumps(kit, option=orjson.OPT_INDENT_2) + b"\n"
    file.write_bytes(data)
    obj.out(
        {"file": str(file), "stations": len(kit["stations"]), "bytes": len(data)},
        f"{file}: {len(kit['stations'])} stations, {len(data)} bytes",
    )


@cli.command()
@click.argument("kind", type=click.Choice(["calendar", "catalog"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--office", "offices", multiple=True, help="Only these offices (default: all).")
@click.pass_obj
def publish(obj: Ctx, kind: str, file: Path, offices: tuple[str, ...]) -> None:
    """Send a signed calendar (holidays) or catalogue update to the offices' feeds."""
    import orjson

    try:
        body = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{file} is not JSON: {exc}") from exc
    if kind == "catalog" and isinstance(body, list):
        body = {"procedures": body}
    if not isinstance(body, dict):
        raise click.ClickException(f"{file} must hold a JSON object")
    count = obj.hub().publish(kind, body, list(offices) or None)
    obj.out({"kind": kind, "offices": count}, f"{kind} sent to {count} offices")


@cli.command()
@click.pass_obj
def openapi(obj: Ctx) -> None:
    """Print the HTTP API's OpenAPI document."""
    from sync_server.openapi import openapi_document

    emit_json(openapi_document())


def main() -> NoReturn:
    run(cli, "sync-server")
