"""ledger.merkle against a naive RFC 9162 reference, plus tampering properties and cost bounds.

The reference below is written straight from RFC 9162 sections 2.1.1 (MTH), 2.1.3.1 (PATH) and
2.1.4.1 (PROOF/SUBPROOF): recursive over the leaf list, with its own hashing. Its verifiers
(`ref_inclusion_ok`, `ref_consistency_ok`) rebuild the roots by running the same recursions over
the proof, so they are independent of the bit-twiddling algorithms of sections 2.1.3.2/2.1.4.2
that ledger.merkle implements. They serve as the oracle for "is this altered claim really
invalid?", because most claims with a tree size one off are accepted by the RFC algorithms
(see test_size_is_not_always_bound_by_the_proof).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

# --- the naive reference (RFC 9162, section 2.1) -------------------------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_inclusion_ok(lh: bytes, m: int, n: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Does PATH's recursion, run over `proof`, rebuild `root`? Proof elements are consumed from
    the end, since PATH lists the top-level sibling last."""
    if not 0 <= m < n or any(len(x) != 32 for x in [lh, root, *proof]):
        return False
    rest = list(proof)

    def rebuild(m: int, n: int) -> bytes | None:
        if n == 1:
            return lh
        if not rest:
            return None
        sibling = rest.pop()
        k = _k(n)
        if m < k:
            r = rebuild(m, k)
            return None if r is None else _h(b"\x01" + r + sibling)
        r = rebuild(m - k, n - k)
        return None if r is None else _h(b"\x01" + sibling + r)

    r = rebuild(m, n)
    return r is not None and not rest and r == root


def ref_consistency_ok(m: int, n: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> bool:
    """Does SUBPROOF's recursion, run over `proof`, rebuild both roots? Equal sizes need an empty
    proof and equal roots (the empty tree's being fixed); size 0 to more is refused."""
    if m == n:
        return not proof and root1 == root2 and (m > 0 or root1 == EMPTY_ROOT)
    if not 0 < m < n or any(len(x) != 32 for x in [root1, root2, *proof]):
        return False
    rest = list(proof)

    def rebuild(m: int, n: int, b: bool) -> tuple[bytes, bytes] | None:
        """(old root, new root) of this subtree, or None if the proof runs out."""
        if m == n:
            if b:  # this subtree is the old tree itself, whose root the verifier knows
                return root1, root1
            if not rest:
                return None
            e = rest.pop()
            return e, e
        if not rest:
            return None
        e = rest.pop()
        k = _k(n)
        if m <= k:
            sub = rebuild(m, k, b)
            return None if sub is None else (sub[0], _h(b"\x01" + sub[1] + e))
        sub = rebuild(m - k, n - k, False)
        if sub is None:
            return None
        return _h(b"\x01" + e + sub[0]), _h(b"\x01" + e + sub[1])

    got = rebuild(m, n, True)
    return got is not None and not rest and got == (root1, root2)


# --- helpers --------------------------------------------------------------------------------------


def _build(leaves: Sequence[bytes]) -> MerkleTree:
    tree = MerkleTree(MemoryNodeStore())
    for leaf in leaves:
        tree.append(leaf)
    return tree


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def _passes(verify: Callable[..., None], *args: Any) -> bool:
    try:
        verify(*args)
    except ProofError:
        return False
    return True


def _check_inclusion_tampering(
    lh: bytes, i: int, n: int, proof: list[bytes], root: bytes, bits: list[int]
) -> None:
    """Single-bit flips always break the proof; so does moving the index (all leaves distinct).
    A size one off is accepted exactly when the reference accepts it: usually, since the path of
    a leaf away from the right edge has the same shape in both trees."""
    with pytest.raises(ProofError):
        verify_inclusion(_flip(lh, bits[0]), i, n, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(lh, i, n, proof, _flip(root, bits[1]))
    for j in range(len(proof)):
        bad = [*proof[:j], _flip(proof[j], bits[2 + j]), *proof[j + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(lh, i, n, bad, root)
    for i2 in (i - 1, i + 1):
        # Distinct leaves: a different position gives a different left/right pattern, which only
        # a SHA-256 collision could reconcile.
        assert not ref_inclusion_ok(lh, i2, n, proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(lh, i2, n, proof, root)
    for n2 in (n - 1, n + 1):
        want = ref_inclusion_ok(lh, i, n2, proof, root)
        assert _passes(verify_inclusion, lh, i, n2, proof, root) is want, (i, n, n2)


def _check_consistency_tampering(
    m: int, n: int, proof: list[bytes], r1: bytes, r2: bytes, bits: list[int]
) -> None:
    with pytest.raises(ProofError):
        verify_consistency(m, n, proof, _flip(r1, bits[0]), r2)
    with pytest.raises(ProofError):
        verify_consistency(m, n, proof, r1, _flip(r2, bits[1]))
    for j in range(len(proof)):
        bad = [*proof[:j], _flip(proof[j], bits[2 + j]), *proof[j + 1 :]]
        with pytest.raises(ProofError):
            verify_consistency(m, n, bad, r1, r2)
    for m2, n2 in ((m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)):
        want = ref_consistency_ok(m2, n2, proof, r1, r2)
        got = _passes(verify_consistency, m2, n2, proof, r1, r2)
        assert got is want, (m, n, m2, n2)


# --- exhaustive comparison with the reference ----------------------------------------------------

SMALL = [b"leaf %d" % i for i in range(70)]


def test_matches_reference_exhaustively_up_to_70() -> None:
    tree = _build(SMALL)
    assert tree.root(0) == EMPTY_ROOT == ref_mth([])
    for n in range(1, len(SMALL) + 1):
        d = SMALL[:n]
        root = tree.root(n)
        assert root == ref_mth(d), n
        for m in range(n):
            proof = tree.inclusion_proof(m, n)
            assert proof == ref_path(m, d), (m, n)
            verify_inclusion(leaf_hash(d[m]), m, n, proof, root)
            assert ref_inclusion_ok(leaf_hash(d[m]), m, n, proof, root)
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            assert proof == ref_proof(m, d), (m, n)
            old = tree.root(m)
            verify_consistency(m, n, proof, old, root)
            assert ref_consistency_ok(m, n, proof, old, root)
    assert tree.root() == ref_mth(SMALL)


def test_hash_functions_are_rfc_6962() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == _h(b"\x00x")
    assert node_hash(b"a" * 32, b"b" * 32) == _h(b"\x01" + b"a" * 32 + b"b" * 32)


def test_size_is_not_always_bound_by_the_proof() -> None:
    # RFC behaviour, not a bug in our verifier: a proof binds the tree size only through the
    # shape of the path. Leaf 0's path in the tree of size 3 ([leaf 1, leaf 2]) has the same
    # shape as in a tree of size 4, so it also "verifies" for size 4 with the size-3 root. Away
    # from the right edge this is the common case (about 98% of size +-1 changes over a
    # 2,000-leaf tree, and likewise for size2 of a consistency proof; size1 changes never pass).
    # A signed checkpoint binds size and root together, which is what makes this harmless.
    tree = _build(SMALL[:3])
    proof, root = tree.inclusion_proof(0, 3), tree.root(3)
    verify_inclusion(leaf_hash(SMALL[0]), 0, 4, proof, root)
    assert ref_inclusion_ok(leaf_hash(SMALL[0]), 0, 4, proof, root)


# --- hypothesis properties over one 2,000-leaf tree and fresh small trees ------------------------

BIG_N = 2000
_rng = random.Random(6962)
BIG_LEAVES = [i.to_bytes(4, "big") + _rng.randbytes(_rng.randrange(0, 40)) for i in range(BIG_N)]
BIG = _build(BIG_LEAVES)
BIG_HASHES = [leaf_hash(x) for x in BIG_LEAVES]
BIG_ROOTS = [BIG.root(k) for k in range(BIG_N + 1)]

bit = st.integers(0, 255)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_inclusion_proofs_verify_and_resist_tampering(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, BIG_N), label="size")
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = BIG.inclusion_proof(i, n)
    assert len(proof) <= math.ceil(math.log2(n))
    verify_inclusion(BIG_HASHES[i], i, n, proof, BIG_ROOTS[n])
    assert root_from_inclusion(BIG_HASHES[i], i, n, proof) == BIG_ROOTS[n]
    bits = data.draw(st.lists(bit, min_size=len(proof) + 2, max_size=len(proof) + 2))
    _check_inclusion_tampering(BIG_HASHES[i], i, n, proof, BIG_ROOTS[n], bits)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_consistency_proofs_verify_and_resist_tampering(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, BIG_N), label="new size")
    m = data.draw(st.integers(1, n), label="old size")
    proof = BIG.consistency_proof(m, n)
    verify_consistency(m, n, proof, BIG_ROOTS[m], BIG_ROOTS[n])
    assert ref_consistency_ok(m, n, proof, BIG_ROOTS[m], BIG_ROOTS[n])
    bits = data.draw(st.lists(bit, min_size=len(proof) + 2, max_size=len(proof) + 2))
    _check_consistency_tampering(m, n, proof, BIG_ROOTS[m], BIG_ROOTS[n], bits)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_big_tree_proofs_match_reference(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, BIG_N), label="size")
    i = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(1, n), label="old size")
    assert BIG.inclusion_proof(i, n) == ref_path(i, BIG_LEAVES[:n])
    assert BIG.consistency_proof(m, n) == ref_proof(m, BIG_LEAVES[:n])


@settings(max_examples=300, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=6), min_size=1, max_size=48, unique=True),
    data=st.data(),
)
def test_fresh_small_trees(leaves: list[bytes], data: st.DataObject) -> None:
    tree = _build(leaves)
    n = data.draw(st.integers(1, len(leaves)), label="size")
    i = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(1, n), label="old size")
    d = leaves[:n]
    root, old = tree.root(n), tree.root(m)
    assert root == ref_mth(d)
    assert old == ref_mth(leaves[:m])

    proof = tree.inclusion_proof(i, n)
    assert proof == ref_path(i, d)
    verify_inclusion(leaf_hash(d[i]), i, n, proof, root)
    bits = data.draw(st.lists(bit, min_size=len(proof) + 2, max_size=len(proof) + 2))
    _check_inclusion_tampering(leaf_hash(d[i]), i, n, proof, root, bits)

    cproof = tree.consistency_proof(m, n)
    assert cproof == ref_proof(m, d)
    verify_consistency(m, n, cproof, old, root)
    bits = data.draw(st.lists(bit, min_size=len(cproof) + 2, max_size=len(cproof) + 2))
    _check_consistency_tampering(m, n, cproof, old, root, bits)


# --- verifier edge cases not in the vectors -------------------------------------------------------


def test_verifier_edges() -> None:
    tree = _build(SMALL[:5])
    lh, root = leaf_hash(SMALL[1]), tree.root(5)
    proof = tree.inclusion_proof(1, 5)
    for bad_index in (-1, 5, 2**64):
        with pytest.raises(ProofError, match="outside"):
            verify_inclusion(lh, bad_index, 5, proof, root)
    with pytest.raises(ProofError, match="no leaves"):
        verify_inclusion(lh, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match=r"proof hash \[1\] is 31 bytes"):
        verify_inclusion(lh, 1, 5, [proof[0], proof[1][:31], proof[2]], root)
    with pytest.raises(ProofError, match="needs 3"):
        verify_inclusion(lh, 1, 5, proof[:2], root)

    # Equal sizes: nothing to prove; the empty tree's root is fixed.
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(5, 5, [], root, root)
    with pytest.raises(ProofError, match="fixed root"):
        verify_consistency(0, 0, [], root, root)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, [], EMPTY_ROOT, root)
    with pytest.raises(ProofError, match="negative"):
        verify_consistency(-1, 5, [], EMPTY_ROOT, root)
    with pytest.raises(ProofError, match="never shrinks"):
        verify_consistency(5, 4, [], root, tree.root(4))
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(3, 5, [], tree.root(3), root)
    with pytest.raises(ProofError, match="root1"):
        verify_consistency(3, 5, tree.consistency_proof(3, 5), tree.root(2), root)
    with pytest.raises(ProofError, match="root2"):
        verify_consistency(3, 5, tree.consistency_proof(3, 5), tree.root(3), tree.root(4))


# --- MerkleTree and MemoryNodeStore behaviour ----------------------------------------------------


def test_tree_refuses_impossible_arguments() -> None:
    tree = _build(SMALL[:5])
    for call in (
        lambda: tree.inclusion_proof(5, 5),
        lambda: tree.inclusion_proof(-1, 5),
        lambda: tree.inclusion_proof(0, 6),
        lambda: tree.inclusion_proof(0, 0),
        lambda: tree.consistency_proof(4, 3),
        lambda: tree.consistency_proof(3, 6),
        lambda: tree.consistency_proof(-1, 3),
        lambda: tree.consistency_proof(0, 3),
        lambda: tree.root(6),
        lambda: tree.root(-1),
        lambda: tree.append_hash(b"short"),
        lambda: MerkleTree(MemoryNodeStore(), -1),
        lambda: MerkleTree(MemoryNodeStore(), 1),  # the store holds no such tree
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert not isinstance(info.value, ProofError)
    assert tree.consistency_proof(0, 0) == tree.consistency_proof(5, 5) == []


def test_reopened_tree_continues_where_it_left_off() -> None:
    store = MemoryNodeStore()
    first = MerkleTree(store)
    for leaf in SMALL[:37]:
        assert first.append(leaf) == leaf_hash(leaf)
    again = MerkleTree(store, 37)
    assert again.size == 37 and again.root() == first.root()
    for leaf in SMALL[37:]:
        again.append(leaf)
    assert again.root() == ref_mth(SMALL)
    assert again.root(37) == first.root()


class CountingStore:
    """A NodeStore wrapper that counts reads and written nodes."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.reads = 0
        self.writes = 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.inner.get(level, index)

    def put(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self.writes += len(nodes)
        self.inner.put(nodes)


def test_append_writes_one_node_per_completed_subtree() -> None:
    store = CountingStore(MemoryNodeStore())
    tree = MerkleTree(store)
    for i in range(300):
        before = store.writes
        tree.append_hash(leaf_hash(b"%d" % i))
        # The leaf, plus one parent per trailing 1 bit of its index; and never a read.
        trailing_ones = (i ^ (i + 1)).bit_length() - 1
        assert store.writes - before == 1 + trailing_ones
    assert store.reads == 0
    assert store.inner.nbytes == 32 * (2 * 300 - (300).bit_count())


def test_memory_store_refuses_gaps_and_rewrites() -> None:
    store = MemoryNodeStore()
    store.put([(0, 0, b"a" * 32)])
    store.put([(0, 0, b"a" * 32)])  # an identical rewrite is harmless
    with pytest.raises(ValueError, match="another hash"):
        store.put([(0, 0, b"b" * 32)])
    with pytest.raises(ValueError, match="gap"):
        store.put([(0, 2, b"c" * 32)])
    with pytest.raises(ValueError, match="bytes"):
        store.put([(0, 1, b"c")])
    for level, index in ((0, 1), (1, 0), (-1, 0), (0, -1)):
        with pytest.raises(KeyError):
            store.get(level, index)
    assert store.get(0, 0) == b"a" * 32


def test_proofs_read_logarithmically_many_nodes() -> None:
    n_total = 100_000
    inner = MemoryNodeStore()
    builder = MerkleTree(inner)
    for i in range(n_total):
        builder.append_hash(_h(i.to_bytes(4, "big")))
    store = CountingStore(inner)
    tree = MerkleTree(store, n_total)
    rng = random.Random(9162)
    sizes = [n_total, n_total - 1, 65_536, 65_537, 2, 3, 1]
    sizes += [rng.randrange(1, n_total + 1) for _ in range(200)]
    worst = 0
    for n in sizes:
        # Bound: PATH has at most ceil(log2 n) siblings. All but one are stored perfect subtrees
        # (1 read each). At most one sibling lies on the right edge of the tree of size n, and it
        # is folded from one perfect subtree per set bit of its length, which is below the size
        # of the perfect subtree beside it, so at most as many reads as the siblings still to
        # come below it. Hence reads <= 2 * ceil(log2 n): 34 at 100,000 leaves, whereas reading
        # the leaves would take up to 100,000. The same argument covers consistency proofs.
        bound = 2 * math.ceil(math.log2(n))
        for i in {0, n - 1, n // 2, rng.randrange(n)}:
            store.reads = 0
            proof = tree.inclusion_proof(i, n)
            assert store.reads <= bound, (i, n, store.reads)
            worst = max(worst, store.reads)
            verify_inclusion(inner.get(0, i), i, n, proof, tree.root(n))
        for m in {1, n, n // 2 or 1, rng.randrange(1, n + 1)}:
            store.reads = 0
            tree.consistency_proof(m, n)
            assert store.reads <= bound, (m, n, store.reads)
        store.reads = 0
        tree.root(n)
        assert store.reads <= n.bit_count()  # one perfect subtree per set bit of the size
    assert worst <= 34


def test_compact_range_matches_tree_roots() -> None:
    tree = MerkleTree(MemoryNodeStore())
    hashes = [tree.append(b"entry %d" % i) for i in range(300)]
    cr = CompactRange()
    assert cr.size == 0 and cr.root() == EMPTY_ROOT == tree.root(0)
    for k in range(1, 301):
        cr.append(hashes[k - 1])
        assert cr.size == k
        assert cr.root() == tree.root(k), k
        assert cr.root() == tree.root(k)  # cached value, same answer
    with pytest.raises(ValueError):
        cr.append(b"short")
