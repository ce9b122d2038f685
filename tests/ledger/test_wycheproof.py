"""Every Wycheproof Ed25519 case: our verify agrees with `result`.

Documented policy that refuses more: `check_public_key` refuses low-order and non-canonical
public keys when certifying (DESIGN section 3); verification itself follows RFC 8032 as OpenSSL
implements it (canonical S < L required), which agrees with every case here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import KeyRefused
from ledger.keys import check_public_key, verify_signature

_FILE = (
    Path(__file__).resolve().parents[3] / "shared" / "vectors" / "wycheproof" / "ed25519_test.json"
)


def _cases() -> list[Any]:
    data = json.loads(_FILE.read_text())
    out = []
    for group in data["testGroups"]:
        pk = bytes.fromhex(group["publicKey"]["pk"])
        for t in group["tests"]:
            out.append(pytest.param(pk, t, id=f"tc{t['tcId']}"))
    return out


CASES = _cases()


def test_case_count() -> None:
    assert len(CASES) == json.loads(_FILE.read_text())["numberOfTests"]


@pytest.mark.parametrize(("pk", "case"), CASES)
def test_verify_agrees_with_wycheproof(pk: bytes, case: dict[str, Any]) -> None:
    got = verify_signature(pk, bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"]))
    assert got is (case["result"] == "valid"), case["comment"]


def test_every_wycheproof_public_key_is_certifiable() -> None:
    # The file's keys are ordinary keys; our certification policy accepts them all.
    data = json.loads(_FILE.read_text())
    for group in data["testGroups"]:
        check_public_key(bytes.fromhex(group["publicKey"]["pk"]))


# The eight small-order points (RFC 8032 encodings) plus non-canonical encodings of them.
LOW_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]
NON_CANONICAL = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = 0, sign set
]


@pytest.mark.parametrize("hexkey", LOW_ORDER + NON_CANONICAL)
def test_weak_public_keys_refused(hexkey: str) -> None:
    with pytest.raises(KeyRefused):
        check_public_key(bytes.fromhex(hexkey))


def test_off_curve_and_short_keys_refused() -> None:
    with pytest.raises(KeyRefused):
        check_public_key(bytes(31))
    # y = 2 is not the y of any point on Ed25519.
    with pytest.raises(KeyRefused, match="not a point"):
        check_public_key((2).to_bytes(32, "little"))
