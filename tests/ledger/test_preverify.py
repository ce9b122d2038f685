"""Signatures checked ahead (`LogVerifier.preverify`, on worker processes or threads) and
deferred (`extend(defer=True)`, settled by `finish`) must find exactly what checking each
signature in turn finds: the same findings, in the same order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from ledgerkit import ORIGIN, Ledger, build_ledger

from ledger.records import sign_record
from ledger.verify import LogVerifier, SignatureWorkers
from schemas.canonical import canonical, canonical_parsed

LEDGER = build_ledger(150, officers=3, checkpoint_every=50)
WORKERS = SignatureWorkers(1)


def _findings(verifier: LogVerifier) -> list[dict[str, Any]]:
    return [f.model_dump() for f in verifier.report.findings]


def _direct(led: Ledger, leaves: list[bytes]) -> list[dict[str, Any]]:
    v = LogVerifier(led.station_cert, ORIGIN)
    v.extend(leaves, led.checkpoints)
    v.finish()
    return _findings(v)


def _ahead(led: Ledger, leaves: list[bytes], how: str) -> list[dict[str, Any]]:
    parsed = [orjson.loads(leaf) for leaf in leaves]
    fresh = [canonical_parsed(ev) for ev in parsed]  # as the hub makes its leaves
    v = LogVerifier(led.station_cert, ORIGIN)
    with ThreadPoolExecutor(2) as pool:
        if how == "workers":
            v.preverify(fresh, WORKERS, parsed=parsed, validate=len(fresh) // 2)
        elif how == "killed-worker":
            v.preverify(fresh, WORKERS, parsed=parsed)
            assert v._run is not None
            v._run.proc.kill()  # the worker dies: every signature is checked here instead
        elif how == "threads":
            v.preverify(fresh, pool, parsed=parsed)
        else:
            v.preverify(fresh, pool)
        v.extend(fresh, led.checkpoints, parsed=parsed, canonical=True, defer=True)
        v.finish()
    return _findings(v)


def _swap_sig(leaves: list[bytes], index: int, other: int) -> None:
    ev = orjson.loads(leaves[index])
    ev["sig"] = orjson.loads(leaves[other])["sig"]  # well-formed, but not this entry's
    leaves[index] = canonical(ev)


def _tampered() -> list[list[bytes]]:
    out = [list(LEDGER.leaves)]
    one = list(LEDGER.leaves)
    _swap_sig(one, 60, 61)
    out.append(one)
    several = list(LEDGER.leaves)
    for i in (10, 11, 12, 90, 140):  # neighbours: equal positions must keep entry order
        _swap_sig(several, i, i + 1)
    ev = orjson.loads(several[30])
    ev["data"]["summary"] = "đã sửa"  # re-signed by its officer: prev chain breaks after it
    officer = next(o for o in LEDGER.officers if o.key_id == ev["officer"])
    several[30] = canonical(sign_record(ev, officer))
    out.append(several)
    retired = list(LEDGER.leaves)
    ev = orjson.loads(retired[70])
    ev["sig"] = "A" * 85 + "B"  # not a valid encoding (last character): no deferral
    retired[70] = canonical(ev)
    out.append(retired)
    return out


@pytest.mark.parametrize("how", ["workers", "killed-worker", "threads", "threads-from-leaves"])
@pytest.mark.parametrize("case", range(4))
def test_deferred_checks_find_what_direct_checks_find(how: str, case: int) -> None:
    leaves = _tampered()[case]
    expected = _direct(LEDGER, leaves)
    assert (case == 0) == (expected == [])
    assert _ahead(LEDGER, leaves, how) == expected


def test_deferred_bad_signatures_are_found_in_place() -> None:
    leaves = _tampered()[2]
    found = [(f["code"], f["index"]) for f in _ahead(LEDGER, leaves, "workers")]
    bad = [i for code, i in found if code == "bad-signature"]
    assert bad == [10, 11, 12, 90, 140]
    assert ("bad-prev", 31) in found  # entry 30 was re-signed: the chain breaks after it
    assert found.index(("bad-signature", 90)) < found.index(("bad-prev", 91))


def test_worker_confirms_only_what_verifies() -> None:
    parsed = [orjson.loads(leaf) for leaf in LEDGER.leaves]
    v = LogVerifier(LEDGER.station_cert, ORIGIN)
    v.preverify(LEDGER.leaves, WORKERS, parsed=parsed)
    assert v._run is not None
    items = v._run.items
    assert len(items) == len(LEDGER.leaves)  # station and officer keys are all known here
    assert WORKERS.start(items) is None  # the only worker is busy: the caller checks itself
    v.finish()
    assert v.report.ok
    run = WORKERS.start([*items[:5], (items[0][0], items[1][1], items[0][2])])
    assert run is not None
    assert run.result() == list(items[:5])
