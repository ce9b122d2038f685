"""Reusable widgets of the office app (procedure picker, QR, receipt preview)."""
