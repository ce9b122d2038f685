"""`commune-audit ledger FILE --trust KIT`: audit an office's exported ledger (docs/audit.md).

Over `audit.ledger`: FILE is `commune export-ledger` output. Exit 0: no error finding (warnings
may remain, e.g. a clock anomaly). Exit 1: at least one error finding. Exit 2: the file is not a
ledger export or the kit cannot be used (one line on stderr).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from audit.evidence import EvidenceInputError, read_trust_kit
from audit.ledger import AuditInputError, AuditReport, audit_ledger
from ledger.cliutil import emit_json
from ledger.errors import LedgerError

__all__ = ["ledger"]

SHOWN = 200  # findings printed in the human output (all of them are in --json)


@click.command("ledger")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--trust",
    "kit_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The trust kit (sync-server trust-kit, or commune trust-kit for a stand-alone station).",
)
@click.option("--schema", is_flag=True, help="Also validate every event against the data contract.")
@click.option(
    "--checkpoint-signatures",
    type=click.Choice(["all", "evidence"]),
    default="all",
    show_default=True,
    help="'evidence': verify the station's signature only on the latest checkpoint and on any "
    "that disagrees with the log (every checkpoint is still compared with the tree).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes that verify the entries' signatures (one per core is fastest).",
)
@click.option(
    "--now",
    "at",
    metavar="TIME",
    help="The audit's time, RFC 3339 (default: this computer's clock): no entry may be newer.",
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.pass_context
def ledger(
    ctx: click.Context,
    file: Path,
    kit_path: Path,
    schema: bool,
    checkpoint_signatures: str,
    workers: int,
    at: str | None,
    as_json: bool,
) -> int:
    """Audit an exported ledger offline: signatures, chain, tree, checkpoints, cosignatures,
    revocations, time brackets, dossier states and Biểu 06."""
    now = None
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            raise click.BadParameter(
                f"{at!r} is not an RFC 3339 time with offset", param_hint="--now"
            )
    try:
        kit = read_trust_kit(kit_path)
    except EvidenceInputError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        report = audit_ledger(
            file,
            kit,
            now=now,
            schema=schema,
            checkpoint_signatures="evidence" if checkpoint_signatures == "evidence" else "all",
            workers=workers,
        )
    except AuditInputError as exc:
        raise click.ClickException(exc.message) from exc
    except LedgerError as exc:  # the kit
        raise click.ClickException(f"{exc.title}: {exc.message}") from exc
    if as_json or bool((ctx.obj or {}).get("json")):
        emit_json({"type": "commune.ledger-audit/v1", "file": str(file), **report.to_json()})
    else:
        click.echo(_text(report, file))
    return 0 if report.ok else 1


def _text(report: AuditReport, file: Path) -> str:
    counts = report.counts
    head = "SỔ HỢP LỆ / LEDGER VERIFIED" if report.ok else "SỔ CÓ LỖI / LEDGER HAS ERRORS"
    lines = [
        f"{head}: {file}",
        f"  sổ / log {report.origin} (trạm / station {report.station}), "
        f"khóa tin cậy ký bởi / kit signed by {report.kit_signed_by}",
        f"  {report.entries} bản ghi / entries, gốc / root {report.root}",
        f"  {report.checkpoints} điểm kiểm tra của trạm / station checkpoints "
        f"({report.checkpoint_signatures_verified} chữ ký đã kiểm / signatures verified), "
        f"{report.cosigned_verified}/{report.cosigned} được máy chủ xác nhận / hub-cosigned",
        f"  {report.dossiers_compared} hồ sơ đã đối chiếu / dossiers compared"
        + (
            f", {len(report.dossiers_not_compared)} không đối chiếu được / not compared"
            if report.dossiers_not_compared
            else ""
        )
        + (f"; Biểu 06: {report.months[0]} .. {report.months[-1]}" if report.months else ""),
        f"  {counts['error']} lỗi / errors, {counts['warning']} cảnh báo / warnings, "
        f"{counts['info']} ghi chú / notes",
    ]
    for f in report.findings[:SHOWN]:
        where = f"#{f.index}" if f.index is not None else "-"
        lines.append(f"[{f.severity}] {where} {f.code}: {f.message_vi} / {f.message_en}")
    if len(report.findings) > SHOWN:
        rest = len(report.findings) - SHOWN
        lines.append(f"... {rest} phát hiện nữa / more findings (--json lists them all)")
        lines.append("  " + ", ".join(f"{k}: {v}" for k, v in report.by_code().items()))
    return "\n".join(lines)
