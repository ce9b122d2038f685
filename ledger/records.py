"""Signing and verifying any record (DESIGN section 3).

A record is a JSON object with a `type`; its signature is Ed25519 over the RFC 8785 bytes of the
object without `sig`, written base64url without padding.
"""

from __future__ import annotations

from typing import Any

from ledger.encoding import EncodingError, b64url, unb64url
from ledger.errors import SignatureInvalid
from ledger.keys import SigningKey, verify_signature
from schemas.canonical import CanonicalError, canonical

__all__ = ["sign_record", "signing_bytes", "verify_record"]


def signing_bytes(record: dict[str, Any]) -> bytes:
    """The bytes a signature covers: canonical JSON of the record minus its `sig`."""
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise SignatureInvalid("a signed record is a JSON object with a string `type`")
    body = {k: v for k, v in record.items() if k != "sig"}
    return canonical(body)


def sign_record(record: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of `record` with `sig` set by `key`."""
    signed = {k: v for k, v in record.items() if k != "sig"}
    signed["sig"] = b64url(key.sign(signing_bytes(signed)))
    return signed


def verify_record(record: dict[str, Any], public: bytes) -> None:
    """Raise SignatureInvalid unless `record` carries a valid signature by `public`."""
    sig = record.get("sig") if isinstance(record, dict) else None
    if not isinstance(sig, str):
        raise SignatureInvalid("the record has no `sig`")
    try:
        raw = unb64url(sig, 64)
        message = signing_bytes(record)
    except (EncodingError, CanonicalError) as exc:
        raise SignatureInvalid(f"unverifiable record: {exc}") from exc
    if not verify_signature(public, raw, message):
        raise SignatureInvalid(f"bad signature on {record.get('type')} record")
