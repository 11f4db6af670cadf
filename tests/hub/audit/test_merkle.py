"""The Merkle tree against RFC 6962's published vectors and an independent reimplementation."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit.errors import ProofError, TreeStateError
from hub.audit.merkle import (
    EMPTY_ROOT,
    MEMO_MIN,
    CompactTree,
    Memo,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# -- an independent, deliberately naive RFC 6962 §2.1 (list slicing, straight from the text) --


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# -- RFC 6962 test vectors (certificate-transparency reference implementation) ---------------

VECTOR_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_published_vectors(size: int) -> None:
    hashes = [leaf_hash(x) for x in VECTOR_LEAVES[:size]]
    assert root_hash(hashes).hex() == VECTOR_ROOTS[size - 1]
    assert ref_mth(VECTOR_LEAVES[:size]).hex() == VECTOR_ROOTS[size - 1]


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert CompactTree().root() == EMPTY_ROOT


def _data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=140), st.data())
def test_inclusion_proofs_match_the_reference_and_verify(n: int, data: st.DataObject) -> None:
    leaves = _data(n)
    hashes = [leaf_hash(x) for x in leaves]
    root = ref_mth(leaves)
    assert root_hash(hashes) == root
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(hashes, index)
    assert proof == ref_path(index, leaves)
    verify_inclusion(hashes[index], index, n, proof, root)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=140), st.data())
def test_consistency_proofs_match_the_reference_and_verify(n: int, data: st.DataObject) -> None:
    leaves = _data(n)
    hashes = [leaf_hash(x) for x in leaves]
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = consistency_proof(hashes, m, n)
    assert proof == ref_proof(m, leaves)
    verify_consistency(m, n, ref_mth(leaves[:m]), ref_mth(leaves), proof)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2, max_value=70), st.data())
def test_tampered_inclusion_proofs_are_refused(n: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in _data(n)]
    root = root_hash(hashes)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(hashes, index)
    # Another leaf at the same place, the leaf at another index, a changed path node,
    # a shortened or lengthened path, or another size never verify.
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"forged"), index, n, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(hashes[index], (index + 1) % n, n, proof, root)
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[at] = bytes([bad[at][0] ^ 1]) + bad[at][1:]
        with pytest.raises(ProofError):
            verify_inclusion(hashes[index], index, n, bad, root)
        with pytest.raises(ProofError):
            verify_inclusion(hashes[index], index, n, proof[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(hashes[index], index, n, [*proof, root], root)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2, max_value=70), st.data())
def test_consistency_with_a_forked_log_is_refused(n: int, data: st.DataObject) -> None:
    leaves = _data(n)
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    forked = [*leaves[: m - 1], b"rewritten", *leaves[m:]]
    hashes = [leaf_hash(x) for x in leaves]
    proof = consistency_proof(hashes, m, n)
    with pytest.raises(ProofError):
        verify_consistency(m, n, ref_mth(forked[:m]), ref_mth(leaves), proof)
    with pytest.raises(ProofError):
        verify_consistency(m, n, ref_mth(leaves[:m]), ref_mth(forked), proof)


def test_compact_tree_gives_the_root_at_every_size() -> None:
    leaves = _data(300)
    tree = CompactTree()
    for i, x in enumerate(leaves):
        tree.append(leaf_hash(x))
        if i % 37 == 0 or i == 299:
            assert tree.root() == ref_mth(leaves[: i + 1])


def test_proof_requests_outside_the_tree_are_refused() -> None:
    hashes = [leaf_hash(x) for x in _data(4)]
    with pytest.raises(ProofError):
        inclusion_proof(hashes, 4)
    with pytest.raises(ProofError):
        consistency_proof(hashes, 3, 5)
    with pytest.raises(ProofError):
        verify_inclusion(hashes[0], 5, 4, [], root_hash(hashes))


# -- resuming a tree from its stored state (size + peaks) -------------------------------------


def _leaves(n: int, tag: bytes = b"") -> list[bytes]:
    return [leaf_hash(tag + b"%d" % i) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=70))
def test_a_tree_rebuilt_from_its_peaks_has_the_same_root_and_grows_the_same(
    n: int, more: int
) -> None:
    full = CompactTree()
    for leaf in _leaves(n):
        full.append(leaf)
    assert len(full.peaks) == n.bit_count()
    resumed = CompactTree.from_peaks(full.size, full.peaks)
    assert resumed.size == n
    assert resumed.root() == full.root()
    for leaf in _leaves(more, b"after"):
        full.append(leaf)
        resumed.append(leaf)
        assert resumed.root() == full.root()
    assert resumed.peaks == full.peaks
    assert resumed.root() == ref_mth(
        [b"%d" % i for i in range(n)] + [b"after%d" % i for i in range(more)]
    )


def test_peaks_are_a_copy_the_tree_does_not_share() -> None:
    tree = CompactTree()
    tree.append(leaf_hash(b"a"))
    peaks = tree.peaks
    tree.append(leaf_hash(b"b"))
    assert peaks == (leaf_hash(b"a"),)


@pytest.mark.parametrize(
    ("size", "peaks", "problem"),
    [
        (-1, [], "cannot have -1 leaves"),
        (3, [b"\x00" * 32], "has 2 peaks, the state gives 1"),
        (4, [b"\x00" * 32, b"\x00" * 32], "has 1 peaks, the state gives 2"),
        (0, [b"\x00" * 32], "has 0 peaks"),
        (1, [b"\x00" * 31], "peak 0 has 31 bytes"),
    ],
)
def test_peaks_that_cannot_make_a_tree_of_that_size_are_refused(
    size: int, peaks: list[bytes], problem: str
) -> None:
    with pytest.raises(TreeStateError, match=problem) as info:
        CompactTree.from_peaks(size, peaks)
    assert info.value.code == "audit_tree_state"


def test_wrong_peaks_of_the_right_count_give_another_root() -> None:
    tree = CompactTree()
    for leaf in _leaves(6):
        tree.append(leaf)
    forged = [tree.peaks[0], leaf_hash(b"forged")]
    assert CompactTree.from_peaks(6, forged).root() != tree.root()


def test_proofs_with_a_memo_of_a_growing_log_are_the_proofs_without() -> None:
    # The hub answers witnesses from one memo while its log grows: every proof must be the
    # one made from scratch, whatever sizes came before (perfect subtrees never change).
    hashes = [leaf_hash(str(i).encode()) for i in range(3000)]
    memo: Memo = {}
    rng = random.Random(7)
    size = MEMO_MIN + 1
    while size < len(hashes):
        old = rng.randrange(1, size + 1)
        assert consistency_proof(hashes, old, size, memo) == consistency_proof(hashes, old, size)
        size += rng.randrange(1, 400)
    assert memo and all(n >= MEMO_MIN and n & (n - 1) == 0 for _, n in memo)
