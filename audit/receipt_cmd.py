"""`commune-audit receipt FILE|- --trust KIT`: is this receipt genuine? (docs/audit.md)

Over `ledger.receipt`: the input is the receipt JSON (`commune receipt CODE`) or the QR payload
(`commune receipt CODE --text`, `CLR1.` ...), from a file or standard input; every check runs
offline against the trust kit. Exit 0: genuine. Exit 1: not genuine (the first failed check is
the reason; every check is listed). Exit 2: the input is not a receipt or the kit cannot be read.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click

from audit.evidence import EvidenceInputError, read_trust_kit
from ledger.cliutil import emit_json
from ledger.errors import ReceiptError
from ledger.receipt import MAX_INPUT, ReceiptVerdict, parse_receipt_input, verify_receipt

__all__ = ["receipt_cmd"]


def _read(file: str) -> bytes:
    try:
        if file == "-":
            return sys.stdin.buffer.read(MAX_INPUT + 1)
        with open(file, "rb") as fh:
            return fh.read(MAX_INPUT + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc


@click.command("receipt")
@click.argument("file")
@click.option(
    "--trust",
    "kit_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The trust kit (sync-server trust-kit, or commune trust-kit for a stand-alone station).",
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.pass_context
def receipt_cmd(ctx: click.Context, file: str, kit_path: Path, as_json: bool) -> int:
    """Verify a receipt (JSON or QR text; - for standard input) offline with a trust kit."""
    data = _read(file)
    try:
        receipt = parse_receipt_input(data)
    except ReceiptError as exc:
        raise click.ClickException(f"{exc.message_en} / {exc.message_vi}") from exc
    try:
        kit = read_trust_kit(kit_path)
    except EvidenceInputError as exc:
        raise click.ClickException(exc.message) from exc
    verdict = verify_receipt(receipt, kit.raw)
    if as_json or bool((ctx.obj or {}).get("json")):
        emit_json(asdict(verdict))
    else:
        click.echo(_text(verdict))
    return 0 if verdict.genuine else 1


_MARK = {True: "[ok]", False: "[!!]", None: "[--]"}


def _text(verdict: ReceiptVerdict) -> str:
    if verdict.genuine:
        lines = ["BIÊN NHẬN HỢP LỆ / GENUINE RECEIPT"]
    else:
        failed = next(c for c in verdict.checks if c.ok is False)
        lines = [
            f"BIÊN NHẬN KHÔNG HỢP LỆ / NOT GENUINE: {verdict.reason}",
            f"  {failed.message_vi}",
            f"  {failed.message_en}",
        ]
        if verdict.reason == "revocation" and all(
            c.ok is not False for c in verdict.checks if c.name != "revocation"
        ):  # every other link holds: a lost PC's receipt (docs/audit.md "Lost or stolen")
            lines.append(
                "  Biên nhận do máy đã mất cấp sau lần đồng bộ cuối: trạm thay thế có thể xác "
                "nhận lại (commune reattest) / issued by a lost PC after its last sync: the "
                "replacement station can re-attest it (commune reattest)"
            )
    if verdict.code:
        proc = verdict.procedure or {}
        lines.append(
            f"Hồ sơ / dossier {verdict.code} ({proc.get('code')} {proc.get('name')}), trạm / "
            f"station {verdict.station}, bản ghi / entry {verdict.index}, nhận / received "
            f"{verdict.received_at}"
        )
    if verdict.not_after:
        lines.append(f"Máy chủ xác nhận muộn nhất / cosigned by the hub at {verdict.not_after}")
    lines += [f"{_MARK[c.ok]} {c.name}: {c.message_vi} / {c.message_en}" for c in verdict.checks]
    return "\n".join(lines)
