"""The audit log in JetStream: stream AUDIT (entries) and AUDIT_CHECKPOINTS.

Storage format (decided for throughput, see ``bench/bench_audit.py``): one JetStream
message carries a **batch** of entries, their canonical JSON bytes joined by ``\\n``
(canonical JSON never holds a raw newline), in index order. Each entry is still its own
Merkle leaf; the message headers say ``Enlace-Audit-First`` (index of the first entry)
and ``Enlace-Audit-Count``. One persisted write per batch instead of per entry is what
lets the hub keep "not acked until audited" without halving its throughput.

One writer at a time: every publish carries ``Nats-Expected-Last-Sequence`` = the last
stream sequence the writer knows. A second replica's write in between makes the server
refuse ours (wrong last sequence); the writer then reads the new tail, adds it to its
tree, renumbers its batch after it and retries. Two writers therefore interleave whole
batches in one linear log; neither can fork it. ``Nats-Msg-Id`` (one per batch) makes a
retry after a lost acknowledgement idempotent.

Both streams are created with ``deny_delete`` and ``deny_purge``: the server refuses to
remove entries, whoever asks. Restrict publishing on ``enlace.audit`` to the hub's
credentials: the log proves order and integrity against its checkpoints, not who
published an entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from hub.audit.checkpoint import Checkpoint, CheckpointSigner
from hub.audit.entries import AuditEntry
from hub.audit.errors import AuditError, AuditLogCorrupt, AuditStoreError
from hub.audit.merkle import CompactTree, leaf_hash

__all__ = [
    "AUDIT_STREAM",
    "AUDIT_SUBJECT",
    "CHECKPOINT_STREAM",
    "CHECKPOINT_SUBJECT",
    "HDR_COUNT",
    "HDR_FIRST",
    "AuditReader",
    "AuditWriter",
    "StoredBatch",
    "ensure_streams",
]

AUDIT_STREAM = "AUDIT"
AUDIT_SUBJECT = "enlace.audit"
CHECKPOINT_STREAM = "AUDIT_CHECKPOINTS"
CHECKPOINT_SUBJECT = "enlace.audit.checkpoint"
HDR_FIRST = "Enlace-Audit-First"
HDR_COUNT = "Enlace-Audit-Count"
_HDR_EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
_HDR_MSG_ID = "Nats-Msg-Id"
_WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErrF
_STREAM_NAME_IN_USE = 10058  # JSStreamNameExistErr: exists with another configuration
_READ_TIMEOUT = 5.0
_SHORT_TAIL = 64  # below this many messages, direct gets beat creating a consumer


async def _ensure_stream(js: JetStreamContext, name: str, subject: str) -> None:
    config = api.StreamConfig(
        name=name,
        subjects=[subject],
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
    )
    try:
        await js.add_stream(config)
        return
    except BadRequestError as exc:
        if exc.err_code != _STREAM_NAME_IN_USE:
            raise
    info = await js.stream_info(name)
    if not (info.config.deny_delete and info.config.deny_purge and info.config.allow_direct):
        # Created by someone else without the protections (or direct gets, which the
        # writer's catch-up uses): add them.
        updated = info.config
        updated.deny_delete = True
        updated.deny_purge = True
        updated.allow_direct = True
        await js.update_stream(updated)


async def ensure_streams(js: JetStreamContext) -> None:
    """Create AUDIT and AUDIT_CHECKPOINTS (deny_delete, deny_purge) if they do not exist."""
    await _ensure_stream(js, AUDIT_STREAM, AUDIT_SUBJECT)
    await _ensure_stream(js, CHECKPOINT_STREAM, CHECKPOINT_SUBJECT)


@dataclass(frozen=True)
class StoredBatch:
    """One AUDIT message: its stream sequence and the raw bytes of its entries."""

    seq: int
    first: int | None  # the Enlace-Audit-First header (None when absent or unreadable)
    entries: list[bytes]
    msg_id: str | None = None
    time: datetime | None = None


def _header_int(headers: dict[str, str] | None, name: str) -> int | None:
    value = (headers or {}).get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class AuditReader:
    """Reads the audit log and its checkpoints from JetStream."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def last_seq(self, stream: str = AUDIT_STREAM) -> int:
        try:
            info = await self._js.stream_info(stream)
        except NotFoundError:
            return 0
        return int(info.state.last_seq)

    async def _messages(
        self, stream: str, subject: str, start_seq: int, follow: bool
    ) -> AsyncIterator[Msg]:
        last = await self.last_seq(stream)
        if not follow and last < start_seq:
            return
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_seq
        )
        sub = await self._js.subscribe(subject, stream=stream, ordered_consumer=True, config=config)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=_READ_TIMEOUT if not follow else 1.0)
                except nats.errors.TimeoutError:
                    if follow:
                        continue
                    raise AuditStoreError(
                        f"stream {stream} stopped delivering before sequence {last}; "
                        "is the NATS server overloaded or restarting? try again"
                    ) from None
                yield msg
                if not follow and msg.metadata.sequence.stream >= last:
                    return
        finally:
            with contextlib.suppress(Exception):  # the connection may already be closing
                await sub.unsubscribe()

    async def batches(self, start_seq: int = 1, follow: bool = False) -> AsyncIterator[StoredBatch]:
        """The AUDIT messages from ``start_seq`` on; with ``follow``, wait for new ones."""
        async for msg in self._messages(AUDIT_STREAM, AUDIT_SUBJECT, start_seq, follow):
            headers = msg.headers or {}
            yield StoredBatch(
                seq=msg.metadata.sequence.stream,
                first=_header_int(headers, HDR_FIRST),
                entries=msg.data.split(b"\n"),
                msg_id=headers.get(_HDR_MSG_ID),
                time=msg.metadata.timestamp,
            )

    async def batch_at(self, seq: int) -> StoredBatch | None:
        """The AUDIT message at stream sequence ``seq`` (direct get: one round trip)."""
        try:
            msg = await self._js.get_msg(AUDIT_STREAM, seq, direct=True)
        except NotFoundError:
            return None
        headers = msg.headers or {}
        return StoredBatch(
            seq=int(msg.seq or seq),
            first=_header_int(headers, HDR_FIRST),
            entries=(msg.data or b"").split(b"\n"),
            msg_id=headers.get(_HDR_MSG_ID),
            time=msg.time,
        )

    async def tail(self, after_seq: int) -> AsyncIterator[StoredBatch]:
        """The AUDIT messages after ``after_seq``: direct gets for a short tail, else a consumer."""
        last = await self.last_seq()
        if last - after_seq > _SHORT_TAIL:
            async for batch in self.batches(start_seq=after_seq + 1):
                yield batch
            return
        for seq in range(after_seq + 1, last + 1):
            found = await self.batch_at(seq)
            if found is None:
                raise AuditLogCorrupt(
                    f"audit stream has no message at sequence {seq} (last is {last}): "
                    "a message was removed; run `enlace audit verify`"
                )
            yield found

    async def entries(self, follow: bool = False) -> AsyncIterator[bytes]:
        """Every entry's raw bytes, in stream order."""
        async for batch in self.batches(follow=follow):
            for raw in batch.entries:
                yield raw

    async def read_all(self) -> list[bytes]:
        """Every entry's raw bytes (position in the list = position in the stream)."""
        return [raw async for raw in self.entries()]

    async def checkpoints(self) -> list[str]:
        """Every stored signed checkpoint note, oldest first."""
        notes = []
        async for msg in self._messages(CHECKPOINT_STREAM, CHECKPOINT_SUBJECT, 1, False):
            notes.append(msg.data.decode("utf-8", errors="replace"))
        return notes

    async def latest_checkpoint(self) -> str | None:
        try:
            msg = await self._js.get_last_msg(CHECKPOINT_STREAM, CHECKPOINT_SUBJECT)
        except NotFoundError:
            return None
        return (msg.data or b"").decode("utf-8", errors="replace")


@dataclass
class _Pending:
    entries: list[AuditEntry]
    future: asyncio.Future[list[int]]


@dataclass
class _State:
    tree: CompactTree = field(default_factory=CompactTree)
    last_seq: int = 0
    checkpointed: int = 0  # log size at this writer's last checkpoint


class AuditWriter:
    """Appends entries to AUDIT, one batch per publish, and signs checkpoints.

    Concurrent :meth:`append` calls are queued to one writer task, which coalesces them
    into batches (up to ``max_batch`` entries / ``max_batch_bytes``); each caller gets its
    indexes once the batch holding its entries is acknowledged by JetStream (on disk).
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
    ) -> None:
        self._js = js
        self._signer = signer
        self.origin = origin
        self._every = checkpoint_every
        self._seconds = checkpoint_seconds
        self._max_batch = max_batch
        self._max_bytes = max_batch_bytes
        self._state = _State()
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._failure: BaseException | None = None

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        signer: CheckpointSigner,
        origin: str,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 10.0,
        max_batch: int = 1000,
    ) -> AuditWriter:
        """Create the streams if needed, read the log so far and start writing.

        Raises:
            AuditStoreError: the stored log is not a linear sequence of entries.
        """
        await ensure_streams(js)
        writer = cls(js, signer, origin, checkpoint_every, checkpoint_seconds, max_batch)
        await writer._catch_up()
        writer._state.checkpointed = writer._state.tree.size
        writer._tasks = [
            asyncio.create_task(writer._run(), name="audit-writer"),
            asyncio.create_task(writer._tick(), name="audit-checkpoints"),
        ]
        return writer

    @property
    def size(self) -> int:
        """Entries in the log as this writer knows it."""
        return self._state.tree.size

    def root(self) -> bytes:
        return self._state.tree.root()

    async def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        """Append ``entries`` and return their indexes once they are persisted.

        Raises:
            AuditStoreError: the writer is closed, or the log could not be written.
        """
        return await self.submit(entries)

    def submit(self, entries: Sequence[AuditEntry]) -> asyncio.Future[list[int]]:
        """Queue ``entries``; the future gives their indexes once they are persisted.

        Raises:
            AuditStoreError: the writer is closed or stopped.
        """
        if self._closed:
            raise AuditStoreError("the audit writer is closed; no entry can be appended")
        if self._failure is not None:
            raise AuditStoreError(f"the audit writer stopped: {self._failure}")
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        if not entries:
            future.set_result([])
            return future
        self._queue.put_nowait(_Pending(list(entries), future))
        return future

    async def checkpoint(self) -> str:
        """Sign and store a checkpoint of the log as it is now; returns the note."""
        state = self._state
        cp = Checkpoint(self.origin, state.tree.size, state.tree.root(), datetime.now(UTC))
        note = self._signer.sign(cp)
        await self._js.publish(CHECKPOINT_SUBJECT, note.encode(), stream=CHECKPOINT_STREAM)
        state.checkpointed = max(state.checkpointed, cp.size)
        return note

    async def close(self) -> None:
        """Write what is queued, sign a final checkpoint and stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        writer_task, tick_task = self._tasks
        await writer_task
        tick_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick_task
        if self._failure is None and self._state.tree.size > 0:
            await self.checkpoint()

    # -- internals -------------------------------------------------------------------------

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._seconds)
            if self._state.tree.size > self._state.checkpointed:
                try:
                    await self.checkpoint()
                except (nats.errors.Error, OSError):
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

    async def _write_batch(self, batch: list[_Pending]) -> None:
        # Split by bytes so one message stays far below the server's max_payload.
        chunk: list[_Pending] = []
        size = 0
        for pending in batch:
            est = sum(len(e.canonical()) + 16 for e in pending.entries)
            if chunk and size + est > self._max_bytes:
                await self._write_chunk(chunk)
                chunk, size = [], 0
            chunk.append(pending)
            size += est
        if chunk:
            await self._write_chunk(chunk)

    async def _write_chunk(self, chunk: list[_Pending]) -> None:
        entries = [e for p in chunk for e in p.entries]
        batch_id = uuid.uuid4().hex
        try:
            first = await self._publish(entries, batch_id)
        except Exception as exc:  # any failure goes to the waiting callers, never lost
            error = (
                exc
                if isinstance(exc, AuditError)
                else AuditStoreError(
                    f"could not persist {len(entries)} audit entries: {type(exc).__name__}: {exc}"
                )
            )
            for pending in chunk:
                if not pending.future.done():
                    pending.future.set_exception(error)
            if isinstance(exc, AuditLogCorrupt):
                self._failure = exc  # fail closed: never append after a log it cannot read
            return
        index = first
        for pending in chunk:
            n = len(pending.entries)
            if not pending.future.done():
                pending.future.set_result(list(range(index, index + n)))
            index += n
        if self._state.tree.size - self._state.checkpointed >= self._every:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self.checkpoint()

    async def _publish(self, entries: list[AuditEntry], batch_id: str) -> int:
        """Publish ``entries`` as one batch after the current tail; returns the first index."""
        state = self._state
        while True:
            first = state.tree.size
            lines = [e.with_index(first + i).canonical() for i, e in enumerate(entries)]
            headers = {
                _HDR_EXPECTED_LAST_SEQ: str(state.last_seq),
                _HDR_MSG_ID: batch_id,
                HDR_FIRST: str(first),
                HDR_COUNT: str(len(lines)),
            }
            try:
                ack = await self._js.publish(
                    AUDIT_SUBJECT, b"\n".join(lines), stream=AUDIT_STREAM, headers=headers
                )
            except APIError as exc:
                if exc.err_code != _WRONG_LAST_SEQUENCE:
                    raise
                # Another writer appended: learn its entries and retry after them.
                seen = await self._catch_up()
                if batch_id in seen:
                    return seen[batch_id]
                continue
            except nats.errors.TimeoutError:
                # The batch may or may not be on disk: reading the tail tells.
                seen = await self._catch_up()
                if batch_id in seen:
                    return seen[batch_id]
                continue
            if ack.duplicate:
                seen = await self._catch_up()
                if batch_id in seen:
                    return seen[batch_id]
                raise AuditStoreError(f"batch {batch_id} reported duplicate but is not in AUDIT")
            for line in lines:
                state.tree.append(leaf_hash(line))
            state.last_seq = ack.seq
            return first

    async def _catch_up(self) -> dict[str, int]:
        """Add the stored batches after ``last_seq`` to the tree; returns batch id → first."""
        state = self._state
        seen: dict[str, int] = {}
        async for batch in AuditReader(self._js).tail(state.last_seq):
            if batch.first != state.tree.size:
                raise AuditLogCorrupt(
                    f"audit log is corrupt at stream sequence {batch.seq}: it starts at index "
                    f"{batch.first}, expected {state.tree.size}; run `enlace audit verify`"
                )
            if batch.msg_id:
                seen[batch.msg_id] = state.tree.size
            for raw in batch.entries:
                state.tree.append(leaf_hash(raw))
            state.last_seq = batch.seq
        return seen
