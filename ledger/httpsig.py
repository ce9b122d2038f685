"""HTTP Message Signatures (RFC 9421) with Ed25519, and Content-Digest (RFC 9530), for the
requests a station sends to the hub (DESIGN section 5).

A station request covers `@method`, `@path` and `content-digest`, with `created`, `keyid`,
`alg="ed25519"` and a random `nonce` as signature parameters, under the label `sig1`:

    Content-Digest: sha-256=:<base64 SHA-256 of the body>:
    Signature-Input: sig1=("@method" "@path" "content-digest");created=1795000000;keyid="..."
                     ;alg="ed25519";nonce="..."
    Signature: sig1=:<base64 Ed25519 signature of the signature base>:

The signature base is built exactly as RFC 9421 section 2.5 says (the test reproduces the RFC's
own Ed25519 example, B.2.6). The parser accepts only this subset of structured-field syntax and
refuses everything else, so there is no ambiguity to exploit. Why not a library: the
`http-message-signatures` package covers the whole RFC with pluggable algorithms and
resolvers; we need one narrow, strict profile that the hub verifies on every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import LedgerError
from ledger.keys import SigningKey, verify_signature

__all__ = [
    "COVERED",
    "HttpSignatureError",
    "NonceWindow",
    "VerifiedRequest",
    "content_digest",
    "sign_request",
    "signature_base",
    "verify_request",
]

COVERED = ("@method", "@path", "content-digest")
LABEL = "sig1"
_TOKEN = r'"[^"\\\x00-\x1f\x7f]*"'
_INPUT = re.compile(
    rf"{LABEL}=\((?P<components>(?:{_TOKEN})(?: {_TOKEN})*)\)"
    r'(?P<params>(?:;[a-z][a-z0-9_-]*=(?:[0-9]{1,15}|"[\x20-\x21\x23-\x5b\x5d-\x7e]*"))*)'
)
_PARAM = re.compile(r';([a-z][a-z0-9_-]*)=([0-9]{1,15}|"[^"]*")')
_SIGNATURE = re.compile(rf"{LABEL}=:(?P<sig>[A-Za-z0-9+/]+={{0,2}}):")


class HttpSignatureError(LedgerError):
    """A request whose signature the hub refuses; `code` is the JSON error code."""

    title = "Request signature refused"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    keyid: str
    created: int
    nonce: str


def content_digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def signature_base(components: Sequence[str], values: Mapping[str, str], params: str) -> str:
    """RFC 9421 section 2.5: one line per covered component, then `@signature-params`."""
    lines = [f'"{name}": {values[name]}' for name in components]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines)


def _params(created: int, keyid: str, nonce: str) -> str:
    inner = " ".join(f'"{c}"' for c in COVERED)
    return f'({inner});created={created};keyid="{keyid}";alg="ed25519";nonce="{nonce}"'


def sign_request(
    key: SigningKey,
    *,
    method: str,
    path: str,
    body: bytes,
    keyid: str,
    nonce: str,
    created: int | None = None,
) -> dict[str, str]:
    """The headers that sign this request (add them to the request as they are)."""
    digest = content_digest(body)
    params = _params(int(time.time()) if created is None else created, keyid, nonce)
    values = {"@method": method.upper(), "@path": path, "content-digest": digest}
    sig = key.sign(signature_base(COVERED, values, params).encode("utf-8"))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={params}",
        "Signature": f"{LABEL}=:{base64.b64encode(sig).decode()}:",
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value.strip()
    raise HttpSignatureError("missing-signature", f"the request has no {name} header")


def verify_request(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    public_key_for: Callable[[str], bytes | None],
    now: int | None = None,
    max_age: int = 300,
    max_skew: int = 60,
) -> VerifiedRequest:
    """Check a station request's signature; returns who signed it, or raises
    HttpSignatureError with a stable code (the hub answers 401 with it)."""
    now = int(time.time()) if now is None else now
    match = _INPUT.fullmatch(_header(headers, "Signature-Input"))
    if match is None:
        raise HttpSignatureError("bad-signature-input", "Signature-Input is not in our profile")
    components = tuple(c.strip('"') for c in match.group("components").split(" "))
    if components != COVERED:
        raise HttpSignatureError(
            "bad-signature-input", "the signature must cover @method, @path and content-digest"
        )
    params = {k: v.strip('"') for k, v in _PARAM.findall(match.group("params"))}
    if params.get("alg") != "ed25519" or not params.get("keyid") or not params.get("nonce"):
        raise HttpSignatureError("bad-signature-input", "alg, keyid and nonce are required")
    try:
        created = int(params["created"])
    except (KeyError, ValueError) as exc:
        raise HttpSignatureError("bad-signature-input", "created is required") from exc
    if created < now - max_age:
        raise HttpSignatureError("expired", f"the signature is older than {max_age} s")
    if created > now + max_skew:
        raise HttpSignatureError(
            "from-the-future", "the signature is dated in the future (check the PC's clock)"
        )
    signature = _SIGNATURE.fullmatch(_header(headers, "Signature"))
    if signature is None:
        raise HttpSignatureError("bad-signature", "Signature is not in our profile")
    try:
        raw = base64.b64decode(signature.group("sig"), validate=True)
    except binascii.Error as exc:
        raise HttpSignatureError("bad-signature", "Signature is not base64") from exc
    digest = _header(headers, "Content-Digest")
    if digest != content_digest(body):
        raise HttpSignatureError("bad-digest", "Content-Digest does not match the body")
    public = public_key_for(params["keyid"])
    if public is None:
        raise HttpSignatureError("unknown-key", f"unknown key {params['keyid']!r}")
    values = {"@method": method.upper(), "@path": path, "content-digest": digest}
    base = signature_base(COVERED, values, match.group(0)[len(LABEL) + 1 :])
    if not verify_signature(public, raw, base.encode("utf-8")):
        raise HttpSignatureError("bad-signature", "the request signature does not verify")
    return VerifiedRequest(params["keyid"], created, params["nonce"])


class NonceWindow:
    """Replay protection for one process: a nonce is accepted once while its signature is
    within the age window. (Several hub processes need the shared, database-backed form.)"""

    def __init__(self, max_age: int = 300) -> None:
        self.max_age = max_age
        self._seen: dict[tuple[str, str], int] = {}

    def check(self, request: VerifiedRequest, now: int) -> None:
        for key in [k for k, created in self._seen.items() if created < now - self.max_age]:
            del self._seen[key]
        key = (request.keyid, request.nonce)
        if key in self._seen:
            raise HttpSignatureError("replay", "this request was already received")
        self._seen[key] = request.created
