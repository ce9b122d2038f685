"""`sync-server`: the hub's command line (DESIGN section 8)."""

from __future__ import annotations

from typing import NoReturn

import click

from ledger.cliutil import run
from sync_server import __version__


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="sync-server")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """Hub that gathers every office's signed records and forwards them to the portal."""
    ctx.obj = {"json": as_json}
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def main() -> NoReturn:
    run(cli, "sync-server")
