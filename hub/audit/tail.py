"""Where the audit log ends, as one writer knows it, and appending a batch after that end.

One writer at a time: every publish carries ``Nats-Expected-Last-Sequence`` = the last
stream sequence the writer knows. A second replica's write in between makes the server
refuse ours (wrong last sequence); the writer then reads the new tail, adds it to its
tree, renumbers its batch after it and retries. Two writers therefore interleave whole
batches in one linear log; neither can fork it. ``Nats-Msg-Id`` (one per batch) makes a
retry after a lost acknowledgement idempotent.

Start-up cost: a writer needs the log's Merkle tree (its size and peaks) and the stream
sequence of its last message before it may append. Each checkpoint message therefore
carries, in the header ``Enlace-Audit-State``, the writer's state at that checkpoint as a
second note signed by the hub key (:class:`hub.audit.checkpoint.WriterState`; the
checkpoint note itself is unchanged, so verifiers and exports read it as before).
:meth:`LogTail.learn` reads the latest checkpoint message (one request), checks both
signatures with the writer's own key, rebuilds the tree from the peaks, requires the
signed root, and checks that the AUDIT message at the stored sequence ends with the
stored last leaf; it then reads only the batches written since. Start-up thus costs what
was written after the last checkpoint (at most ``checkpoint_every`` entries or
``checkpoint_seconds`` of traffic, plus whatever a crash left unsigned), not the whole
log. It falls back to reading every batch, and logs why (``audit_writer_full_read``),
when there is no checkpoint, when it carries no state (logs written before states were
stored), when it is signed by a key the writer does not hold (after a key rotation), or
when anything does not match. The fast path checks the log only from the checkpoint on:
damage before it is for ``enlace audit verify``, which always reads everything.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.errors import APIError

from hub.audit.checkpoint import CheckpointSigner, WriterState, open_checkpoint, open_state
from hub.audit.election import ELECTION_GRACE, through_election
from hub.audit.entries import AuditEntry
from hub.audit.errors import AuditLogCorrupt, AuditStoreError, CheckpointError, TreeStateError
from hub.audit.leaves import MAX_SIGNED_LEAVES, SignedLeaves
from hub.audit.merkle import CompactTree, leaf_hash
from hub.audit.reader import AuditReader, StoredBatch
from hub.audit.streams import (
    AUDIT_STREAM,
    AUDIT_SUBJECT,
    HDR_COUNT,
    HDR_EXPECTED_LAST_SEQ,
    HDR_FIRST,
    HDR_MSG_ID,
    HDR_STATE,
)
from schemas.subjects import JS_WRONG_LAST_SEQUENCE

__all__ = ["ELECTION_GRACE", "LogTail", "OpenReport", "serialise", "through_election"]

log = structlog.get_logger("enlace.hub.audit")


@dataclass(frozen=True)
class OpenReport:
    """How :meth:`AuditWriter.open` learnt the log: what a slow start-up is explained by.

    Attributes:
        resumed_from: the size of the checkpoint whose stored state the writer started
            from, or None when it read the log from the start.
        reason: why it did not resume from a checkpoint (None when it did).
        start_seq: the first AUDIT stream sequence it read.
        batches_read: how many AUDIT messages it read.
        size: the log's size once open.
    """

    resumed_from: int | None
    reason: str | None
    start_seq: int
    batches_read: int
    size: int


class _NoResume(Exception):
    """Why the stored state cannot be used; ``quiet`` when nothing is suspicious."""

    def __init__(self, reason: str, quiet: bool = False) -> None:
        super().__init__(reason)
        self.quiet = quiet


def serialise(entries: list[AuditEntry], first: int) -> list[bytes]:
    """The canonical bytes of ``entries`` as entries ``first``, ``first + 1``… of the log."""
    return [e.canonical_at(first + i) for i, e in enumerate(entries)]


@dataclass
class LogTail:
    """The log's Merkle tree and its last stream sequence and leaf, as this writer knows them.

    The tree, ``last_seq`` and ``last_leaf`` change only together (in :meth:`append` and
    :meth:`catch_up`), so a state read between two awaits describes exactly one log size.
    """

    js: JetStreamContext
    tree: CompactTree = field(default_factory=CompactTree)
    last_seq: int = 0
    last_leaf: bytes = b""  # leaf hash of entry size-1 (stored with checkpoints)
    batches_read: int = 0  # AUDIT messages read back from the stream (catch-ups)
    election_grace: float = ELECTION_GRACE
    # Leaf hashes since the last stored checkpoint (the newest MAX_SIGNED_LEAVES, up to
    # the tree's size): signed beside the next checkpoint (hub.audit.leaves).
    recent: deque[bytes] = field(default_factory=lambda: deque(maxlen=MAX_SIGNED_LEAVES))
    # Told of each batch another writer stored, as it is read (the seen-id arbiter).
    observer: Callable[[StoredBatch], None] | None = None
    # Batch id → first index of each batch read by a catch-up since the last forget_found:
    # a batch of this writer's pipeline (hub.audit.inflight) stored without its ack seen.
    found: dict[str, int] = field(default_factory=dict)

    def _add_leaf(self, leaf: bytes) -> None:
        self.last_leaf = leaf
        self.tree.append(leaf)
        self.recent.append(leaf)

    def signed_leaves(self, origin: str) -> SignedLeaves | None:
        """The leaves a checkpoint of the log as it is now carries (none new: None)."""
        if not self.recent:
            return None
        return SignedLeaves(origin, self.tree.size - len(self.recent), tuple(self.recent))

    def forget_leaves(self, size: int) -> None:
        """Drop the leaves below ``size``: a stored checkpoint carries them."""
        first = self.tree.size - len(self.recent)
        for _ in range(max(0, min(size - first, len(self.recent)))):
            self.recent.popleft()

    def writer_state(self, origin: str) -> WriterState:
        """What a checkpoint of the log as it is now carries (header ``Enlace-Audit-State``)."""
        size, root, peaks = self.tree.size, self.tree.root(), self.tree.peaks
        return WriterState(origin, size, self.last_seq, root, self.last_leaf, peaks)

    async def append(
        self,
        entries: list[AuditEntry],
        batch_id: str,
        lines: tuple[int, list[bytes]] | None = None,
        settle: Callable[[], list[AuditEntry]] | None = None,
    ) -> int:
        """Publish ``entries`` as one batch after the current tail; returns the first index.

        Through a JetStream leader election (a node of the cluster died or froze: the
        stream does not answer, or answers "unavailable") it tries again, waiting a little
        longer each time, for up to ``election_grace`` seconds; the batch keeps its id, so
        a try whose acknowledgement was lost is found, not written twice.

        Args:
            entries: the batch, in order (their indexes are set here).
            batch_id: the batch's ``Nats-Msg-Id``, the same on every retry.
            lines: the entries already serialised from index ``lines[0]`` on
                (:meth:`AuditEntry.canonical_at`), used as they are while the log's end is
                still there; serialised again only after another writer appended.
            settle: gives the batch to write, called before each try (its claims decided
                against the log as known, :mod:`hub.audit.seen`); an empty one is not written.

        Raises:
            AuditLogCorrupt: the stored log is not a linear sequence of entries.
            AuditStoreError: the server says the batch is a duplicate it does not hold, or
                JetStream did not take it within ``election_grace`` seconds.
        """
        return await through_election(
            lambda: self._append_once(entries, batch_id, lines, settle),
            self.election_grace,
            "an audit batch",
        )

    async def _append_once(
        self,
        entries: list[AuditEntry],
        batch_id: str,
        lines: tuple[int, list[bytes]] | None,
        settle: Callable[[], list[AuditEntry]] | None,
    ) -> int:
        """One try of :meth:`append`: after the tail as known, or after a catch-up."""
        while True:
            first = self.tree.size
            entries = entries if settle is None else settle()
            if not entries:
                return first
            if lines is None or lines[0] != first:
                lines = (first, serialise(entries, first))
            body = lines[1]
            headers = {
                HDR_EXPECTED_LAST_SEQ: str(self.last_seq),
                HDR_MSG_ID: batch_id,
                HDR_FIRST: str(first),
                HDR_COUNT: str(len(body)),
            }
            try:
                ack = await self.js.publish(
                    AUDIT_SUBJECT, b"\n".join(body), stream=AUDIT_STREAM, headers=headers
                )
            except APIError as exc:
                if exc.err_code != JS_WRONG_LAST_SEQUENCE:
                    raise
                # Another writer appended: learn its entries and retry after them.
                seen = await self.catch_up()
                if batch_id in seen:
                    return seen[batch_id]
                continue
            except nats.errors.TimeoutError:
                # The batch may or may not be on disk: reading the tail tells.
                seen = await self.catch_up()
                if batch_id in seen:
                    return seen[batch_id]
                continue
            if ack.duplicate:
                await self.catch_up()
                if batch_id in self.found:
                    return self.found[batch_id]
                raise AuditStoreError(f"batch {batch_id} reported duplicate but is not in AUDIT")
            self.stored(body, ack.seq)
            return first

    def stored(self, body: list[bytes], seq: int) -> None:
        """Add the batch ``body`` this writer stored at stream sequence ``seq`` (its ack)."""
        for line in body:
            self._add_leaf(leaf_hash(line))
        self.last_seq = seq

    async def catch_up(self) -> dict[str, int]:
        """Add the stored batches after ``last_seq`` to the tree; returns batch id → first."""
        seen: dict[str, int] = {}
        async for batch in AuditReader(self.js).tail(self.last_seq):
            if batch.first != self.tree.size:
                raise AuditLogCorrupt(
                    f"audit log is corrupt at stream sequence {batch.seq}: it starts at index "
                    f"{batch.first}, expected {self.tree.size}; run `enlace audit verify`"
                )
            if batch.msg_id:
                seen[batch.msg_id] = self.found[batch.msg_id] = self.tree.size
            for raw in batch.entries:
                self._add_leaf(leaf_hash(raw))
            self.last_seq = batch.seq
            self.batches_read += 1
            if self.observer is not None:
                self.observer(batch)
        return seen

    async def learn(self, signer: CheckpointSigner, origin: str) -> OpenReport:
        """Resume from the latest checkpoint's state if it holds, then read what follows.

        Args:
            signer: the hub key; the stored state counts only if it signed it.
            origin: the log's name; the stored state counts only if it is this log's.

        Raises:
            AuditLogCorrupt: the batches read are not a linear sequence of entries.
        """
        reason: str | None = None
        resumed_from: int | None = None
        try:
            resumed_from = await self._resume(signer, origin)
        except _NoResume as why:
            reason = str(why)
            event = log.info if why.quiet else log.warning
            event("audit_writer_full_read", reason=reason, origin=origin)
        start_seq = self.last_seq + 1
        await self.catch_up()
        self.found.clear()
        opened = OpenReport(
            resumed_from=resumed_from,
            reason=reason,
            start_seq=start_seq,
            batches_read=self.batches_read,
            size=self.tree.size,
        )
        log.info(
            "audit_writer_opened",
            origin=origin,
            size=opened.size,
            resumed_from=resumed_from,
            start_seq=start_seq,
            batches_read=opened.batches_read,
        )
        return opened

    async def _resume(self, signer: CheckpointSigner, origin: str) -> int:
        """Take the tree and position from the latest checkpoint's stored state.

        Returns the size resumed from. Nothing is changed unless every check passes.

        Raises:
            _NoResume: why the state cannot be used (the caller reads the whole log).
        """
        reader = AuditReader(self.js)
        stored = await reader.latest_checkpoint_message()
        if stored is None:
            raise _NoResume("no checkpoint is stored yet", quiet=True)
        where = f"checkpoint at AUDIT_CHECKPOINTS sequence {stored.seq}"
        verifier = signer.verifier()
        try:
            cp = open_checkpoint(stored.note, [verifier])
        except CheckpointError:
            # Signed by an earlier key (rotation) or not by ours at all: only a full
            # read can tell this writer where the log stands.
            raise _NoResume(
                f"{where} is not signed by this hub's key {verifier.name!r} (a rotated "
                "key, signed under the key's kid before logs named themselves, or another "
                "hub's log); reading the whole log once instead"
            ) from None
        encoded = stored.headers.get(HDR_STATE)
        if encoded is None:
            raise _NoResume(
                f"{where} carries no writer state (written before states were stored)",
                quiet=True,
            )
        try:
            state = open_state(base64.b64decode(encoded, validate=True).decode(), [verifier])
            tree = CompactTree.from_peaks(state.size, state.peaks)
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _NoResume(f"{where}: writer state is not base64 text ({exc})") from None
        except (CheckpointError, TreeStateError) as exc:
            raise _NoResume(f"{where}: writer state refused: {exc.description}") from None
        if (state.origin, state.size, state.root) != (cp.origin, cp.size, cp.root):
            raise _NoResume(f"{where}: writer state is not that of the checkpoint it came with")
        if state.origin != origin:
            raise _NoResume(f"{where} is for origin {state.origin!r}, not {origin!r}")
        if tree.root() != cp.root:
            raise _NoResume(f"{where}: stored peaks do not give the signed root hash")
        batch = await reader.batch_at(state.last_seq)
        if (
            batch is None
            or batch.first is None
            or batch.first + len(batch.entries) != state.size
            or leaf_hash(batch.entries[-1]) != state.last_leaf
        ):
            raise _NoResume(
                f"{where}: the AUDIT message at sequence {state.last_seq} is not the one "
                f"the checkpoint covers (was the stream recreated?)"
            )
        self.tree = tree
        self.last_seq = state.last_seq
        self.last_leaf = state.last_leaf
        self.recent.clear()
        return state.size
