"""Offline verification of an audit log against its signed checkpoints, and of proofs.

:func:`verify_log` recomputes every leaf and the tree, checks each checkpoint's signature,
that checkpoints of one size agree, and that the log's root at each checkpoint's size is
the signed one — which is exactly "each later checkpoint extends the earlier" (RFC 9162
consistency) for a log held in full. It names the first bad entry:

- an entry that is not canonical JSON of a valid entry, or whose ``index`` is not its
  position (a dropped, reordered or inserted entry) is named exactly;
- an entry changed into another valid entry is visible as a root mismatch; the report
  names it exactly when the leaf hashes the hub signed beside its checkpoints
  (:mod:`hub.audit.leaves`) cover it, else the first entry after the last checkpoint that
  still matches (the change lies between it and the mismatching checkpoint);
- entries missing at the end (truncation) are named from the first missing index;
- with ``require_covered`` (exports), entries after the last checkpoint are refused:
  nobody signed them, so they may have been appended by anyone.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.audit.checkpoint import Checkpoint, CheckpointVerifier, open_checkpoint
from hub.audit.entries import parse_entry
from hub.audit.errors import AuditEntryInvalid, CheckpointError, ProofError
from hub.audit.leaves import signed_leaf_map
from hub.audit.merkle import CompactTree, leaf_hash, verify_inclusion

__all__ = [
    "PROGRESS_EVERY",
    "PROOF_FORMAT",
    "Problem",
    "VerifyReport",
    "load_proof_bundle",
    "make_proof_bundle",
    "verify_log",
    "verify_proof_bundle",
]

PROOF_FORMAT = "enlace-audit-proof"
PROGRESS_EVERY = 1000
"""How many entries :func:`verify_log` checks between two calls of its ``progress``."""


@dataclass(frozen=True)
class Problem:
    """The first thing wrong: an entry index and/or a checkpoint number, and why."""

    reason: str
    index: int | None = None
    checkpoint: int | None = None

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"entry {self.index}")
        if self.checkpoint is not None:
            where.append(f"checkpoint #{self.checkpoint}")
        return f"{', '.join(where) or 'log'}: {self.reason}"


@dataclass
class VerifyReport:
    """What ``enlace audit verify`` prints."""

    size: int
    root: bytes
    checkpoints: int
    covered: int  # entries covered by the largest valid checkpoint
    origin: str | None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def first_bad_index(self) -> int | None:
        return self.problem.index if self.problem else None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoints": self.checkpoints,
            "covered": self.covered,
            "origin": self.origin,
            "first_bad_index": self.first_bad_index,
            "problem": str(self.problem) if self.problem else None,
            "notes": self.notes,
        }


def _open_all(
    notes: Sequence[str], verifiers: list[CheckpointVerifier], origin: str | None
) -> tuple[list[tuple[int, Checkpoint]], Problem | None]:
    opened: list[tuple[int, Checkpoint]] = []
    for number, note in enumerate(notes):
        try:
            cp = open_checkpoint(note, verifiers)
        except CheckpointError as exc:
            return opened, Problem(exc.description, checkpoint=number)
        origin = origin or cp.origin
        if cp.origin != origin:
            return opened, Problem(
                f"origin {cp.origin!r} is not this log's {origin!r}", checkpoint=number
            )
        opened.append((number, cp))
    return opened, None


def verify_log(
    entries: Sequence[bytes],
    notes: Sequence[str],
    verifiers: Iterable[CheckpointVerifier],
    *,
    require_covered: bool = False,
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
    leaves: Sequence[str] = (),
) -> VerifyReport:
    """Verify ``entries`` (raw bytes, in log order) against signed checkpoint ``notes``.

    Args:
        entries: the stored bytes of each entry.
        notes: signed checkpoints, in any order.
        verifiers: the hub keys that may sign checkpoints.
        require_covered: refuse entries after the largest checkpoint (for exports).
        origin: the expected log origin (default: the first checkpoint's).
        progress: called with the number of entries checked so far, every
            :data:`PROGRESS_EVERY` entries and at the end (the console's progress bar).
        leaves: signed leaves notes stored beside the checkpoints; they let a change in
            place be named exactly.
    """
    keys = list(verifiers)
    opened, problem = _open_all(notes, keys, origin)
    origin = origin or (opened[0][1].origin if opened else None)
    report = VerifyReport(len(entries), b"", len(notes), 0, origin)
    tree = CompactTree()
    if problem is None:
        checkpoints = sorted(opened, key=lambda p: p[1].size)
        problem = _walk(entries, checkpoints, tree, report, progress)
        if problem is not None and problem.checkpoint is not None and leaves:
            problem = _pinpoint(entries, problem, signed_leaf_map(leaves, keys, origin))
    if progress is not None:
        progress(len(entries))
    report.problem = problem
    report.root = tree.root()
    if problem is None and report.covered < len(entries):
        tail = len(entries) - report.covered
        if require_covered:
            report.problem = Problem(
                f"{tail} entries from here on are not covered by any signed checkpoint "
                f"(the last covers {report.covered}): appended after it, by anyone",
                index=report.covered,
            )
        else:
            report.notes.append(f"{tail} newest entries are not yet covered by a checkpoint")
    return report


def _walk(
    entries: Sequence[bytes],
    checkpoints: list[tuple[int, Checkpoint]],
    tree: CompactTree,
    report: VerifyReport,
    progress: Callable[[int], None] | None = None,
) -> Problem | None:
    pos = 0  # next checkpoint to compare
    good = 0  # size of the last checkpoint that matched
    for i in range(len(entries) + 1):
        while pos < len(checkpoints) and checkpoints[pos][1].size == i:
            number, cp = checkpoints[pos]
            if tree.root() != cp.root:
                return Problem(
                    f"entries {good}..{i - 1} do not hash to the root signed in checkpoint "
                    f"#{number} (size {cp.size}, {cp.time:%Y-%m-%dT%H:%M:%SZ}): one of them "
                    f"was changed, removed or inserted; the first that may be bad is {good}",
                    index=good,
                    checkpoint=number,
                )
            good = cp.size
            report.covered = cp.size
            pos += 1
        if i == len(entries):
            break
        if progress is not None and i % PROGRESS_EVERY == 0:
            progress(i)
        try:
            entry = parse_entry(entries[i])
        except AuditEntryInvalid as exc:
            return Problem(exc.description, index=i)
        if entry.index != i:
            return Problem(
                f"holds index {entry.index} at position {i}: an entry was dropped, "
                "reordered or inserted here",
                index=i,
            )
        tree.append(leaf_hash(entries[i]))
    if pos < len(checkpoints):
        number, cp = checkpoints[pos]
        return Problem(
            f"the log ends after {len(entries)} entries, but checkpoint #{number} "
            f"({cp.time:%Y-%m-%dT%H:%M:%SZ}) signed {cp.size}: entries from here on are "
            "missing (truncated)",
            index=len(entries),
            checkpoint=number,
        )
    return None


def _pinpoint(entries: Sequence[bytes], problem: Problem, signed: dict[int, bytes]) -> Problem:
    """The exact entry of a root mismatch, if a signed leaf hash differs from its own."""
    start = problem.index or 0
    for i in range(start, len(entries)):
        expected = signed.get(i)
        if expected is not None and leaf_hash(entries[i]) != expected:
            return Problem(
                "changed in place: its leaf hash is not the one the hub signed beside its "
                f"checkpoints (checkpoint #{problem.checkpoint} no longer matches)",
                index=i,
                checkpoint=problem.checkpoint,
            )
    return problem


def make_proof_bundle(entry: bytes, index: int, proof: list[bytes], note: str) -> dict[str, Any]:
    """The JSON a party keeps to show that ``entry`` is in the log signed by ``note``.

    Args:
        entry: the audit entry proved.
        index: its leaf index.
        proof: its audit path in the checkpoint's tree.
        note: the signed checkpoint the proof is against.

    Returns:
        The bundle as JSON-ready data (``enlace audit verify-proof`` reads it back).
    """
    return {
        "format": PROOF_FORMAT,
        "version": 1,
        "index": index,
        "entry": entry.decode("utf-8"),
        "proof": [base64.b64encode(p).decode() for p in proof],
        "checkpoint": note,
    }


def verify_proof_bundle(
    bundle: dict[str, Any], verifiers: Iterable[CheckpointVerifier]
) -> tuple[Checkpoint, int]:
    """Check an inclusion-proof bundle; returns the checkpoint and the entry's index.

    Raises:
        ProofError: malformed bundle, or the entry is not in the signed tree.
        CheckpointError: the checkpoint is not validly signed by a hub key.
    """
    if bundle.get("format") != PROOF_FORMAT:
        raise ProofError(f"not an audit proof (format is {bundle.get('format')!r})")
    try:
        index = int(bundle["index"])
        entry = str(bundle["entry"]).encode("utf-8")
        proof = [base64.b64decode(p, validate=True) for p in bundle["proof"]]
        note = str(bundle["checkpoint"])
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ProofError(f"malformed proof bundle ({type(exc).__name__}: {exc})") from None
    cp = open_checkpoint(note, verifiers)
    try:
        parsed = parse_entry(entry)
    except AuditEntryInvalid as exc:
        raise ProofError(f"the entry in the proof is not valid: {exc.description}") from None
    if parsed.index != index:
        raise ProofError(f"the entry holds index {parsed.index}, the proof says {index}")
    verify_inclusion(leaf_hash(entry), index, cp.size, proof, cp.root)
    return cp, index


def load_proof_bundle(text: str) -> dict[str, Any]:
    """Parse a proof bundle file's text.

    Raises:
        ProofError: not a JSON object.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProofError(f"proof file is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ProofError("proof file is not a JSON object")
    return data
