"""`commune`: the office app's command line (DESIGN section 8)."""

from __future__ import annotations

from typing import NoReturn

import click

from commune_client import __version__
from ledger.cliutil import run


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="commune")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """Commune one-stop desk: receive dossiers and hand out signed receipts, offline."""
    ctx.obj = {"json": as_json}
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def main() -> NoReturn:
    run(cli, "commune")
