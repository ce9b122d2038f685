"""Verification findings: what `ledger`'s verifier and the auditor report, in both languages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr

from schemas.types import MAX_SAFE_INT, Reason, Record

__all__ = ["Finding", "FindingCode", "Severity"]

Severity = Literal["error", "warning", "info"]
FindingCode = Annotated[StrictStr, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]
"""A stable machine code, e.g. `bad-signature`, `clock-anomaly`, `fork`."""


class Finding(Record):
    """One finding of a verification run; `index` is the log entry it concerns, if any."""

    severity: Severity
    code: FindingCode
    index: Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INT)] | None = None
    message_en: Reason
    message_vi: Reason
    detail: dict[str, Any] = Field(default_factory=dict)
