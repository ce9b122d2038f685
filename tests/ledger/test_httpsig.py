"""RFC 9421 request signatures: the RFC's own Ed25519 example, our station profile, and every
way a request can be refused."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ledger.httpsig import (
    HttpSignatureError,
    NonceWindow,
    VerifiedRequest,
    content_digest,
    sign_request,
    signature_base,
    verify_request,
)
from ledger.keys import SigningKey, verify_signature

# RFC 9421 Appendix B.1.4 test key (test-key-ed25519) and B.2.6 "Signing a Request Using ed25519".
RFC_KEY = SigningKey.from_seed(
    base64.urlsafe_b64decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU=")
)
RFC_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)


def test_rfc_9421_b26_ed25519_example() -> None:
    assert base64.urlsafe_b64encode(RFC_KEY.public).rstrip(b"=") == (
        b"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
    )
    components = ("date", "@method", "@path", "@authority", "content-type", "content-length")
    values = {
        "date": "Tue, 20 Apr 2021 02:07:55 GMT",
        "@method": "POST",
        "@path": "/foo",
        "@authority": "example.com",
        "content-type": "application/json",
        "content-length": "18",
    }
    params = (
        '("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"'
    )
    base = signature_base(components, values, params).encode()
    assert base64.b64encode(RFC_KEY.sign(base)).decode() == RFC_SIGNATURE
    assert verify_signature(RFC_KEY.public, base64.b64decode(RFC_SIGNATURE), base)


def test_rfc_9530_content_digest_example() -> None:
    # RFC 9530 section 2 example: {"hello": "world"} with a trailing newline.
    assert content_digest(b'{"hello": "world"}\n') == (
        "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
    )


STATION = SigningKey.from_seed(bytes(range(32)))
KEYID = STATION.key_id
BODY = b'{"from": 0, "to": 3}'
NOW = 1_795_000_000
PATH = "/v1/stations/000.00.17.H56%2F1/entries"


def _signed(**overrides: Any) -> dict[str, str]:
    kw: dict[str, Any] = {
        "method": "POST",
        "path": PATH,
        "body": BODY,
        "keyid": KEYID,
        "nonce": "n0nce-1",
        "created": NOW,
    }
    kw.update(overrides)
    return sign_request(STATION, **kw)


def _verify(
    headers: dict[str, str],
    *,
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
    now: int = NOW + 5,
) -> VerifiedRequest:
    keys = {KEYID: STATION.public}
    return verify_request(
        method=method, path=path, headers=headers, body=body, public_key_for=keys.get, now=now
    )


def test_roundtrip_and_header_names_are_case_insensitive() -> None:
    headers = _signed()
    assert headers["Signature-Input"].startswith('sig1=("@method" "@path" "content-digest");')
    verified = _verify({k.lower(): v for k, v in headers.items()})
    assert verified.keyid == KEYID and verified.nonce == "n0nce-1" and verified.created == NOW


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"method": "PUT"}, "bad-signature"),
        ({"path": "/v1/stations/other%2F1/entries"}, "bad-signature"),
        ({"body": BODY + b" "}, "bad-digest"),
        ({"now": NOW + 301}, "expired"),
        ({"now": NOW - 61}, "from-the-future"),
    ],
)
def test_refusals(change: dict[str, Any], code: str) -> None:
    with pytest.raises(HttpSignatureError) as err:
        _verify(_signed(), **change)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        (
            "Signature-Input",
            'sig1=("@method" "@path");created=1;keyid="k";alg="ed25519";nonce="n"',
            "bad-signature-input",
        ),
        ("Signature-Input", "garbage", "bad-signature-input"),
        ("Signature", "sig1=:not base64!:", "bad-signature"),
        ("Signature", "sig2=:AAAA:", "bad-signature"),
        ("Content-Digest", "sha-256=:AAAA:", "bad-digest"),
    ],
)
def test_malformed_headers(header: str, value: str, code: str) -> None:
    headers = _signed()
    headers[header] = value
    with pytest.raises(HttpSignatureError) as err:
        _verify(headers)
    assert err.value.code == code


def test_missing_headers_unknown_key_and_forged_signature() -> None:
    for name in ("Signature", "Signature-Input", "Content-Digest"):
        headers = _signed()
        del headers[name]
        with pytest.raises(HttpSignatureError) as err:
            _verify(headers)
        assert err.value.code == "missing-signature"
    with pytest.raises(HttpSignatureError) as err:
        _verify(_signed(keyid="0123456789abcdef"))
    assert err.value.code == "unknown-key"
    forged = sign_request(
        SigningKey.generate(),
        method="POST",
        path=PATH,
        body=BODY,
        keyid=KEYID,
        nonce="x",
        created=NOW,
    )
    with pytest.raises(HttpSignatureError) as err:
        _verify(forged)
    assert err.value.code == "bad-signature"


def test_parameters_are_signed() -> None:
    headers = _signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        f"created={NOW}", f"created={NOW + 1}"
    )
    with pytest.raises(HttpSignatureError) as err:
        _verify(headers)
    assert err.value.code == "bad-signature"


def test_nonce_window_refuses_replays_and_forgets_old_nonces() -> None:
    window = NonceWindow(max_age=300)
    first = _verify(_signed())
    window.check(first, NOW + 5)
    with pytest.raises(HttpSignatureError) as err:
        window.check(_verify(_signed()), NOW + 6)
    assert err.value.code == "replay"
    window.check(_verify(_signed(nonce="n0nce-2")), NOW + 7)
    window.check(first, NOW + 400)  # expired from the window
