"""`sync-server`: the hub's command line (DESIGN section 8).

Settings come from options, else `SYNC_SERVER_*` environment variables (`sync_server.settings`):
with neither, the hub keeps a SQLite file in the user data directory, so `sync-server serve`
just works.
"""

from __future__ import annotations

import os
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

    def portal(self, hub: Any, url: str | None, *, required: bool = True) -> Any:
        """The hub's portal service, or None when no portal is configured and not required."""
        from sync_server.portal.service import PortalService
        from sync_server.settings import PortalSettings

        settings = PortalSettings()
        if url:
            settings = settings.model_copy(update={"url": url})
        if not settings.url:
            if required:
                raise click.ClickException(
                    "no portal configured: give --portal-url or set SYNC_SERVER_PORTAL_URL"
                )
            return None
        return PortalService(hub, settings)

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
@click.option(
    "--portal-url",
    help="The provincial portal's base URL (else SYNC_SERVER_PORTAL_URL); unset: no forwarding.",
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--keep-alive",
    default=15,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds an idle connection stays open; keep a load balancer's idle timeout below it.",
)
@click.pass_obj
def serve(
    obj: Ctx,
    db_opt: str | None,
    host: str,
    port: int,
    portal_url: str | None,
    log_level: str,
    keep_alive: int,
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
    hub.warm()
    portal = obj.portal(hub, portal_url, required=False)
    if portal is not None:
        portal.start()
        logger.info("portal forwarding on", extra={"fields": {"portal": portal.settings.url}})
    try:
        # Forwarded headers only when the operator says a proxy is in front (docs/dashboard.md):
        # uvicorn would otherwise trust them from 127.0.0.1, and rate limits key on the address.
        uvicorn.run(
            create_app(hub, portal),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            # Longer than a client's idle pool (the station keeps idle connections 2 s), so a
            # request never goes out on a connection the hub is closing at that moment.
            timeout_keep_alive=keep_alive,
            proxy_headers=os.environ.get("SYNC_SERVER_TRUST_PROXY") == "1",
        )
    finally:
        if portal is not None:
            portal.stop()


@cli.group()
def portal() -> None:
    """The provincial portal: simulator, outbox, catalogue (docs/portal.md)."""


def _portal_url_option(fn: Any) -> Any:
    return click.option(
        "--portal-url", help="The portal's base URL (else SYNC_SERVER_PORTAL_URL)."
    )(fn)


@portal.command("status")
@_portal_url_option
@click.pass_obj
def portal_status(obj: Ctx, portal_url: str | None) -> None:
    """The outbox backlog and the portal's recent errors."""
    from sync_server.portal import store

    hub = obj.hub()
    now = hub.now()
    with hub.storage.transaction() as tx:
        document = store.status(tx, now)
    obj.out(
        document,
        f"outbox: {document['outbox_rows']} rows, {document['dossiers_pending']} dossiers pending "
        f"({document['dossiers_uncertain']} uncertain, {document['dossiers_refused']} refused), "
        f"{document['dossiers_accepted']} accepted by the portal",
    )


@portal.command("drain")
@_portal_url_option
@click.pass_obj
def portal_drain(obj: Ctx, portal_url: str | None) -> None:
    """Forward everything due now, then stop (the server does this continuously)."""
    hub = obj.hub()
    service = obj.portal(hub, portal_url)
    assert service is not None
    try:
        report = service.outbox.drain()
    finally:
        service.stop()
    document = {
        "claimed": report.claimed,
        "accepted": report.accepted,
        "failed": report.failed,
        "refused": report.refused,
        "breaker_open": report.calls_blocked,
        "errors": report.errors,
    }
    obj.out(document, f"{report.accepted} dossiers accepted, {report.failed} to retry")
    if report.failed:
        sys.exit(1)


@portal.command("catalogue")
@_portal_url_option
@click.option("--office", "offices", multiple=True, help="Only these offices (default: all).")
@click.pass_obj
def portal_catalogue(obj: Ctx, portal_url: str | None, offices: tuple[str, ...]) -> None:
    """Import the province's procedures (LayDanhSachTTHC) and send them to the offices."""
    from sync_server.portal.adapter import PortalError

    hub = obj.hub()
    service = obj.portal(hub, portal_url)
    assert service is not None
    try:
        answer = service.import_catalogue(list(offices) or None)
    except PortalError as exc:
        raise click.ClickException(f"the portal did not give its catalogue: {exc}") from exc
    finally:
        service.stop()
    obj.out(
        answer,
        f"{answer['procedures']} procedures sent to {answer['offices']} offices "
        f"({len(answer['refused'])} refused)",
    )


def _add_simulator() -> None:
    from sync_server.portal.simulator import simulate_command

    portal.add_command(simulate_command, "simulate")


_add_simulator()


@cli.command()
@_portal_url_option
@click.option("--office", "offices", multiple=True, help="Only these offices (default: all).")
@click.option("--no-repair", is_flag=True, help="Only report; do not re-send anything.")
@click.pass_obj
def reconcile(obj: Ctx, portal_url: str | None, offices: tuple[str, ...], no_repair: bool) -> None:
    """Compare the hub with the portal (count and digest per office and day), re-send what is
    missing or stale, report what only the portal has. Exit 1 if differences remain."""
    from sync_server.portal.reconcile import reconcile as run_reconcile

    hub = obj.hub()
    service = obj.portal(hub, portal_url)
    assert service is not None
    try:
        result = run_reconcile(
            hub.storage,
            service.client,
            clock=hub.clock,
            outbox=service.outbox,
            offices=list(offices) or None,
            repair=not no_repair,
        )
    finally:
        service.stop()
    document = result.as_dict()
    obj.out(
        document,
        f"{document['matched']} matched, {document['missing']} missing, "
        f"{document['stale']} stale, {document['extra']} only at the portal, "
        f"{document['in_flight']} in flight; {result.repaired} re-sent; "
        f"{result.bytes_exchanged} bytes in {result.calls} calls",
    )
    if result.still_different or document["extra"] or document["errors"]:
        sys.exit(1)


@cli.group()
def aggregates() -> None:
    """The dashboard's numbers kept at ingest (docs/dashboard.md "Aggregates")."""


@aggregates.command("rebuild")
@click.pass_obj
def aggregates_rebuild(obj: Ctx) -> None:
    """Recompute the dossier facts and office counters from the stored dossier states."""
    from sync_server.aggregates import rebuild

    hub = obj.hub()
    dossiers = hub.storage.run(rebuild)
    obj.out({"dossiers": dossiers}, f"aggregates rebuilt from {dossiers} dossiers")


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


@station.command("replace")
@click.argument("sid")
@click.option("--reason", required=True)
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 365))
@click.pass_obj
@_hub_errors
def station_replace(obj: Ctx, sid: str, reason: str, days: int) -> None:
    """A lost or stolen station PC: revoke its key at the last cosigned checkpoint and print
    the one-time token that enrols the replacement (`commune init ... --epoch N`)."""
    answer = obj.hub().replace(sid, reason, ttl_days=days)
    obj.out(
        answer,
        f"{answer['token']}\n(station {sid} revoked after entry {answer['through']}; the token "
        f"enrols its epoch {answer['epoch']} as {answer['new_station']}, valid until "
        f"{answer['expires']}: commune init ... --epoch {answer['epoch']} --enroll TOKEN)",
    )


@cli.group()
def auditor() -> None:
    """Auditors' read-only tokens for the audit API (`commune-audit hub`, docs/audit.md)."""


@auditor.command("token")
@click.argument("name")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 3650))
@click.pass_obj
@_hub_errors
def auditor_token(obj: Ctx, name: str, days: int) -> None:
    """Issue auditor NAME's bearer token (printed once; a new one replaces the old)."""
    answer = obj.hub().auditor_token(name, days=days)
    obj.out(
        answer,
        f"{answer['token']}\n(read-only token of auditor {answer['name']}, valid until "
        f"{answer['expires']}; shown only now)",
    )


@auditor.command("revoke")
@click.argument("name")
@click.pass_obj
@_hub_errors
def auditor_revoke(obj: Ctx, name: str) -> None:
    """Refuse auditor NAME's token from now on."""
    answer = obj.hub().auditor_revoke(name)
    obj.out(answer, f"token of auditor {answer['name']} revoked")


@auditor.command("list")
@click.pass_obj
def auditor_list(obj: Ctx) -> None:
    """Auditors with a token: expiry and whether it was revoked (never the token)."""
    rows = obj.hub().auditors()
    obj.out(
        rows,
        "\n".join(
            f"{r['name']}  until {r['expires']}" + ("  (revoked)" if r["revoked"] else "")
            for r in rows
        )
        or "(no auditor tokens)",
    )


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


@cli.group()
def user() -> None:
    """Dashboard accounts: aggregators act, auditors only read (docs/dashboard.md)."""


PASSWORD_ENV = "SYNC_SERVER_USER_PASSWORD"


def _account_errors(fn: Any) -> Any:
    """AccountError (bad name, short password, unknown user...) becomes exit 2 + one line."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sync_server.dashboard.accounts import AccountError

        try:
            return fn(*args, **kwargs)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _new_password(username: str) -> str:
    """From SYNC_SERVER_USER_PASSWORD; else, at a terminal, asked twice without echo (prompts on
    stderr, so --json still prints one document); else the first two lines of standard input,
    which must be equal."""
    import os

    from sync_server.dashboard.accounts import validate_password

    given = os.environ.get(PASSWORD_ENV)
    if given:
        return validate_password(given)
    if _stdin_is_tty():
        entered: str = click.prompt(
            f"Mật khẩu cho {username} / password for {username}",
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
        return validate_password(entered)
    first, second = sys.stdin.readline(), sys.stdin.readline()
    if not first or not second:  # end of input
        raise click.ClickException(
            f"no password given: set {PASSWORD_ENV}, run at a terminal, "
            "or give it twice on standard input (one line each)"
        )
    first, second = first.rstrip("\r\n"), second.rstrip("\r\n")
    if first != second:
        raise click.ClickException("the two passwords given on standard input differ")
    return validate_password(first)


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["aggregator", "auditor"]))
@click.pass_obj
@_account_errors
def user_add(obj: Ctx, username: str, role: str) -> None:
    """Create an account (password from SYNC_SERVER_USER_PASSWORD, else asked twice)."""
    from sync_server.dashboard import accounts

    accounts.validate_username(username)
    hub = obj.hub()
    with hub.storage.transaction() as tx:
        exists = accounts.get_user(tx, username) is not None
    if exists:
        raise accounts.AccountError(
            f"Tài khoản {username} đã tồn tại", f"an account named {username} already exists"
        )
    password = _new_password(username)
    with hub.storage.transaction() as tx:
        added = accounts.add_user(tx, username, password, role, now=hub.now())
    obj.out(added.as_dict(), f"{added.username} ({added.role}) created")


@user.command("list")
@click.pass_obj
def user_list(obj: Ctx) -> None:
    """Every account, enabled or not."""
    from sync_server.dashboard import accounts

    hub = obj.hub()
    with hub.storage.transaction() as tx:
        users = accounts.list_users(tx)
    obj.out(
        [u.as_dict() for u in users],
        "\n".join(
            f"{u.username}  {u.role}  {u.created_at}" + ("  (disabled)" if u.disabled else "")
            for u in users
        )
        or "(no accounts)",
    )


@user.command("disable")
@click.argument("username")
@click.pass_obj
@_account_errors
def user_disable(obj: Ctx, username: str) -> None:
    """Refuse the account's logins from now on and close its sessions."""
    from sync_server.dashboard import accounts

    hub = obj.hub()
    with hub.storage.transaction() as tx:
        closed = accounts.disable_user(tx, username)
    obj.out(
        {"username": username, "disabled": True, "sessions_closed": closed},
        f"{username} disabled ({closed} sessions closed)",
    )


@user.command("enable")
@click.argument("username")
@click.pass_obj
@_account_errors
def user_enable(obj: Ctx, username: str) -> None:
    """Allow a disabled account to log in again."""
    from sync_server.dashboard import accounts

    hub = obj.hub()
    with hub.storage.transaction() as tx:
        accounts.enable_user(tx, username)
    obj.out({"username": username, "disabled": False}, f"{username} enabled")


@user.command("passwd")
@click.argument("username")
@click.pass_obj
@_account_errors
def user_passwd(obj: Ctx, username: str) -> None:
    """Set a new password (SYNC_SERVER_USER_PASSWORD, else asked twice); closes its sessions."""
    from sync_server.dashboard import accounts

    hub = obj.hub()
    with hub.storage.transaction() as tx:
        exists = accounts.get_user(tx, username) is not None
    if not exists:
        raise accounts.AccountError(
            f"Không có tài khoản {username}", f"no account named {username}"
        )
    password = _new_password(username)
    with hub.storage.transaction() as tx:
        closed = accounts.set_password(tx, username, password)
    obj.out(
        {"username": username, "sessions_closed": closed},
        f"password changed for {username} ({closed} sessions closed)",
    )


def main() -> NoReturn:
    run(cli, "sync-server")
