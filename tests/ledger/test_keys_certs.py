"""Keys at rest, record signatures and certificates."""

from __future__ import annotations

import json
import unicodedata

import pytest

from ledger.certs import issue_certificate, verify_certificate
from ledger.encoding import EncodingError, b64url, key_id, unb64, unb64url
from ledger.errors import KeyRefused, SignatureInvalid, WrongPassphrase
from ledger.keys import SigningKey
from ledger.records import sign_record, signing_bytes, verify_record

NOW = "2026-11-23T08:00:00+07:00"


def test_key_id_is_sha256_prefix() -> None:
    key = SigningKey.from_seed(bytes(32))
    import hashlib

    assert key.key_id == hashlib.sha256(key.public).hexdigest()[:16] == key_id(key.public)


def test_key_file_roundtrip_and_wrong_passphrase() -> None:
    key = SigningKey.generate()
    sealed = key.seal("mật khẩu đúng", cost=2**10)
    doc = json.loads(sealed)
    assert doc["kdf"] == "scrypt" and "ENCRYPTED PRIVATE KEY" in doc["pkcs8"]
    assert SigningKey.unseal(sealed, "mật khẩu đúng").public == key.public
    # NFC: the same passphrase typed with a decomposed keyboard layout still opens it.
    assert (
        SigningKey.unseal(sealed, unicodedata.normalize("NFD", "mật khẩu đúng")).public
        == key.public
    )
    with pytest.raises(WrongPassphrase):
        SigningKey.unseal(sealed, "sai")
    with pytest.raises(KeyRefused):
        key.seal("")
    with pytest.raises(KeyRefused):
        SigningKey.unseal(b"{not json", "x")
    with pytest.raises(KeyRefused):
        SigningKey.unseal(json.dumps({**doc, "n": 3}).encode(), "mật khẩu đúng")


def test_default_cost_is_memory_hard() -> None:
    assert json.loads(SigningKey.generate().seal("x"))["n"] >= 2**15


def test_wrap_unwrap_secret() -> None:
    officer, other = SigningKey.generate(), SigningKey.generate()
    blob = officer.wrap(b"station secret")
    assert officer.unwrap(blob) == b"station secret"
    with pytest.raises(KeyRefused):
        other.unwrap(blob)
    with pytest.raises(KeyRefused):
        officer.unwrap(blob[:-1] + bytes([blob[-1] ^ 1]))


def test_sign_and_verify_record() -> None:
    key = SigningKey.generate()
    rec = sign_record({"type": "commune.test/v1", "b": "Đức", "a": 1}, key)
    assert signing_bytes(rec) == '{"a":1,"b":"Đức","type":"commune.test/v1"}'.encode()
    verify_record(rec, key.public)
    with pytest.raises(SignatureInvalid):
        verify_record({**rec, "a": 2}, key.public)
    with pytest.raises(SignatureInvalid):
        verify_record(rec, SigningKey.generate().public)
    with pytest.raises(SignatureInvalid):
        verify_record({**rec, "sig": rec["sig"][:-1]}, key.public)
    with pytest.raises(SignatureInvalid):
        signing_bytes({"no": "type"})


def test_certificate_chain_issuer_station_officer() -> None:
    issuer, station, officer = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    ic = issue_certificate(
        issuer,
        issuer.public,
        role="issuer",
        name="hub.example.vn",
        office=None,
        station=None,
        not_before=NOW,
    )
    sc = issue_certificate(
        issuer,
        station.public,
        role="station",
        name="Xã Tân Lập",
        office="000.00.17.H56",
        station=1,
        not_before=NOW,
    )
    oc = issue_certificate(
        station,
        officer.public,
        role="officer",
        name="Nguyễn Thị Hoa",
        office="000.00.17.H56",
        station=1,
        not_before=NOW,
    )
    verify_certificate(ic, ic)
    verify_certificate(sc, ic)
    verify_certificate(oc, sc)
    with pytest.raises(SignatureInvalid, match="may not certify"):
        verify_certificate(sc, oc)  # an officer cannot certify a station
    with pytest.raises(SignatureInvalid):
        verify_certificate(oc, ic)  # wrong issuer
    with pytest.raises(SignatureInvalid):
        verify_certificate({**oc, "name": "Kẻ giả mạo"}, sc)
    with pytest.raises(SignatureInvalid, match="key_id"):
        verify_certificate({**oc, "key_id": "0" * 16}, sc)


def test_never_certify_twice_or_weak_keys() -> None:
    station = SigningKey.generate()
    officer = SigningKey.generate()
    with pytest.raises(KeyRefused, match="already certified"):
        issue_certificate(
            station,
            officer.public,
            role="officer",
            name="x",
            office="A.1",
            station=1,
            not_before=NOW,
            certified={officer.key_id},
        )
    with pytest.raises(KeyRefused, match="low-order"):
        issue_certificate(
            station, bytes(32), role="officer", name="x", office="A.1", station=1, not_before=NOW
        )


@pytest.mark.parametrize("text", ["", "A", "AAA=", "AA+/", "a b", "AB"])
def test_strict_base64url(text: str) -> None:
    if text in ("", "AA+/"):
        with pytest.raises(EncodingError):
            unb64url(text, 3)
    else:
        with pytest.raises(EncodingError):
            unb64url(text)


def test_base64_canonical_only() -> None:
    assert unb64url(b64url(b"\xff\xfe")) == b"\xff\xfe"
    with pytest.raises(EncodingError):
        unb64url("__9")  # trailing bits set: a second spelling of b"\xff\xff"
    with pytest.raises(EncodingError):
        unb64("AB==")  # non-zero padding bits
    with pytest.raises(EncodingError):
        unb64("AA==\n")
