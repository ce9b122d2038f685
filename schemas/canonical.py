"""Canonical bytes (RFC 8785, JCS) and a strict JSON reader.

Fast path: orjson with sorted keys is byte-identical to JCS for objects whose numbers are
integers within +-(2**53 - 1) and whose keys are in the Basic Multilingual Plane: both escape
exactly `"`, `\\` and the C0 controls (with the same short forms and lowercase hex) and emit
everything else as UTF-8. Our records are always of that kind (money is integer dong; times are
strings), so signing and verifying run at C speed. Anything else (floats, big integers,
astral-plane characters) goes to the `rfc8785` library, which implements JCS whole (ES6 number
formatting, UTF-16 key order). The JCS conformance vectors exercise both paths.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import rfc8785

__all__ = ["MAX_SAFE_INT", "CanonicalError", "canonical", "canonical_parsed", "loads"]

MAX_SAFE_INT = 2**53 - 1

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER  # ints beyond 2**53 raise

# Is the fast output certainly JCS? Not if it holds a float (a number token with a fraction or an
# exponent) or a 4-byte UTF-8 character (astral plane: UTF-16 key order may differ). One
# `translate` (C speed) turns the question into a substring test and an ASCII test: `,` and `[`
# become `:`, `e` and `E` become `.`, other non-ASCII bytes become `x` while the 4-byte UTF-8
# lead bytes stay non-ASCII, and digits and `-` vanish, so any float token leaves `:.` behind.
# The same bytes inside a string only send the value down the exact path: slower, never wrong.
# (A general `re` pattern scans ~3 ns a byte, too slow for the verification hot path; this is
# ~1 us for a 1.3 KB event.)
_TABLE = bytearray(range(256))
for _c in b",[":
    _TABLE[_c] = ord(":")
for _c in b"eE":
    _TABLE[_c] = ord(".")
for _c in range(0x80, 0xF0):
    _TABLE[_c] = ord("x")
_MARKS = bytes(_TABLE)
_DROP = b"0123456789-"


_FLOAT_MARK = re.compile(rb":\.").search  # a literal pattern: sre's prefix search, 2.5x `in`


def _needs_exact(out: bytes) -> bool:
    t = out.translate(_MARKS, _DROP)
    return not t.isascii() or _FLOAT_MARK(t) is not None or t[:1] in (b".", b"")


class CanonicalError(ValueError):
    """The value cannot be represented as canonical JSON (RFC 8785)."""


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical bytes of any JSON value built from dict/list/str/int/bool/None/float."""
    _check_floats(value)
    return canonical_parsed(value)


def canonical_parsed(value: Any) -> bytes:
    """Canonical bytes of a value known to hold no NaN/infinity (e.g. from `loads`).

    Skips the Python walk that `canonical` does, which matters on the verification hot path.
    """
    try:
        out = orjson.dumps(value, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return _exact(value)  # big integers (JCS decides), or raises for what JSON cannot hold
    if _needs_exact(out):
        return _exact(value)
    return out


def _exact(value: Any) -> bytes:
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalError(f"not canonicalizable JSON: {exc}") from exc


def _check_floats(value: Any) -> None:
    # orjson writes NaN/Infinity as null; JCS forbids them, so refuse before that can happen.
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise CanonicalError("NaN and infinity have no JSON form")


def loads(data: bytes | str) -> Any:
    """Parse JSON strictly: valid UTF-8, no NaN/Infinity, no lone surrogates."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CanonicalError(f"invalid JSON: {exc}") from exc
