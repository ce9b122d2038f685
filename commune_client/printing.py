"""Forms, the tracking book and Biểu 06 for a station: gathers the data, renders with
`commune_client.forms` and `commune_client.reports`, writes files atomically."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from commune_client import forms, reports
from commune_client.clock import iso
from commune_client.errors import BadInput, NotFound
from commune_client.queries import timeline
from commune_client.receipts import qr_payload, receipt_for
from commune_client.station import Station

__all__ = ["all_dossiers", "form_context", "report", "write_book", "write_form"]


def form_context(station: Station, officer_name: str = "") -> forms.FormContext:
    info = station.info
    raw = station.store.meta("forms")
    extra = orjson.loads(raw) if raw else {}
    return forms.FormContext(
        parent_agency=extra.get("parent_agency", ""),
        unit_name=extra.get("unit_name", info.office_name.upper()),
        office_code=info.office,
        place=extra.get("place", ""),
        officer_name=officer_name,
    )


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise BadInput(f"Không ghi được tệp {path}: {exc.strerror}") from exc


def _last(rows: list[dict[str, Any]], action: str) -> dict[str, Any]:
    for row in reversed(rows):
        if row["action"] == action:
            found: dict[str, Any] = row
            return found
    raise NotFound(f"Hồ sơ chưa có thao tác «{action}» để in phiếu này")


def write_form(station: Station, code: str, form: str, path: Path) -> None:
    state = station.dossier(code)
    if state is None:
        raise NotFound(f"Không tìm thấy hồ sơ {code}")
    rows = timeline(station, code)
    received_by = rows[0]["officer"] if rows else ""
    ctx = form_context(station, received_by)
    if form == "receipt":
        pdf = forms.receipt_pdf(ctx, state, qr_payload(receipt_for(station, code)))
    elif form == "supplement":
        row = _last(rows, "request-supplement")
        data = _event_data(station, code, row["seq"])
        pdf = forms.supplement_request_pdf(
            ctx,
            state,
            reason=data["reason"],
            documents=data.get("documents", []),
            officer=row["officer"],
            at=row["at"],
        )
    elif form == "refusal":
        row = _last(rows, "refuse")
        pdf = forms.refusal_pdf(
            ctx, state, reason=row["note"], officer=row["officer"], at=row["at"]
        )
    elif form == "apology":
        row = _last(rows, "reschedule")
        data = _event_data(station, code, row["seq"])
        pdf = forms.apology_pdf(
            ctx,
            state,
            reason=data["reason"],
            new_due=data["new_due"],
            officer=row["officer"],
            at=row["at"],
        )
    elif form == "control-slip":
        slip = [
            {
                "step": r["step"],
                "from": r["officer"],
                "to": r["officer"],
                "at": r["at"],
                "due": r["due"],
                "timeliness": r["timeliness"],
                "note": r["note"],
            }
            for r in rows
        ]
        pdf = forms.control_slip_pdf(ctx, state, slip)
    else:
        raise BadInput(f"Không có mẫu {form!r}")
    _write(path, pdf)


def _event_data(station: Station, code: str, seq: int) -> dict[str, Any]:
    leaf = station.store.leaf(seq)
    assert leaf is not None
    data: dict[str, Any] = orjson.loads(leaf)["data"]
    return data


def all_dossiers(station: Station) -> Iterator[dict[str, Any]]:
    for (state,) in station.store.conn.execute("SELECT state FROM dossiers ORDER BY received_at"):
        yield orjson.loads(state)


def write_book(station: Station, path: Path) -> int:
    dossiers = list(all_dossiers(station))
    _write(path, forms.tracking_book_xlsx(form_context(station), dossiers))
    return len(dossiers)


def report(
    station: Station, date_from: date, date_to: date, *, now: datetime, xlsx: Path | None = None
) -> dict[str, Any]:
    dossiers = list(all_dossiers(station))  # once: parsing every state is the cost here
    try:
        doc: dict[str, Any] = dict(reports.bieu06(dossiers, date_from, date_to))
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    doc["due_within_24h"] = [d["code"] for d in reports.due_within_24h(dossiers, now)]
    doc["awaiting_supplement"] = [d["code"] for d in reports.awaiting_supplement(dossiers)]
    doc["generated_at"] = iso(now)
    if xlsx is not None:
        _write(
            xlsx,
            forms.report_xlsx(
                form_context(station),
                doc,
                period_from=date_from.isoformat(),
                period_to=date_to.isoformat(),
            ),
        )
        doc["xlsx"] = str(xlsx)
    return doc
