"""The device clock. `COMMUNE_NOW` (RFC 3339) sets it for tests and demos; receipts still carry
the hub's time brackets that expose a wrong clock (DESIGN section 8)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from commune_client.errors import BadInput

__all__ = ["VN_TZ", "iso", "now"]

VN_TZ = timezone(timedelta(hours=7))  # Vietnam has no daylight saving time


def now() -> datetime:
    fixed = os.environ.get("COMMUNE_NOW")
    if fixed:
        try:
            value = datetime.fromisoformat(fixed)
        except ValueError as exc:
            raise BadInput(f"COMMUNE_NOW không phải thời điểm RFC 3339: {fixed!r}") from exc
        if value.tzinfo is None:
            raise BadInput("COMMUNE_NOW phải có múi giờ, ví dụ 2026-11-23T09:15:00+07:00")
        return value.astimezone(VN_TZ)
    return datetime.now(VN_TZ).replace(microsecond=0)


def iso(value: datetime) -> str:
    """RFC 3339 with seconds and the +07:00 offset, as records carry times."""
    return value.astimezone(VN_TZ).isoformat(timespec="seconds")
