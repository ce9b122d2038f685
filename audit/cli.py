"""`commune-audit`: the auditor's command line (DESIGN section 8).

Each verb lives in its own module and registers here; all of them work offline except `hub`,
which fetches from a hub and then verifies locally.
"""

from __future__ import annotations

from typing import NoReturn

import click

from audit import __version__
from audit.hub_cmd import evidence_cmd, hub_cmd
from audit.ledger_cmd import ledger
from audit.receipt_cmd import receipt_cmd
from ledger.cliutil import run


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="commune-audit")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """Verify receipts, office ledgers and hub checkpoints offline."""
    ctx.obj = {"json": as_json}
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


# -- verbs (one module each) --
cli.add_command(receipt_cmd)  # audit/receipt_cmd.py
cli.add_command(ledger)  # audit/ledger_cmd.py
cli.add_command(hub_cmd)  # audit/hub_cmd.py
cli.add_command(evidence_cmd)  # audit/hub_cmd.py


def main() -> NoReturn:
    run(cli, "commune-audit")
