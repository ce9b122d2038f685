"""Offices, stations and officers as they appear inside records (DESIGN sections 4 and 5).

An office (a commune service centre or one of its reception points) is identified by its agency
code, an opaque string (DOMAIN "Agency codes"); its place in the hierarchy is the explicit
`parent` pointer, never derived from the code. A station is one office database with its own log.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictStr

from schemas.types import Count, KeyId, Label, Name, OfficeCode, Origin, Record, StationNumber

__all__ = ["Office", "Officer", "ProvincePrefix", "Station"]

ProvincePrefix = Annotated[StrictStr, Field(pattern=r"^[A-Z][0-9]{2}$")]
"""The province's code inside agency codes, e.g. `H56` (Khánh Hòa); the portal checks it."""


class Office(Record):
    """A receiving or deciding unit (cơ quan / đơn vị)."""

    code: OfficeCode
    name: Name
    parent: OfficeCode | None = None
    """Agency code of the parent unit (e.g. the province's office), when known."""
    province_prefix: ProvincePrefix | None = None
    """Province prefix, when known (a stand-alone `commune init` may not know it yet)."""


class Station(Record):
    """One reception point's database and its append-only log."""

    office: OfficeCode
    number: StationNumber
    name: Name
    origin: Origin
    """Log origin: `<hub domain>/office/<office code>/<station>/e<epoch>`."""
    epoch: Count
    """Starts at 0; a lost PC ends an epoch and a `continuity` event starts the next."""


class Officer(Record):
    """A receiving officer (cán bộ một cửa) enrolled on one station."""

    key_id: KeyId
    name: Name
    title: Label | None = None
    """Job title (chức danh), as printed on forms and sent to the portal's progress rows."""
    office: OfficeCode
    station: StationNumber
