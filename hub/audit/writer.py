"""Appending to the audit log: one writer task, one batch per JetStream message, checkpoints.

Storage format (decided for throughput, see ``bench/bench_audit.py``): one JetStream
message carries a **batch** of entries, their canonical JSON bytes joined by ``\\n``
(canonical JSON never holds a raw newline), in index order. Each entry is still its own
Merkle leaf; the message headers say ``Enlace-Audit-First`` (index of the first entry)
and ``Enlace-Audit-Count``. One persisted write per batch instead of per entry is what
lets the hub keep "not acked until audited" without halving its throughput.

Batches are pipelined: the next one is published while up to ``depth - 1`` before it
still wait for their acknowledgement, each naming the one before it; a caller is answered
once its own batch is acknowledged, in order (:mod:`hub.audit.inflight`). Where the log
ends, how a batch is put after that end when another writer wrote in between, and how a
writer starts from its latest checkpoint instead of reading the whole log, is
:mod:`hub.audit.tail`; the streams and what a writer requires of them are
:mod:`hub.audit.streams`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError

from hub.audit.checkpoint import Checkpoint, CheckpointSigner, log_origin, note_size
from hub.audit.election import ELECTION_GRACE, through_election
from hub.audit.entries import AuditEntry
from hub.audit.errors import AuditStoreError
from hub.audit.inflight import DEPTH, InFlight, Pending
from hub.audit.leaves import leaves_header
from hub.audit.reader import AuditReader
from hub.audit.seen import Arbiter, Claim
from hub.audit.streams import (
    AUDIT_STREAM,
    CHECKPOINT_STREAM,
    CHECKPOINT_SUBJECT,
    HDR_LEAVES,
    HDR_STATE,
    check_stream,
)
from hub.audit.tail import LogTail, OpenReport, serialise
from schemas.subjects import HDR_EXPECTED_LAST_SUBJECT_SEQ, JS_WRONG_LAST_SEQUENCE

__all__ = ["AuditWriter", "log_name"]


async def log_name(js: JetStreamContext, deployment_id: str | None, hub_id: str) -> str:
    """The origin this hub writes its checkpoints under; the hub's key signs under the
    same name.

    Args:
        js: the hub's JetStream context (the stored log's origin is kept).
        deployment_id: ``deployment_id`` of ``enlace.yaml``: a new log is
            ``enlace.<deployment_id>`` (:func:`hub.audit.checkpoint.log_origin`).
        hub_id: the directory's hub id, for a deployment without an id.
    """
    return log_origin(await AuditReader(js).origin(), deployment_id, hub_id)


async def _store_checkpoint(
    js: JetStreamContext, note: str, size: int, headers: dict[str, str]
) -> bool:
    """Store the checkpoint ``note`` of ``size`` entries unless the latest stored one is
    larger; whether it was stored.

    Several hub processes write checkpoints of the one log, each of the log as it knows
    it. One that knew less, stored after one that knew more, would make the log's latest
    checkpoint smaller than one the parties' witnesses cosigned: a rollback to them. So
    the store expects the latest checkpoint read to be still the last
    (``Nats-Expected-Last-Subject-Sequence``); when another came in between, it looks
    again.
    """
    reader = AuditReader(js)
    while True:
        latest = await reader.latest_checkpoint_message()
        if latest is not None and (note_size(latest.note) or 0) > size:
            return False  # another writer's, of more of the log
        expect = {HDR_EXPECTED_LAST_SUBJECT_SEQ: str(latest.seq if latest else 0)}
        try:
            await js.publish(
                CHECKPOINT_SUBJECT,
                note.encode(),
                stream=CHECKPOINT_STREAM,
                headers={**headers, **expect},
            )
            return True
        except APIError as exc:
            if exc.err_code != JS_WRONG_LAST_SEQUENCE:
                raise


def _signed_checkpoint(
    signer: CheckpointSigner, tail: LogTail, origin: str
) -> tuple[Checkpoint, str, dict[str, str]]:
    """The checkpoint of the log as ``tail`` holds it now, its signed note, and the headers
    that go with it: the writer's signed state and the signed hashes of its newest leaves."""
    # Read together, before any await: the tree, last_seq and last_leaf change only
    # together (in LogTail.append and catch_up), so the state describes exactly this size.
    cp = Checkpoint(origin, tail.tree.size, tail.tree.root(), datetime.now(UTC))
    headers: dict[str, str] = {}
    if cp.size > 0:
        state_note = signer.sign_state(tail.writer_state(origin))
        headers[HDR_STATE] = base64.b64encode(state_note.encode()).decode()
    leaves = tail.signed_leaves(origin)
    if leaves is not None:
        headers[HDR_LEAVES] = leaves_header(signer.sign_note(leaves.text()))
    return cp, signer.sign(cp), headers


class AuditWriter:
    """Appends entries to AUDIT, one batch per publish, and signs checkpoints.

    Concurrent :meth:`append` calls are queued to one writer task, which coalesces them
    into batches (up to ``max_batch`` entries / ``max_batch_bytes``) and publishes each
    without waiting for the one before (up to ``depth`` in flight, :attr:`in_flight`);
    each caller gets its indexes once the batch holding its entries is acknowledged by
    JetStream (on disk).
    """

    def __init__(
        self,
        js: JetStreamContext,
        signer: CheckpointSigner,
        origin: str,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 10.0,
        max_batch: int = 1000,
        max_batch_bytes: int = 512 * 1024,
        depth: int = DEPTH,
    ) -> None:
        self._js = js
        self._signer = signer
        self.origin = origin
        self._every = checkpoint_every
        self._seconds = checkpoint_seconds
        self._max_batch = max_batch
        self._max_bytes = max_batch_bytes
        self._tail = LogTail(js)
        self._checkpointed = 0  # log size at this writer's last checkpoint
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        # The batches published and not yet acknowledged (hub.audit.inflight).
        self.in_flight = InFlight(self._tail, depth, self._after_batch)
        self._checkpointing: asyncio.Task[None] | None = None
        self.opened: OpenReport | None = None  # set by open()
        self.arbiter: Arbiter | None = None  # set by arbitrate()

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        signer: CheckpointSigner,
        origin: str,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 10.0,
        max_batch: int = 1000,
        replicas: int = 1,
        max_batch_bytes: int = 512 * 1024,
        depth: int = DEPTH,
    ) -> AuditWriter:
        """Check the streams, learn the log so far and start writing.

        The streams are made by :func:`hub.jetstream.streams.ensure_audit_streams`; the
        writer refuses them when they could lose entries (:func:`check_stream`). It starts
        from the state stored with the latest checkpoint when it can trust it, else it
        reads the whole log (see :mod:`hub.audit.tail`); ``opened`` says which.

        Args:
            js: the hub's JetStream context.
            signer: the hub key that signs checkpoints (and checks the stored state).
            origin: the log's name in its checkpoints (:func:`log_name`).
            checkpoint_every: sign a checkpoint after this many new entries…
            checkpoint_seconds: …or after this many seconds with new entries.
            max_batch: the most entries in one AUDIT message.
            replicas: the replicas the deployment asks of the streams (at least).
            max_batch_bytes: the most entry bytes in one AUDIT message.
            depth: the most batches published and not yet acknowledged
                (:mod:`hub.audit.inflight`; 1: each waits for the one before, as with a
                replicated AUDIT stream whatever this says).

        Raises:
            AuditStoreError: a stream is missing, or the stored log (the part read) is not
                a linear sequence of entries.
            AuditStreamWeakened: a stream could lose entries.
        """
        copies = {}
        for stream in (AUDIT_STREAM, CHECKPOINT_STREAM):
            # A hub started just after a node's death or return: the stream may not answer
            # for a few seconds (an election, a replica catching up).
            copies[stream] = await through_election(
                partial(check_stream, js, stream, replicas),
                ELECTION_GRACE,
                f"the check of {stream}",
                event="audit_read_retry",
            )
        if copies[AUDIT_STREAM] > 1:
            depth = 1  # a replicated AUDIT: one batch in flight (hub.audit.inflight)
        writer = cls(
            js,
            signer,
            origin,
            checkpoint_every,
            checkpoint_seconds,
            max_batch,
            max_batch_bytes,
            depth,
        )
        writer.opened = await writer._tail.learn(signer, origin)
        writer._checkpointed = writer._tail.tree.size
        writer._tasks = [
            asyncio.create_task(writer._run(), name="audit-writer"),
            asyncio.create_task(writer._tick(), name="audit-checkpoints"),
        ]
        return writer

    @property
    def size(self) -> int:
        """Entries in the log as this writer knows it."""
        return self._tail.tree.size

    def root(self) -> bytes:
        return self._tail.tree.root()

    async def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        """Append ``entries`` and return their indexes once they are persisted.

        Raises:
            AuditStoreError: the writer is closed, or the log could not be written.
        """
        return await self.submit(entries)

    async def arbitrate(self, arbiter: Arbiter) -> None:
        """Arbitrate accepted ids (:mod:`hub.audit.seen`): ``arbiter`` learns what is
        stored within its horizon, then each batch as this writer reads or writes it."""
        self.arbiter = self.in_flight.arbiter = arbiter
        self._tail.observer = arbiter.observe  # first: none missed
        await arbiter.rebuild(self._js, self._tail.last_seq)

    def submit(
        self, entries: Sequence[AuditEntry], claim: Claim | None = None
    ) -> asyncio.Future[list[int]]:
        """Queue ``entries`` (with ``claim``: :class:`hub.audit.seen.Claim`, decided before
        they are written); the future gives their indexes once they are persisted.

        Raises:
            AuditStoreError: the writer is closed or stopped.
        """
        if self._closed:
            raise AuditStoreError("the audit writer is closed; no entry can be appended")
        if self.in_flight.failure is not None:
            raise AuditStoreError(f"the audit writer stopped: {self.in_flight.failure}")
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        if not entries:
            future.set_result([])
            return future
        self._queue.put_nowait(Pending(list(entries), future, claim))
        return future

    async def checkpoint(self) -> str:
        """Sign and store a checkpoint of the log as it is now; returns the note.

        Not stored when the latest stored checkpoint (another hub process's) is of more of
        the log: the log's latest checkpoint never shrinks (:func:`_store_checkpoint`).

        The message also carries this writer's signed state (header ``Enlace-Audit-State``)
        so that the next writer can start from here instead of re-reading the log.
        """
        tail = self._tail
        cp, note, headers = _signed_checkpoint(self._signer, tail, self.origin)
        stored = await through_election(
            partial(_store_checkpoint, self._js, note, cp.size, headers),
            self._tail.election_grace,
            "a checkpoint",
        )
        if stored:  # else its leaves go with this writer's next checkpoint
            tail.forget_leaves(cp.size)
        self._checkpointed = max(self._checkpointed, cp.size)
        return note

    async def close(self) -> None:
        """Write what is queued, sign a final checkpoint and stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        writer_task, tick_task = self._tasks
        await writer_task  # it returns once every batch in flight is answered
        tick_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick_task
        if self._checkpointing is not None:
            await self._checkpointing
        if self.in_flight.failure is None and self._tail.tree.size > 0:
            await self.checkpoint()

    # -- internals -------------------------------------------------------------------------

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._seconds)
            if self._tail.tree.size > self._checkpointed:
                try:
                    await self.checkpoint()
                except (nats.errors.Error, OSError, AuditStoreError):
                    continue  # the next tick or batch tries again

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is None:
                break
            batch = [item]
            count = len(item.entries)
            while count < self._max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                count += len(nxt.entries)
            await self._write_batch(batch)
        await self.in_flight.drain()

    async def _write_batch(self, batch: list[Pending]) -> None:
        # Each entry is serialised once, at the index it gets if every batch in flight is
        # stored and no other writer appends meanwhile (else it is serialised again); the
        # bytes also split the batch so that one message stays far below the server's
        # max_payload. Claims are decided first: a refused one writes nothing.
        pipe = self.in_flight
        generation = pipe.generation
        pipe.settle(batch)
        chunk: list[Pending] = []
        lines: list[bytes] = []
        first, size = pipe.next_index, 0
        for pending in batch:
            mine = serialise(pending.entries, first + len(lines))
            est = sum(len(line) + 16 for line in mine)
            if chunk and size + est > self._max_bytes:
                await pipe.send(chunk, (first, lines), generation)
                chunk, lines, first, size = [], [], first + len(lines), 0
            chunk.append(pending)
            lines += mine
            size += est
        if chunk:
            await pipe.send(chunk, (first, lines), generation)

    def _after_batch(self) -> None:
        """After each batch stored: a checkpoint every ``checkpoint_every`` entries, signed
        and stored beside the writing (the batches after it do not wait for it)."""
        if self._tail.tree.size - self._checkpointed < self._every:
            return
        if self._checkpointing is None or self._checkpointing.done():
            self._checkpointing = asyncio.create_task(self._checkpoint_quietly())

    async def _checkpoint_quietly(self) -> None:
        with contextlib.suppress(nats.errors.Error, OSError, AuditStoreError):
            await self.checkpoint()
