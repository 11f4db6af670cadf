"""Inclusion proofs of chosen entries against the latest signed checkpoint.

What ``enlace audit proof`` writes and the console's trail offers as downloads: one
:func:`~hub.audit.verify.make_proof_bundle` per entry, each checked back by
``enlace audit verify-proof``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hub.audit.checkpoint import Checkpoint
from hub.audit.errors import CheckpointError, ProofError
from hub.audit.merkle import inclusion_proof, leaf_hash
from hub.audit.verify import make_proof_bundle

__all__ = ["entry_proofs", "latest_checkpoint", "peek_checkpoint"]


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
