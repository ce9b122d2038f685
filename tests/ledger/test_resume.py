"""The hub verifies each pushed run from a saved state: resuming must find exactly what one
whole pass finds, wherever the runs are cut."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from ledgerkit import Ledger, build_ledger

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.merkle import MemoryNodeStore, MerkleTree, leaf_hash
from ledger.verify import LogVerifier, verify_ledger

LEDGER = build_ledger(40, officers=3)


def checkpoint_at(ledger: Ledger, size: int) -> str:
    tree = MerkleTree(MemoryNodeStore())
    for leaf in ledger.leaves[:size]:
        tree.append_hash(leaf_hash(leaf))
    return sign_checkpoint(Checkpoint(ledger.log.origin, size, tree.root()), ledger.station)


def run_in_pieces(
    ledger: Ledger, leaves: list[bytes], cuts: list[int]
) -> list[tuple[str, int | None]]:
    state = None
    found: list[tuple[str, int | None]] = []
    bounds = [0, *sorted(set(cuts)), len(leaves)]
    for start, end in itertools.pairwise(bounds):
        if start == end:
            continue
        v = LogVerifier(ledger.station_cert, ledger.log.origin, state=state)
        v.extend(leaves[start:end], [checkpoint_at(ledger, end)] if leaves is ledger.leaves else [])
        v.finish()
        found += [(f.code, f.index) for f in v.report.findings]
        state = orjson.loads(orjson.dumps(v.state()))  # as the hub stores it: JSON
    return found


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, len(LEDGER.leaves) - 1), max_size=6))
def test_resumed_verification_of_a_good_log_finds_nothing(cuts: list[int]) -> None:
    assert run_in_pieces(LEDGER, LEDGER.leaves, cuts) == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, len(LEDGER.leaves) - 1), max_size=5),
    st.integers(2, len(LEDGER.leaves) - 1),
)
def test_resumed_verification_finds_what_one_pass_finds(cuts: list[int], bad: int) -> None:
    leaves = list(LEDGER.leaves)
    event = orjson.loads(leaves[bad])
    event["claimed_time"] = "2026-11-23T23:59:59+07:00"  # rewritten without re-signing
    leaves[bad] = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    whole = verify_ledger(leaves, station_cert=LEDGER.station_cert, origin=LEDGER.log.origin)
    expected = [(f.code, f.index) for f in whole.findings]
    assert ("bad-signature", bad) in expected
    assert run_in_pieces(LEDGER, leaves, cuts) == expected


def test_a_checkpoint_older_than_the_run_is_refused() -> None:
    v = LogVerifier(LEDGER.station_cert, LEDGER.log.origin)
    v.extend(LEDGER.leaves[:10], [checkpoint_at(LEDGER, 10)])
    resumed = LogVerifier(LEDGER.station_cert, LEDGER.log.origin, state=v.state())
    resumed.extend(LEDGER.leaves[10:20], [checkpoint_at(LEDGER, 5)])
    assert [f.code for f in resumed.report.findings] == ["checkpoint-before-run"]
