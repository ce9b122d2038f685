"""Byte encodings pinned by DESIGN section 3.

Keys and signatures in JSON records: base64url without padding. Merkle hashes (in records,
checkpoints and proofs): standard base64 with padding, as C2SP checkpoints and tlog-proof use,
so a `prev` field can be compared with a checkpoint's root line as text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

__all__ = [
    "EncodingError",
    "b64",
    "b64url",
    "hash_b64",
    "key_id",
    "unb64",
    "unb64url",
]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class EncodingError(ValueError):
    """Bytes that are not in their pinned encoding."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str, length: int | None = None) -> bytes:
    """Decode base64url without padding; refuse padding, other alphabets and non-zero tail bits."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise EncodingError("not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:  # non-canonical trailing bits would make two texts for one value
        raise EncodingError("non-canonical base64url")
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}")
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, length: int | None = None) -> bytes:
    """Decode standard base64 with padding, strictly (one text per value)."""
    if not isinstance(text, str) or _B64.fullmatch(text) is None:
        raise EncodingError("not standard base64")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise EncodingError("not standard base64") from exc
    if b64(data) != text:
        raise EncodingError("non-canonical base64")
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}")
    return data


def hash_b64(text: str) -> bytes:
    """A 32-byte SHA-256 hash written in standard base64."""
    return unb64(text, 32)


def key_id(public_key: bytes) -> str:
    """DESIGN section 3: first 16 hex characters of SHA-256 of the raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]
