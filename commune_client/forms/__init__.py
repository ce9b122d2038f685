"""Printable forms (PDF, fpdf2) and spreadsheets (openpyxl) from plain record dicts.

Pure rendering: no database, no Textual. A `dossier` is a `schemas.dossier.Dossier` record as
`schemas.types.to_record` gives it; times are RFC 3339 strings and print in Vietnam's time zone.
The fonts (DejaVu Sans, regular and bold) are bundled in `fonts/` with their licence, so every
Vietnamese letter prints the same on every machine. PDFs are deterministic: the same input gives
the same bytes (the creation date comes from the record's own times).

- `receipt_pdf`: Form 01, receipt and appointment, with the receipt's QR code (A5);
- `supplement_request_pdf` (Form 02), `refusal_pdf` (Form 03), `apology_pdf` (A5);
- `control_slip_pdf`: the control slip of hand-offs (A4);
- `tracking_book_xlsx`: the tracking book; `report_xlsx`: report Biểu 06 (II.06a).
"""

from __future__ import annotations

from commune_client.forms.context import FormContext
from commune_client.forms.control_slip import control_slip_pdf
from commune_client.forms.notices import apology_pdf, refusal_pdf, supplement_request_pdf
from commune_client.forms.receipt_form import receipt_pdf
from commune_client.forms.spreadsheets import report_xlsx, tracking_book_xlsx

__all__ = [
    "FormContext",
    "apology_pdf",
    "control_slip_pdf",
    "receipt_pdf",
    "refusal_pdf",
    "report_xlsx",
    "supplement_request_pdf",
    "tracking_book_xlsx",
]
