"""Biểu 06: the pure report functions live in `schemas.reports`, shared with the hub's dashboard
so that an office and its aggregator count the same dossiers the same way."""

from schemas.reports import (
    UNKNOWN_FIELD,
    VN_TZ,
    Bieu06,
    FieldReport,
    PendingCounts,
    Period,
    ReceivedCounts,
    ResolvedCounts,
    awaiting_supplement,
    bieu06,
    due_within_24h,
    overdue,
)

__all__ = [
    "UNKNOWN_FIELD",
    "VN_TZ",
    "Bieu06",
    "FieldReport",
    "PendingCounts",
    "Period",
    "ReceivedCounts",
    "ResolvedCounts",
    "awaiting_supplement",
    "bieu06",
    "due_within_24h",
    "overdue",
]
