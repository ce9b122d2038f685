"""The procedure catalogue (danh mục thủ tục hành chính, DESIGN section 8 import format).

Catalogue files come from outside (the province's list, a CSV export), so `Procedure` ignores
keys it does not know instead of refusing the file; everything it keeps is validated as strictly
as any record. `ProcedureRef` is the strict snapshot of a procedure copied into a `receive` event,
so a dossier keeps the time limit and fee that applied the day it was received.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, StrictBool, StrictStr, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

from schemas.types import (
    Count,
    Dong,
    HourMinute,
    Label,
    OfficeCode,
    ProcedureCode,
    Record,
    TimeUnit,
    Version,
)

__all__ = [
    "CATALOG_TYPE",
    "PROCEDURE_LIST_ADAPTER",
    "Catalog",
    "FieldCode",
    "Procedure",
    "ProcedureRef",
    "RequiredDocument",
]

CATALOG_TYPE = "commune.catalog/v1"

FieldCode = Annotated[StrictStr, Field(pattern=r"^[0-9A-Za-z._-]{1,40}$")]
"""Code of a field of procedures (mã lĩnh vực), e.g. `G09-TP04`."""


class RequiredDocument(Record):
    """One item of a procedure's dossier composition (thành phần hồ sơ)."""

    name: Label
    originals: Count = 1
    copies: Count = 0


class Procedure(Record):
    """A procedure (thủ tục) as imported: unknown extra keys are ignored, not an error."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: ProcedureCode
    name: Label
    field: Label
    """Field (lĩnh vực), e.g. "Hộ tịch"; reports group by it."""
    field_code: FieldCode | None = None
    time_limit: Count
    """Legal time limit in `time_unit`; 0 with `on_the_spot` for same-day procedures."""
    time_unit: TimeUnit
    fee: Dong
    documents: list[RequiredDocument] = Field(default_factory=list)
    on_the_spot: StrictBool = False
    cutoff: HourMinute | None = None
    """Per-procedure cut-off hour (e.g. `15:00`); receipt after it counts from the next morning."""
    agency: OfficeCode | None = None
    """The deciding agency, when it is not the receiving office."""
    demo: StrictBool = False
    """Part of the demo catalogue (`commune catalog demo`), not a real procedure."""

    def ref(self) -> ProcedureRef:
        """The snapshot of this procedure that a `receive` event carries."""
        return ProcedureRef(
            code=self.code,
            name=self.name,
            field=self.field,
            field_code=self.field_code,
            time_limit=self.time_limit,
            time_unit=self.time_unit,
            fee=self.fee,
            on_the_spot=self.on_the_spot,
        )


class ProcedureRef(Record):
    """The procedure as it stood when the dossier was received (strict, inside signed events)."""

    code: ProcedureCode
    name: Label
    field: Label
    field_code: FieldCode | None = None
    time_limit: Count
    time_unit: TimeUnit
    fee: Dong
    on_the_spot: StrictBool = False


class Catalog(Record):
    """A versioned catalogue, as the hub pushes it to offices."""

    type: Literal["commune.catalog/v1"] = "commune.catalog/v1"
    version: Version
    procedures: list[Procedure]

    @model_validator(mode="after")
    def _unique_codes(self) -> Self:
        seen: set[str] = set()
        for procedure in self.procedures:
            if procedure.code in seen:
                raise PydanticCustomError(
                    "duplicate_procedure",
                    "Mã thủ tục bị trùng trong danh mục: {code}",
                    {"code": procedure.code},
                )
            seen.add(procedure.code)
        return self


PROCEDURE_LIST_ADAPTER: TypeAdapter[list[Procedure]] = TypeAdapter(list[Procedure])
"""Validates a catalogue import file: a JSON list of procedures (DESIGN section 8)."""
