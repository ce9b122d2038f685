"""Printable forms (PDF, fpdf2) and spreadsheets (openpyxl) from plain record dicts.

Pure rendering: no database, no Textual. Fonts: DejaVu Sans, bundled in `fonts/` (see its
LICENSE-DejaVu.txt), so every Vietnamese letter prints the same on every machine.
"""

from __future__ import annotations

from commune_client.forms.context import FormContext
from commune_client.forms.receipt_form import receipt_pdf

__all__ = ["FormContext", "receipt_pdf"]
