"""Inclusion proofs of chosen entries against the latest signed checkpoint, and
consistency proofs between two checkpoints.

What ``enlace audit proof`` writes and the console's trail offers as downloads: one
:func:`~hub.audit.verify.make_proof_bundle` per entry, each checked back by
``enlace audit verify-proof``. :func:`prove_consistency` is ``enlace audit consistency``,
the console's integrity page and what the hub answers a witness with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hub.audit.checkpoint import Checkpoint
from hub.audit.errors import CheckpointError, ProofError
from hub.audit.merkle import consistency_proof, inclusion_proof, leaf_hash, verify_consistency
from hub.audit.verify import make_proof_bundle

__all__ = ["entry_proofs", "latest_checkpoint", "peek_checkpoint", "prove_consistency"]


def peek_checkpoint(note: str) -> Checkpoint:
    """What a signed checkpoint says, without checking its signature (that comes later).

    Raises:
        CheckpointError: the note's body is not a checkpoint.
    """
    return Checkpoint.parse_body(note.partition("\n\n")[0] + "\n")


def latest_checkpoint(notes: Iterable[str]) -> tuple[str, Checkpoint] | None:
    """The note of the largest checkpoint among ``notes`` (unreadable ones skipped)."""
    best: tuple[str, Checkpoint] | None = None
    for note in notes:
        try:
            cp = peek_checkpoint(note)
        except CheckpointError:
            continue
        if best is None or cp.size > best[1].size:
            best = (note, cp)
    return best


def entry_proofs(
    entries: Sequence[bytes], note: str, size: int, indexes: Iterable[int]
) -> list[dict[str, Any]]:
    """A proof bundle for each entry of ``indexes`` in the tree of the first ``size`` entries.

    Args:
        entries: the log's raw entries, in order (at least ``size`` of them).
        note: the signed checkpoint of that tree.
        size: the checkpoint's size.
        indexes: the entries to prove (each below ``size``).

    Raises:
        ProofError: an index is not below ``size``, or the log holds fewer entries.
    """
    if len(entries) < size:
        raise ProofError(f"the log holds {len(entries)} entries, the checkpoint signed {size}")
    hashes = [leaf_hash(raw) for raw in entries[:size]]
    return [
        make_proof_bundle(entries[i], i, inclusion_proof(hashes, i, size), note) for i in indexes
    ]


def prove_consistency(entries: Sequence[bytes], old: Checkpoint, new: Checkpoint) -> list[bytes]:
    """The RFC 9162 consistency proof from ``old`` to ``new``, made from the log and checked.

    The proof is made from the leaves of ``entries`` and checked against both signed
    roots: it holds only if the older signed tree is a prefix of the newer one *and* the
    log held now is the one both were signed over.

    Args:
        entries: the log's raw entries, in order (at least ``new.size`` of them).
        old: the older checkpoint (its signature already checked).
        new: the newer checkpoint (its signature already checked).

    Raises:
        ProofError: ``old`` is larger than ``new``, another log's, the log holds fewer
            entries than ``new`` signed, or the two are not consistent (a fork, a rollback
            or a rewritten entry).
    """
    if old.origin != new.origin:
        raise ProofError(f"the checkpoints are of two logs ({old.origin!r}, {new.origin!r})")
    if old.size > new.size:
        raise ProofError(f"the old checkpoint ({old.size}) is larger than the new ({new.size})")
    if len(entries) < new.size:
        raise ProofError(
            f"the log holds only {len(entries)} entries, the checkpoint signed {new.size}"
        )
    leaves = [leaf_hash(raw) for raw in entries[: new.size]]
    if old.size == new.size:
        if old.root != new.root:
            raise ProofError(f"two checkpoints of size {old.size} sign different roots: a fork")
        return []
    proof = consistency_proof(leaves, old.size, new.size)
    verify_consistency(old.size, new.size, old.root, new.root, proof)
    return proof
