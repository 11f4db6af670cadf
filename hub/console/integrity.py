"""The integrity page's logic: the latest signed checkpoints and the "verify now" run.

A run is the same check as ``enlace audit verify`` (:func:`hub.audit.verify.verify_log`
over the whole log and every stored checkpoint), then the RFC 6962 consistency proof
from the previous checkpoint to the latest one, made from the log's leaves and checked
against both signed roots (:mod:`hub.audit.merkle`). One run at a time; the last one's
result stays in memory (with when and by whom it was started) until the next.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import nats.errors

from hub.audit.checkpoint import (
    Checkpoint,
    CheckpointVerifier,
    key_hash,
    note_signers,
    open_checkpoint,
)
from hub.audit.errors import AuditError, CheckpointError, ProofError
from hub.audit.proofs import peek_checkpoint, prove_consistency
from hub.audit.reader import AuditReader, leaf_notes
from hub.audit.verify import VerifyReport, verify_log
from hub.audit.witness import WitnessReport, party_system_keys, witness_report
from hub.deployment import Deployment
from schemas.errors import GovernanceError
from schemas.trust import load_directory, load_trust_root

__all__ = [
    "RECENT_WITNESS_RECORDS",
    "CheckpointView",
    "Consistency",
    "Verifications",
    "VerifyRun",
    "check_consistency",
    "hub_verifiers",
    "latest_two",
    "recent_witnesses",
]

_PREVIOUS_LOOKBACK = 50  # checkpoints of an unchanged size (restarts) skipped at most
RECENT_WITNESS_RECORDS = 500
"""The newest AUDIT_WITNESS records the page reads: many rounds of every party."""


def hub_verifiers(deployment: Deployment) -> list[CheckpointVerifier]:
    """The hub keys of the deployment's signed directory (what ``enlace audit verify`` uses).

    Raises:
        GovernanceError: the directory or trust root cannot be read or is not signed.
        OSError: a file cannot be read.
    """
    directory = load_directory(deployment.directory, load_trust_root(deployment.trust_root))
    # Under its kid (checkpoints signed before logs named themselves) or the log's origin.
    return [CheckpointVerifier(k.kid, k.public_key, by_origin=True) for k in directory.hub.keys]


async def recent_witnesses(reader: AuditReader, deployment: Deployment) -> WitnessReport | None:
    """Who cosigned the latest checkpoint, and recent refusals (None: no checkpoint yet).

    Raises:
        GovernanceError: the directory or trust root cannot be read or is not signed.
        OSError: a file cannot be read.
    """
    latest = await reader.latest_checkpoint()
    if latest is None:
        return None
    directory = load_directory(deployment.directory, load_trust_root(deployment.trust_root))
    records = await reader.witness_records(newest=RECENT_WITNESS_RECORDS)
    return witness_report(latest, records, party_system_keys(directory))


@dataclass(frozen=True)
class CheckpointView:
    """One stored checkpoint as the page shows it; ``problem`` if it does not verify."""

    seq: int
    origin: str
    size: int
    root: str
    time: datetime
    key_name: str
    key_id: str
    problem: str | None = None

    @classmethod
    def of(
        cls, seq: int, note: str, verifiers: Sequence[CheckpointVerifier]
    ) -> CheckpointView | None:
        """The view of ``note`` (stream sequence ``seq``); None if it is no checkpoint at all.

        Args:
            seq: its sequence in the checkpoint stream.
            note: the signed note.
            verifiers: the hub keys its signature is checked with.
        """
        try:
            signers = note_signers(note)
            cp = peek_checkpoint(note)
        except CheckpointError:
            return None
        known = {(v.name, v.key_hash) for v in verifiers} | {
            (cp.origin, key_hash(cp.origin, v.public_key)) for v in verifiers if v.by_origin
        }
        name, khash = next((s for s in signers if s in known), signers[0])
        problem = None
        try:
            open_checkpoint(note, verifiers)
        except CheckpointError as exc:
            problem = exc.description
        return cls(
            seq=seq,
            origin=cp.origin,
            size=cp.size,
            root=base64.b64encode(cp.root).decode(),
            time=cp.time,
            key_name=name,
            key_id=khash.hex(),
            problem=problem,
        )


async def latest_two(
    reader: AuditReader, verifiers: Sequence[CheckpointVerifier]
) -> tuple[CheckpointView | None, CheckpointView | None]:
    """The latest stored checkpoint and the latest one before it of a smaller size.

    Walks back from the latest message (a few direct reads; the hub signs again at the
    same size when it stops and starts, so equal sizes are skipped).
    """
    stored = await reader.latest_checkpoint_message()
    if stored is None:
        return None, None
    latest = CheckpointView.of(stored.seq, stored.note, verifiers)
    if latest is None:
        return None, None
    for seq in range(stored.seq - 1, max(0, stored.seq - _PREVIOUS_LOOKBACK), -1):
        earlier = await reader.checkpoint_at(seq)
        if earlier is None:
            continue
        view = CheckpointView.of(earlier.seq, earlier.note, verifiers)
        if view is not None and view.size < latest.size:
            return latest, view
    return latest, None


@dataclass(frozen=True)
class Consistency:
    """The consistency check from the checkpoint of ``old_size`` to that of ``new_size``."""

    old_size: int
    new_size: int
    proof_hashes: int
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_consistency(
    entries: Sequence[bytes], notes: Sequence[str], verifiers: Sequence[CheckpointVerifier]
) -> Consistency | None:
    """Prove from the log that the latest checkpoint extends the previous one (RFC 6962).

    The proof is made from the entries' leaf hashes and checked against the two signed
    roots: it holds only if the older signed tree is a prefix of the newer one *and* the
    log held now is the one both were signed over. None when there are not two
    validly signed checkpoints of different sizes.

    Args:
        entries: the log's raw entries, in order.
        notes: the stored signed checkpoints.
        verifiers: the hub keys.
    """
    opened: dict[int, Checkpoint] = {}
    for note in notes:
        with contextlib.suppress(CheckpointError):
            cp = open_checkpoint(note, verifiers)
            opened.setdefault(cp.size, cp)
    sizes = sorted(opened)
    if len(sizes) < 2:
        return None
    old, new = opened[sizes[-2]], opened[sizes[-1]]
    try:
        proof = prove_consistency(entries, old, new)
    except ProofError as exc:
        return Consistency(old.size, new.size, 0, exc.description)
    return Consistency(old.size, new.size, len(proof))


@dataclass
class VerifyRun:
    """One "verify now": who started it, how far it is, and what it found.

    ``phase``: ``reading`` (the log from NATS), ``checking`` (the tree and signatures),
    ``done`` (``report`` and ``consistency`` hold the result) or ``failed`` (``error``:
    the log could not be read or the keys were missing).
    """

    started_by: str
    started_at: datetime
    phase: str = "reading"
    done: int = 0
    total: int = 0
    finished_at: datetime | None = None
    report: VerifyReport | None = None
    consistency: Consistency | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def percent(self) -> int:
        """Reading is the first half of the bar, checking the second."""
        if not self.running:
            return 100
        share = min(self.done, self.total) / self.total if self.total else 0.0
        return int(50 * share) + (50 if self.phase == "checking" else 0)

    @property
    def root(self) -> str:
        return base64.b64encode(self.report.root).decode() if self.report else ""


class Verifications:
    """At most one verification running; the last one kept (in memory) until the next."""

    def __init__(self) -> None:
        self.last: VerifyRun | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, reader: AuditReader, deployment: Deployment, who: str) -> bool:
        """Start a run for operator ``who``; False (and nothing started) if one is running.

        Args:
            reader: the console's reader of the audit log.
            deployment: where the hub keys' directory is.
            who: the operator's name (shown beside the result).
        """
        if self.last is not None and self.last.running:
            return False
        run = VerifyRun(started_by=who, started_at=datetime.now(UTC))
        self.last = run
        self._task = asyncio.create_task(_verify(run, reader, deployment), name="console-verify")
        return True

    async def wait(self) -> None:
        """Until the run going (if any) has ended."""
        if self._task is not None:
            await self._task

    async def close(self) -> None:
        """Stop a run still going (the console is shutting down)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _verify(run: VerifyRun, reader: AuditReader, deployment: Deployment) -> None:
    try:
        keys = hub_verifiers(deployment)
        run.total = await reader.last_seq()
        entries: list[bytes] = []
        async for batch in reader.batches():
            entries.extend(batch.entries)
            run.done = batch.seq
        stored = await reader.checkpoint_messages()
        notes, leaves = [s.note for s in stored], leaf_notes(stored)
        run.phase, run.done, run.total = "checking", 0, len(entries)

        def check() -> tuple[VerifyReport, Consistency | None]:
            def progress(n: int) -> None:
                run.done = n

            report = verify_log(entries, notes, keys, progress=progress, leaves=leaves)
            return report, check_consistency(entries, notes, keys)

        # The tree is hashed in a thread: the console keeps answering while it runs.
        run.report, run.consistency = await asyncio.to_thread(check)
        run.phase = "done"
    except (AuditError, GovernanceError) as exc:
        run.phase, run.error = "failed", exc.description
    except (OSError, nats.errors.Error) as exc:
        run.phase, run.error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        run.finished_at = datetime.now(UTC)
