"""RFC 8785 conformance: every case of the cyberphone test data, byte for byte."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from schemas.canonical import CanonicalError, canonical, canonical_parsed, loads

CASES = ["arrays", "french", "structures", "unicode", "values", "weird"]


def _want(vectors: Path, name: str) -> bytes:
    hexes = (vectors / "jcs" / "outhex" / f"{name}.txt").read_text().split()
    return bytes.fromhex("".join(hexes))


@pytest.mark.parametrize("name", CASES)
def test_jcs_vector(vectors: Path, name: str) -> None:
    value = json.loads((vectors / "jcs" / "input" / f"{name}.json").read_bytes())
    want = _want(vectors, name)
    assert want == (vectors / "jcs" / "output" / f"{name}.json").read_bytes()
    assert canonical(value) == want
    assert (
        canonical_parsed(loads((vectors / "jcs" / "input" / f"{name}.json").read_bytes())) == want
    )


def test_vectors_cover_both_paths(vectors: Path) -> None:
    # structures.json has floats and weird.json astral-plane keys: the exact path must run.
    assert len(CASES) == len(list((vectors / "jcs" / "input").iterdir()))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"a": [math.nan]}])
def test_nan_and_infinity_refused(bad: object) -> None:
    with pytest.raises(CanonicalError):
        canonical(bad)


@pytest.mark.parametrize(
    "bad",
    [2**53 + 1, -(2**53) - 1, 1.5e300 * 1e10, {"k": 2**64}, {1: "int key"}, "\ud800", object()],
)
def test_unrepresentable_values_refused(bad: object) -> None:
    with pytest.raises(CanonicalError):
        canonical(bad)


def test_vietnamese_text_is_raw_utf8() -> None:
    assert canonical({"b": "Đức", "a": 1}) == '{"a":1,"b":"Đức"}'.encode()


@pytest.mark.parametrize("bad", [b"{", b'{"a":NaN}', b"\xff", b'"\\ud800"'])
def test_loads_rejects_invalid_json(bad: bytes) -> None:
    with pytest.raises(CanonicalError):
        loads(bad)
