"""The trust kit as an auditor uses it (DESIGN sections 4 and 8), beyond one receipt.

The kit's model and its rules are `ledger.receipt`'s (`_Kit`, `_signed`): a hub kit is signed by
the hub issuer and vouches for issuer-signed station certificates; a stand-alone station's kit is
signed by the station key and lists its self-signed certificate. This module gives those rules
one public face for the ledger audit (`audit.ledger`): parse and check the kit once, then ask it
about stations, log origins, revocations by position and the hub's cosigner key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ledger.certs import cert_public_key, verify_certificate
from ledger.checkpoint import cosigner_verifier
from ledger.encoding import unb64url
from ledger.errors import LedgerError
from ledger.note import Verifier
from ledger.receipt import _Kit, _place, _signed
from ledger.records import verify_record
from schemas.canonical import CanonicalError, canonical

__all__ = ["KitError", "TrustKit", "load_kit"]


class KitError(LedgerError):
    """A trust kit that cannot be used: malformed, or its signature does not verify."""

    title = "Bộ khóa tin cậy không dùng được / Unusable trust kit"


@dataclass(frozen=True)
class TrustKit:
    raw: Mapping[str, Any]
    model: _Kit
    signed_by: str  # the name on the certificate whose key signed the kit
    # answers of `vouches_for`, by (station, canonical certificate): a certificate's bytes decide
    _vouched: dict[tuple[str, bytes], bool] = field(default_factory=dict, compare=False)

    # -- stations ---------------------------------------------------------------------------------
    def vouches_for(self, cert: Mapping[str, Any], station: str) -> bool:
        """The kit vouches for `cert` as the certificate of `station` (office/number): the rule
        of `ledger.receipt` ("station-cert"). A hub kit: issued by the hub issuer, or
        self-signed with the same key as an issuer-signed certificate the kit lists; a
        stand-alone kit: self-signed and listed."""
        try:
            key = (station, canonical(dict(cert)))
        except CanonicalError:
            return False
        found = self._vouched.get(key)
        if found is None:
            found = self._vouched[key] = self._vouches_for(cert, station)
        return found

    def _vouches_for(self, cert: Mapping[str, Any], station: str) -> bool:
        stations = self.raw["stations"]
        issuer = self.raw["issuer"]
        kid = cert.get("key_id")
        listed = [c for c in stations if c["key_id"] == kid]
        if stations and not listed:
            return False
        vouched = any(
            c["public_key"] == cert.get("public_key")
            and _place(c) == station
            and _signed(c, issuer or c)
            for c in listed
        )
        return _place(cert) == station and (
            (issuer is not None and _signed(cert, issuer)) or (_signed(cert, cert) and vouched)
        )

    def station_cert(self, station: str, key_id: str | None = None) -> Mapping[str, Any] | None:
        """The kit's certificate of `station` (with that key, when given)."""
        for cert in self.raw["stations"]:
            if _place(cert) == station and key_id in (None, cert["key_id"]):
                return dict(cert)
        return None

    def knows_origin(self, origin: str, station: str, key_id: str) -> bool:
        return any(
            (o.origin, o.station, o.key_id) == (origin, station, key_id) for o in self.model.origins
        )

    # -- revocation by position -------------------------------------------------------------------
    def valid_through(self, key_id: str, origin: str) -> int | None:
        """ "Key K valid through size S of origin O": the smallest such S that applies to log
        `origin` (0 when the key is revoked for another log only: it is valid in none other),
        or None when the key is not revoked. An officer key signs entries < S; a station key
        signs checkpoints of size <= S, hence entries < S."""
        through: int | None = None
        for rev in self.model.revocations:
            if rev.key_id != key_id:
                continue
            size = rev.through if rev.origin in (None, origin) else 0
            through = size if through is None else min(through, size)
        return through

    # -- the hub ----------------------------------------------------------------------------------
    @property
    def hub_name(self) -> str | None:
        return self.model.hub.name if self.model.hub is not None else None

    def cosigner(self) -> Verifier | None:
        """The note verifier of the hub's timestamped cosignatures, or None (no hub)."""
        hub = self.model.hub
        if hub is None:
            return None
        return cosigner_verifier(hub.name, unb64url(hub.cosigner, 32))


def load_kit(raw: Any, *, verify_signature: bool = True) -> TrustKit:
    """Parse a trust kit and check its signature; raises KitError."""
    if not isinstance(raw, Mapping):
        raise KitError("a trust kit is a JSON object")
    try:
        model = _Kit.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "-"
        raise KitError(f"malformed trust kit ({where}: {first['msg']})") from exc
    signed_by = "(unchecked)"
    if verify_signature:
        signed_by = _kit_signer(raw)
    return TrustKit(raw, model, signed_by)


def _kit_signer(raw: Mapping[str, Any]) -> str:
    # The rule of `ledger.receipt` ("kit"): a hub kit is signed by the self-signed issuer; a
    # stand-alone station's kit by the station key of a self-signed certificate it lists.
    issuer = raw["issuer"]
    try:
        if issuer is not None:
            verify_certificate(issuer, issuer)
    except LedgerError as exc:
        raise KitError(f"the kit's issuer certificate is not valid: {exc.message}") from exc
    stations = raw["stations"]
    signers = [issuer] if issuer else [c for c in stations if c["issuer"] == c["key_id"]]
    for cert in signers:
        with contextlib.suppress(LedgerError):
            verify_record(dict(raw), cert_public_key(cert))
            return str(cert["name"])
    raise KitError("the trust kit's signature does not verify")
