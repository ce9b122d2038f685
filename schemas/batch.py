"""The push body (`commune.batch/v1`, DESIGN section 5): a contiguous run of a station's log.

Entries stay raw dicts: the hub verifies signatures over the bytes it received, so they are never
re-serialised through a model on the way in (each is parsed with `parse_event` separately).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.types import Count, Origin, RawText, Record, StationRef

__all__ = ["BATCH_TYPE", "Batch"]

BATCH_TYPE = "commune.batch/v1"


class Batch(Record):
    """Events `[from, to)` of `station`'s log with the station checkpoint of size `to`.

    In Python the `from` field is `from_` (construct with either name; `to_record` writes `from`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    type: Literal["commune.batch/v1"] = "commune.batch/v1"
    station: StationRef
    origin: Origin
    from_: Count = Field(alias="from")
    to: Count
    entries: list[dict[str, Any]]
    """The signed events as received: raw JSON objects, not re-serialised."""
    checkpoint: RawText
    """The station's signed checkpoint note of size `to`."""
    held: Count | None = None
    """How many entries the station's log held when it sent this run (>= `to`): the hub shows
    the difference as entries still waiting at the office."""

    @model_validator(mode="after")
    def _run_matches(self) -> Self:
        if self.held is not None and self.held < self.to:
            raise PydanticCustomError(
                "batch_held",
                "Trạm giữ {held} bản ghi, ít hơn cuối lô {end}",
                {"held": self.held, "end": self.to},
            )
        if self.to < self.from_ or self.to - self.from_ != len(self.entries):
            raise PydanticCustomError(
                "batch_range",
                "Lô [{start}, {end}) phải có {want} bản ghi, nhận được {got}",
                {
                    "start": self.from_,
                    "end": self.to,
                    "want": max(self.to - self.from_, 0),
                    "got": len(self.entries),
                },
            )
        return self
