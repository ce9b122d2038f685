"""Certificates (`commune.cert/v1`): issuer -> station -> officer (DESIGN sections 3 and 4).

A certificate binds a raw Ed25519 public key to a role, a name and a place (office, station),
signed by the key one level up. Certifying refuses weak public keys and a key certified before:
one key, one certificate, so an auditor never has to choose between two.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any, Literal

from ledger.encoding import EncodingError, b64url, key_id, unb64url
from ledger.errors import KeyRefused, SignatureInvalid
from ledger.keys import SigningKey, check_public_key
from ledger.records import sign_record, verify_record

__all__ = [
    "CERT_TYPE",
    "ROLE_ISSUER",
    "Role",
    "cert_public_key",
    "issue_certificate",
    "verify_certificate",
]

CERT_TYPE = "commune.cert/v1"
Role = Literal["officer", "station", "issuer"]
ROLE_ISSUER: Mapping[str, tuple[str, ...]] = {
    # which role may certify which: the hub issuer certifies stations (and itself), a station its
    # officers; a stand-alone station certifies itself.
    "issuer": ("issuer",),
    "station": ("issuer", "station"),
    "officer": ("station",),
}


def issue_certificate(
    issuer: SigningKey,
    subject_public: bytes,
    *,
    role: Role,
    name: str,
    office: str | None,
    station: int | None,
    not_before: str,
    certified: Container[str] = (),
) -> dict[str, Any]:
    """Sign a certificate for `subject_public`; `certified` holds key ids certified before."""
    check_public_key(subject_public)
    kid = key_id(subject_public)
    if kid in certified:
        raise KeyRefused(f"key {kid} is already certified; a key is certified only once")
    cert: dict[str, Any] = {
        "type": CERT_TYPE,
        "key_id": kid,
        "public_key": b64url(subject_public),
        "role": role,
        "name": name,
        "office": office,
        "station": station,
        "not_before": not_before,
        "issuer": issuer.key_id,
    }
    return sign_record(cert, issuer)


def cert_public_key(cert: Mapping[str, Any]) -> bytes:
    """The raw public key of a certificate, checked against its key id."""
    try:
        public = unb64url(cert["public_key"], 32)
    except (KeyError, TypeError, EncodingError) as exc:
        raise SignatureInvalid("certificate has no valid public_key") from exc
    if cert.get("key_id") != key_id(public):
        raise SignatureInvalid("certificate key_id does not match its public key")
    return public


def verify_certificate(cert: Mapping[str, Any], issuer_cert: Mapping[str, Any]) -> None:
    """Check `cert` is signed by the key of `issuer_cert` and the roles allow it.

    A self-signed certificate passes `issuer_cert=cert`. Trust in `issuer_cert` itself is the
    caller's business (a trust kit names the roots).
    """
    if cert.get("type") != CERT_TYPE:
        raise SignatureInvalid(f"not a {CERT_TYPE} record")
    role = cert.get("role")
    if not isinstance(role, str) or role not in ROLE_ISSUER:
        raise SignatureInvalid(f"unknown certificate role {role!r}")
    if issuer_cert.get("role") not in ROLE_ISSUER[role]:
        raise SignatureInvalid(f"a {issuer_cert.get('role')} key may not certify a {role} key")
    if cert.get("issuer") != issuer_cert.get("key_id"):
        raise SignatureInvalid("certificate names another issuer")
    cert_public_key(cert)
    verify_record(dict(cert), cert_public_key(issuer_cert))
