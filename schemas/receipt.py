"""The receipt (`commune.receipt/v1`, DESIGN section 8): what the citizen's QR code carries.

`{"type", "event", "cert", "station_cert", "proof"}`: the signed `receive` event, the officer's
certificate, the station's certificate and the tlog-proof text (inclusion proof + checkpoint).
After sync a receipt may also carry the hub's cosignature lines (`cosignatures`).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from schemas.certificate import Certificate
from schemas.event import ReceiveEvent
from schemas.types import RawText, Record

__all__ = ["RECEIPT_TYPE", "NoteLine", "Receipt"]

RECEIPT_TYPE = "commune.receipt/v1"

NoteLine = Annotated[StrictStr, Field(pattern=r"^\u2014 [^\n]+$", max_length=1024)]
"""One signed-note signature line, `— <name> <base64>` (without its newline)."""


class Receipt(Record):
    """A receipt, verifiable offline with the trust kit."""

    type: Literal["commune.receipt/v1"] = "commune.receipt/v1"
    event: ReceiveEvent
    cert: Certificate
    """The receiving officer's certificate (signed by the station key)."""
    station_cert: Certificate
    proof: RawText
    """c2sp.org/tlog-proof@v1 text: index, inclusion path, blank line, the station checkpoint."""
    cosignatures: list[NoteLine] | None = None
    """Hub cosignature lines on the proof's checkpoint, added when the receipt is upgraded."""

    @model_validator(mode="after")
    def _certs_fit(self) -> Self:
        if self.cert.role != "officer" or self.cert.key_id != self.event.officer:
            raise PydanticCustomError(
                "receipt_cert", "Chứng thư cán bộ không khớp với người ký biên nhận"
            )
        station = f"{self.station_cert.office}/{self.station_cert.station}"
        if self.station_cert.role != "station" or station != self.event.station:
            raise PydanticCustomError(
                "receipt_cert", "Chứng thư trạm không khớp với trạm đã ghi biên nhận"
            )
        return self
