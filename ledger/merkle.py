"""RFC 6962 / RFC 9162 Merkle tree: hashing, proofs and their verification.

The tree is storage-agnostic. `MerkleTree` keeps its nodes in a `NodeStore` that holds only the
hashes of perfect (complete) subtrees, which never change once written; any other subtree hash a
root or proof needs lies on the right edge of some past tree and is folded from O(log n) perfect
subtrees. `MemoryNodeStore` is a compact in-memory store; stations and the hub supply their own
database-backed stores.

`CompactRange` is the streaming counterpart for verifiers that replay a whole log: O(log n)
memory, one leaf hash in, the root of the current size out.

The verifiers implement the algorithms of RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2
(consistency). They check every precondition up front so that a `ProofError` names exactly what
is wrong: a size, an index, a proof length, a hash length, or which root failed to match.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MemoryNodeStore",
    "MerkleTree",
    "NodeStore",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf): the domain-separated hash of one log entry."""
    return sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return sha256(_NODE_PREFIX + left + right).digest()


class ProofError(ValueError):
    """A proof, or the hashes and sizes it is checked against, does not verify."""


class NodeStore(Protocol):
    """Hashes of perfect (complete) subtrees. Node (level, index) covers leaves
    [index << level, (index + 1) << level); level 0 = leaf hashes. Once written, never changes."""

    def get(self, level: int, index: int) -> bytes:
        """The 32-byte hash of node (level, index); KeyError if absent."""
        ...

    def put(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store (level, index, hash) triples; one call per appended leaf, so one transaction."""
        ...


class MemoryNodeStore:
    """A `NodeStore` in memory: one bytearray per level, 32 bytes a node, no per-node objects.

    2**20 leaves take 2**21 - 1 nodes, i.e. 64 MiB. Each level is written in index order, as an
    append-only tree does; a write that would leave a gap is refused, and rewriting a node is
    allowed only with the same hash (nodes of perfect subtrees never change).
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    def get(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or level >= len(self._levels):
            raise KeyError((level, index))
        row = self._levels[level]
        offset = index * HASH_SIZE
        if offset >= len(row):
            raise KeyError((level, index))
        return bytes(row[offset : offset + HASH_SIZE])

    def put(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        for level, index, digest in nodes:
            if len(digest) != HASH_SIZE:
                raise ValueError(f"node ({level}, {index}) hash is {len(digest)} bytes, not 32")
            if level < 0 or index < 0:
                raise ValueError(f"node ({level}, {index}) has a negative coordinate")
            while len(self._levels) <= level:
                self._levels.append(bytearray())
            row = self._levels[level]
            count = len(row) // HASH_SIZE
            if index == count:
                row += digest
            elif index < count:
                offset = index * HASH_SIZE
                if row[offset : offset + HASH_SIZE] != digest:
                    raise ValueError(f"node ({level}, {index}) is already stored with another hash")
            else:
                raise ValueError(
                    f"node ({level}, {index}) would leave a gap: level {level} holds {count} nodes"
                )

    @property
    def nbytes(self) -> int:
        """Bytes of hash data held (excluding the bytearrays' growth slack)."""
        return sum(len(row) for row in self._levels)


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 9162 tree over a `NodeStore`. Not thread-safe: one writer."""

    __slots__ = ("_frontier", "_size", "_store")

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        """Open a tree whose first `size` leaves (and their perfect subtrees) are in `store`."""
        if size < 0:
            raise ValueError(f"tree size {size} is negative")
        self._store = store
        self._size = size
        # The roots of the perfect subtrees that make up the current tree, largest first. Keeping
        # them makes append write-only and the current root read-free.
        self._frontier: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                try:
                    self._frontier.append(store.get(level, start >> level))
                except KeyError as exc:
                    raise ValueError(
                        f"store does not hold a tree of {size} leaves: "
                        f"node ({level}, {start >> level}) is missing"
                    ) from exc
                start += 1 << level

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> bytes:
        """Append a log entry; return its leaf hash."""
        digest = leaf_hash(leaf)
        self.append_hash(digest)
        return digest

    def append_hash(self, leaf_hash: bytes) -> None:
        """Append an entry by its leaf hash; writes the leaf and each subtree it completes."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not 32")
        index = self._size
        frontier = self._frontier
        nodes = [(0, index, leaf_hash)]
        digest = leaf_hash
        level = 0
        top = len(frontier)
        # Each trailing 1 bit of the index is a left sibling that the new leaf completes.
        while index >> level & 1:
            top -= 1
            digest = node_hash(frontier[top], digest)
            level += 1
            nodes.append((level, index >> level, digest))
        # Write before touching our own state, so a failing store leaves the tree unchanged.
        self._store.put(nodes)
        del frontier[top:]
        frontier.append(digest)
        self._size = index + 1

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree at `size` (default: now), any size from 0 to the current one."""
        if size is None or size == self._size:
            return _fold(self._frontier)
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} is outside 0..{self._size}")
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a node of some tree in the history (empty ranges excluded).

        Such a range is aligned: start is a multiple of a power of two >= end - start. So it is
        either one stored perfect subtree, or a right edge made of one perfect subtree per set
        bit of its length, largest first.
        """
        length = end - start
        if length & (length - 1) == 0:
            level = length.bit_length() - 1
            return self._store.get(level, start >> level)
        parts: list[bytes] = []
        for level in range(length.bit_length() - 1, -1, -1):
            if length >> level & 1:
                parts.append(self._store.get(level, start >> level))
                start += 1 << level
        return _fold(parts)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 2.1.3.1 PATH(index, D[0:size]), leaf side first."""
        if not 0 < size <= self._size:
            raise ValueError(f"size {size} is outside 1..{self._size}")
        if not 0 <= index < size:
            raise ValueError(f"index {index} is outside 0..{size - 1}")
        # Walk down from the root; each step's sibling is appended, then the list is reversed
        # because PATH lists the leaf's sibling first.
        proof: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                proof.append(self._range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._range_hash(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 2.1.4.1 PROOF(old_size, D[0:new_size]); empty when the sizes are equal."""
        if not 0 <= new_size <= self._size:
            raise ValueError(f"new size {new_size} is outside 0..{self._size}")
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is outside 0..{new_size}")
        if old_size == new_size:
            return []
        if old_size == 0:
            # RFC 9162 defines PROOF only for 0 < m < n, and verifiers refuse size 0.
            raise ValueError("there is no consistency proof from the empty tree")
        # SUBPROOF(m, D[start:end], complete) unrolled from the top; reversed at the end because
        # each level's hash follows the sub-proof below it.
        proof: list[bytes] = []
        start, end, m, complete = 0, new_size, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._range_hash(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            proof.append(self._range_hash(start, end))
        proof.reverse()
        return proof


def _fold(parts: Sequence[bytes]) -> bytes:
    """Root of a tree given the roots of its perfect subtrees, largest (leftmost) first."""
    if not parts:
        return EMPTY_ROOT
    digest = parts[-1]
    for i in range(len(parts) - 2, -1, -1):
        digest = sha256(_NODE_PREFIX + parts[i] + digest).digest()
    return digest


class CompactRange:
    """Streaming root computation for verifiers that replay a whole log from leaf 0.

    Holds the roots of the perfect subtrees of the current size (one per set bit), so memory is
    O(log n). append() costs one hash per subtree it completes (amortised under 2); root() folds
    the stack (popcount(size) - 1 hashes) and is cached until the next append, since a verifier
    often asks for the same root twice.
    """

    __slots__ = ("_root", "_stack", "size")

    def __init__(self) -> None:
        self.size: int = 0
        self._stack: list[bytes] = []
        self._root: bytes | None = EMPTY_ROOT

    @classmethod
    def restore(cls, size: int, stack: Sequence[bytes]) -> CompactRange:
        """Resume from a saved state (`size` and `stack`), e.g. a hub continuing a station's log."""
        if size < 0 or len(stack) != size.bit_count() or any(len(h) != HASH_SIZE for h in stack):
            raise ValueError(f"a compact range of size {size} has {size.bit_count()} hashes")
        self = cls()
        self.size = size
        self._stack = list(stack)
        self._root = None if stack else EMPTY_ROOT
        return self

    @property
    def stack(self) -> tuple[bytes, ...]:
        """The perfect subtree roots, largest first: with `size`, the whole state."""
        return tuple(self._stack)

    def append(self, leaf_hash: bytes) -> None:
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not 32")
        stack = self._stack
        n = self.size
        digest = leaf_hash
        # Each trailing 1 bit of the old size is a perfect subtree the new leaf completes.
        while n & 1:
            digest = sha256(b"\x01" + stack.pop() + digest).digest()
            n >>= 1
        stack.append(digest)
        self.size += 1
        self._root = None

    def root(self) -> bytes:
        digest = self._root
        if digest is None:
            stack = self._stack
            digest = stack[-1]
            for i in range(len(stack) - 2, -1, -1):
                digest = sha256(b"\x01" + stack[i] + digest).digest()
            self._root = digest
        return digest


def _hashes(n: int) -> str:
    return f"{n} hash" if n == 1 else f"{n} hashes"


def _need_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, not {HASH_SIZE}")


def _need_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, element in enumerate(proof):
        if len(element) != HASH_SIZE:
            raise ProofError(f"proof hash [{i}] is {len(element)} bytes, not {HASH_SIZE}")


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border): proof hashes below the point where the leaf's path and the right edge
    meet, and right-edge hashes above it (all on the left). Their sum is the proof length."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` implies for `leaf_hash` at `index` in a tree of `size` (RFC 9162
    2.1.3.2 without the final comparison). Raises ProofError if the proof cannot be one."""
    if size <= 0:
        raise ProofError(f"tree size {size} holds no leaves, so nothing is included in it")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _need_hash("leaf hash", leaf_hash)
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof has {_hashes(len(proof))}; leaf {index} of a tree of size {size} "
            f"needs {inner + border}"
        )
    _need_proof_hashes(proof)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as the RFC's own guard
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = sha256(_NODE_PREFIX + p + r).digest()
            # On the right edge a node may have no right sibling: climb until it is a right child.
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: raise ProofError unless `proof` shows `leaf_hash` at `index` in the tree
    of `size` whose root is `root`."""
    _need_hash("root", root)
    computed = root_from_inclusion(leaf_hash, index, size, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf {index} yields root {computed.hex()}, "
            f"not the tree of size {size}'s root {root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 2.1.4.2: raise ProofError unless `proof` shows that the tree of `size2` with
    `root2` extends the tree of `size1` with `root1`."""
    if size1 < 0 or size2 < 0:
        raise ProofError(f"tree sizes {size1} and {size2} must not be negative")
    if size1 > size2:
        raise ProofError(f"size1 {size1} exceeds size2 {size2}: a log never shrinks")
    if size1 == size2:
        # Nothing to prove: the roots must be the same bytes. Their length is deliberately not
        # checked here (the RFC compares only, and the upstream vector
        # "sizes-are-equal-one-and-proof-is-empty" expects two equal 12-byte roots to pass).
        if proof:
            raise ProofError(f"sizes are equal ({size1}) but the proof has {_hashes(len(proof))}")
        if size1 == 0 and (root1 != EMPTY_ROOT or root2 != EMPTY_ROOT):
            raise ProofError("the tree of size 0 has a fixed root, SHA-256 of the empty string")
        if root1 != root2:
            raise ProofError(f"sizes are equal ({size1}) but the roots differ")
        return
    if size1 == 0:
        # Every tree extends the empty one, so such a "proof" would prove nothing; refuse it.
        raise ProofError("consistency from the empty tree (size1 0) is refused: it proves nothing")
    _need_hash("root1", root1)
    _need_hash("root2", root2)
    if not proof:
        raise ProofError(f"consistency proof from {size1} to {size2} is empty")

    # Expected length (as transparency-dev/merkle computes it): the proof is the tail of the
    # inclusion proof of leaf size1 - 1 in the tree of size2, from the level of the largest
    # perfect subtree ending at size1, plus that subtree's root unless it is the whole old tree.
    shift = (size1 & -size1).bit_length() - 1
    inner, border = _inclusion_shape(size1 - 1, size2)
    inner -= shift
    seeded = size1 == 1 << shift  # size1 is a power of two: root1 itself starts the chain
    want = inner + border + (0 if seeded else 1)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof from {size1} to {size2} has {_hashes(len(proof))}, needs {want}"
        )
    _need_proof_hashes(proof)

    # RFC 9162 2.1.4.2, with root1 as the virtual first element when size1 is a power of two.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = root1 if seeded else proof[0]
    for i in range(0 if seeded else 1, len(proof)):
        c = proof[i]
        if sn == 0:  # unreachable after the length check; kept as the RFC's own guard
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = sha256(_NODE_PREFIX + c + fr).digest()
            sr = sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != root1:
        raise ProofError(
            f"consistency proof yields {fr.hex()} for the tree of size {size1}, "
            f"not root1 {root1.hex()}"
        )
    if sr != root2:
        raise ProofError(
            f"consistency proof yields {sr.hex()} for the tree of size {size2}, "
            f"not root2 {root2.hex()}"
        )
