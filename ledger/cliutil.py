"""Plumbing shared by the three console scripts (DESIGN section 8's exit-code contract).

Exit 0 on success, 1 when the command ran but found a problem, 2 on bad usage or bad input with
one line on stderr. A user mistake never shows a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
import orjson

from ledger.errors import LedgerError

__all__ = ["EXIT_BAD_INPUT", "EXIT_PROBLEM", "emit_json", "run"]

EXIT_PROBLEM = 1
EXIT_BAD_INPUT = 2


def emit_json(document: Any) -> None:
    """Print exactly one JSON document on stdout (the `--json` contract)."""
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n")


def run(group: click.Command, prog: str, argv: Sequence[str] | None = None) -> NoReturn:
    """Run a click command with the contract's exit codes and one-line errors."""
    try:
        result = group.main(
            args=list(argv) if argv is not None else None, prog_name=prog, standalone_mode=False
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        _fail(prog, exc.format_message())
    except click.ClickException as exc:
        _fail(prog, exc.format_message())
    except click.Abort:
        _fail(prog, "aborted")
    except LedgerError as exc:
        _fail(prog, f"{exc.title}: {exc.message}")
    sys.exit(result if isinstance(result, int) else 0)


def _fail(prog: str, message: str) -> NoReturn:
    line = " ".join(message.split())
    sys.stderr.write(f"{prog}: {line}\n")
    sys.exit(EXIT_BAD_INPUT)
