"""The Merkle tree of RFC 6962 / RFC 9162 §2.1: hashes, proofs and their verification.

Leaf hash ``SHA-256(0x00 ‖ entry)``, node hash ``SHA-256(0x01 ‖ left ‖ right)``; the root
of ``n`` leaves splits at the largest power of two below ``n``. Proof generation works on
the list of leaf hashes (the log holds them all); verification needs only the proof.
:class:`CompactTree` appends leaves in O(log n) and gives the root at every size, which is
how the writer and ``enlace audit verify`` follow a growing log. Its state (size and
peaks) is small enough to store beside a checkpoint, so the writer can resume from it
(:meth:`CompactTree.from_peaks`) instead of re-reading every leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from hub.audit.errors import ProofError, TreeStateError
from schemas import tlog
from schemas.errors import TlogError
from schemas.tlog import leaf_hash, node_hash

__all__ = [
    "EMPTY_ROOT",
    "MEMO_MIN",
    "CompactTree",
    "Memo",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH of the given leaf hashes (RFC 6962 §2.1)."""
    tree = CompactTree()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


MEMO_MIN = 256
"""The smallest perfect subtree a proof memo keeps (smaller ones are hashed again)."""

Memo = dict[tuple[int, int], bytes]
"""Roots of perfect subtrees by (first leaf, size): of an append-only log they never change."""


def _mth(leaves: Sequence[bytes], lo: int, hi: int, memo: Memo | None = None) -> bytes:
    n = hi - lo
    if n == 1:
        return leaves[lo]
    key = (lo, n) if memo is not None and n >= MEMO_MIN and n & (n - 1) == 0 else None
    if key is not None and memo is not None and key in memo:
        return memo[key]
    k = _split(n)
    root = node_hash(_mth(leaves, lo, lo + k, memo), _mth(leaves, lo + k, hi, memo))
    if key is not None and memo is not None:
        memo[key] = root
    return root


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves.

    Args:
        leaves: the leaf hashes.
        index: the leaf to prove.
        size: the size of the tree it is proved in (every leaf if None).

    Returns:
        The sibling hashes, leaf up.

    Raises:
        ProofError: ``index`` is not below ``size``, or ``size`` exceeds the leaves.
    """
    size = len(leaves) if size is None else size
    if not 0 <= index < size <= len(leaves):
        raise ProofError(f"no leaf {index} in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root, collecting the sibling subtrees; the path lists them leaf-up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_mth(leaves, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(
    leaves: Sequence[bytes], old_size: int, new_size: int, memo: Memo | None = None
) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of that of ``new_size``.

    Args:
        leaves: the leaf hashes.
        old_size: the older tree's size.
        new_size: the newer tree's size.
        memo: roots of perfect subtrees kept between calls on the same growing log (the
            hub answering witnesses): a proof then costs O(log² n) hashes, not O(n).

    Returns:
        The proof's hashes (none when a size is 0 or both are equal).

    Raises:
        ProofError: the sizes are not ``0 ≤ old ≤ new ≤ len(leaves)``.
    """
    if not 0 <= old_size <= new_size <= len(leaves):
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    return _subproof(leaves, old_size, 0, new_size, True, memo)


def _subproof(
    leaves: Sequence[bytes], m: int, lo: int, hi: int, whole: bool, memo: Memo | None
) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [_mth(leaves, lo, hi, memo)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves, m, lo, lo + k, whole, memo), _mth(leaves, lo + k, hi, memo)]
    return [*_subproof(leaves, m - k, lo + k, hi, False, memo), _mth(leaves, lo, lo + k, memo)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2).

    Args:
        leaf: the leaf hash.
        index: its position.
        size: the tree's size.
        proof: the audit path (:func:`inclusion_proof`).
        root: the tree's root hash (from a signed checkpoint).

    Raises:
        ProofError: the proof does not lead from ``leaf`` at ``index`` to ``root``.
    """
    if index >= size or index < 0:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2; :func:`schemas.tlog.verify_consistency`).

    Args:
        old_size: the older tree's size.
        new_size: the newer tree's size.
        old_root: the older tree's root hash.
        new_root: the newer tree's root hash.
        proof: the consistency proof (:func:`consistency_proof`).

    Raises:
        ProofError: the tree of ``new_root`` does not extend that of ``old_root``.
    """
    try:
        tlog.verify_consistency(old_size, new_size, old_root, new_root, proof)
    except TlogError as exc:
        raise ProofError(exc.description) from None


class CompactTree:
    """An append-only tree kept as the roots of its perfect subtrees (largest first)."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []

    @classmethod
    def from_peaks(cls, size: int, peaks: Sequence[bytes]) -> CompactTree:
        """The tree of ``size`` leaves whose perfect subtrees have the roots ``peaks``.

        A tree of ``size`` leaves has one perfect subtree per 1-bit of ``size`` (largest
        first), so the number of peaks is fixed by the size. Whether the peaks are the
        right ones only the root can tell: compare :meth:`root` with a signed root.

        Raises:
            TreeStateError: ``size`` is negative, a peak is not 32 bytes, or the number
                of peaks is not the number of 1-bits of ``size``.
        """
        if size < 0:
            raise TreeStateError(f"a tree cannot have {size} leaves")
        expected = size.bit_count()
        if len(peaks) != expected:
            raise TreeStateError(
                f"a tree of {size} leaves has {expected} peaks, the state gives {len(peaks)}"
            )
        for i, peak in enumerate(peaks):
            if len(peak) != 32:
                raise TreeStateError(f"peak {i} has {len(peak)} bytes, not 32 (SHA-256)")
        tree = cls()
        tree.size = size
        tree._peaks = list(peaks)
        return tree

    @property
    def peaks(self) -> tuple[bytes, ...]:
        """The roots of the perfect subtrees, largest first (a copy: the tree grows on)."""
        return tuple(self._peaks)

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash."""
        self._peaks.append(leaf)
        self.size += 1
        # Each trailing 1-bit of the new size is a pair of equal subtrees to merge.
        n = self.size
        while not n & 1:
            right = self._peaks.pop()
            self._peaks[-1] = node_hash(self._peaks[-1], right)
            n >>= 1

    def root(self) -> bytes:
        """The root of the tree of all leaves so far."""
        if not self._peaks:
            return EMPTY_ROOT
        r = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            r = node_hash(peak, r)
        return r
