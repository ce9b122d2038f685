"""Certificates (`commune.cert/v1`, DESIGN section 8): a signed binding of a key to a role.

The hub issuer certifies station keys, a station key certifies its officers' keys; a stand-alone
station signs its own station certificate (`issuer` = its own key id). Signatures are made and
checked in `ledger.certs`; this model only fixes the shape.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import model_validator
from pydantic_core import PydanticCustomError

from schemas.types import (
    KeyId,
    Name,
    OfficeCode,
    PublicKeyB64,
    Rfc3339,
    SignatureB64,
    SignedRecord,
    StationNumber,
)

__all__ = ["CERT_TYPE", "CertRole", "Certificate"]

CERT_TYPE = "commune.cert/v1"
CertRole = Literal["officer", "station", "issuer"]


class Certificate(SignedRecord):
    """`{"type", "key_id", "public_key", "role", "name", "office", "station", "not_before",
    "issuer", "sig"}`; `office` and `station` are always written, `null` for an issuer.

    An officer or station certificate names its office and station; an issuer (hub) certificate
    names neither.
    """

    keep_null: ClassVar[tuple[str, ...]] = ("office", "station")

    type: Literal["commune.cert/v1"] = "commune.cert/v1"
    key_id: KeyId
    public_key: PublicKeyB64
    role: CertRole
    name: Name
    office: OfficeCode | None
    station: StationNumber | None
    not_before: Rfc3339
    issuer: KeyId
    sig: SignatureB64

    @model_validator(mode="after")
    def _place_matches_role(self) -> Self:
        if self.role == "issuer":
            if self.office is not None or self.station is not None:
                raise PydanticCustomError(
                    "cert_place", "Chứng thư của hub (issuer) không gắn với đơn vị hay trạm"
                )
        elif self.office is None or self.station is None:
            raise PydanticCustomError(
                "cert_place", "Chứng thư cán bộ hoặc trạm phải ghi mã đơn vị và số trạm"
            )
        return self
