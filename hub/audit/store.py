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

Both streams are made by the hub's stream registry
(:func:`hub.jetstream.streams.ensure_audit_streams`) with ``deny_delete`` and
``deny_purge``: the server refuses to remove entries, whoever asks. A writer checks them
before it appends (:func:`check_stream`): it refuses a stream that is missing or whose
configuration could lose entries (:func:`weaknesses`). Restrict publishing on
``enlace.audit`` to the hub's credentials: the log proves order and integrity against its
checkpoints, not who published an entry.

Start-up cost: a writer needs the log's Merkle tree (its size and peaks) and the stream
sequence of its last message before it may append. Each checkpoint message therefore
carries, in the header ``Enlace-Audit-State``, the writer's state at that checkpoint as a
second note signed by the hub key (:class:`hub.audit.checkpoint.WriterState`; the
checkpoint note itself is unchanged, so verifiers and exports read it as before).
:meth:`AuditWriter.open` reads the latest checkpoint message (one request), checks
both signatures with its own key, rebuilds the tree from the peaks, requires the signed
root, and checks that the AUDIT message at the stored sequence ends with the stored last
leaf; it then reads only the batches written since. Start-up thus costs what was written
after the last checkpoint (at most ``checkpoint_every`` entries or ``checkpoint_seconds``
of traffic, plus whatever a crash left unsigned), not the whole log. It falls back to
reading every batch, and logs why (``audit_writer_full_read``), when there is no
checkpoint, when it carries no state (logs written before states were stored), when it
is signed by a key the writer does not hold (after a key rotation), or when anything
does not match. The fast path checks the log only from the checkpoint on: damage before
it is for ``enlace audit verify``, which always reads everything.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NotFoundError

from hub.audit.checkpoint import (
    Checkpoint,
    CheckpointSigner,
    WriterState,
    open_checkpoint,
    open_state,
)
from hub.audit.entries import AuditEntry
from hub.audit.errors import (
    AuditError,
    AuditLogCorrupt,
    AuditStoreError,
    AuditStreamWeakened,
    CheckpointError,
    TreeStateError,
)
from hub.audit.merkle import CompactTree, leaf_hash

__all__ = [
    "AUDIT_STREAM",
    "AUDIT_SUBJECT",
    "CHECKPOINT_STREAM",
    "CHECKPOINT_SUBJECT",
    "HDR_COUNT",
    "HDR_FIRST",
    "HDR_STATE",
    "AuditReader",
    "AuditWriter",
    "OpenReport",
    "StoredBatch",
    "StoredCheckpoint",
    "check_stream",
    "weaknesses",
]

AUDIT_STREAM = "AUDIT"
AUDIT_SUBJECT = "enlace.audit"
CHECKPOINT_STREAM = "AUDIT_CHECKPOINTS"
CHECKPOINT_SUBJECT = "enlace.audit.checkpoint"
HDR_FIRST = "Enlace-Audit-First"
HDR_COUNT = "Enlace-Audit-Count"
HDR_STATE = "Enlace-Audit-State"  # base64 of the signed WriterState note, on checkpoints
_HDR_EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
_HDR_MSG_ID = "Nats-Msg-Id"
_WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErrF
_READ_TIMEOUT = 5.0
_SHORT_TAIL = 64  # below this many messages, direct gets beat creating a consumer

log = structlog.get_logger("enlace.hub.audit")


def _unlimited(value: float | None) -> bool:
    return value is None or value <= 0


def weaknesses(config: api.StreamConfig, replicas: int) -> list[str]:
    """What in an audit stream's configuration could lose or rewrite entries (none: []).

    Args:
        config: the stream's configuration as the server reports it.
        replicas: the replicas the deployment asks for (``streams.replicas``).
    """
    found = []
    if not config.deny_delete:
        found.append("deny_delete is off (entries could be deleted)")
    if not config.deny_purge:
        found.append("deny_purge is off (the stream could be purged)")
    if config.retention not in (None, api.RetentionPolicy.LIMITS):
        found.append(f"retention is {config.retention} (acks would remove entries)")
    limits = {
        "max_msgs": config.max_msgs,
        "max_bytes": config.max_bytes,
        "max_age": config.max_age,
        "max_msgs_per_subject": config.max_msgs_per_subject,
    }
    found += [
        f"{k} is {v} (old entries would be dropped)" for k, v in limits.items() if not _unlimited(v)
    ]
    if config.allow_rollup_hdrs:
        found.append("allow_rollup_hdrs is on (a Nats-Rollup header would purge entries)")
    if config.allow_msg_ttl:
        found.append("allow_msg_ttl is on (a Nats-TTL header would expire entries)")
    if config.sealed:
        found.append("sealed (no entry can be appended)")
    if (config.num_replicas or 1) < replicas:
        found.append(f"num_replicas is {config.num_replicas or 1}, the deployment asks {replicas}")
    return found


async def check_stream(js: JetStreamContext, name: str, replicas: int) -> None:
    """Refuse to write to audit stream ``name`` unless it is there and keeps every entry.

    The hub's login may not update these streams (:mod:`hub.server.logins`), so what another
    login weakened cannot be put back from here: the hub refuses to write to it.

    Args:
        js: the hub's JetStream context.
        name: :data:`AUDIT_STREAM` or :data:`CHECKPOINT_STREAM`.
        replicas: the replicas the deployment asks for (``streams.replicas``).

    Raises:
        AuditStoreError: the stream does not exist.
        AuditStreamWeakened: it may drop, delete or roll up entries.
    """
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        raise AuditStoreError(
            f"stream {name} does not exist on this NATS server; the hub makes it at start "
            "(hub.jetstream.streams.ensure_audit_streams, which `enlace up` runs)"
        ) from None
    found = weaknesses(info.config, replicas)
    if found:
        raise AuditStreamWeakened(name, found)


@dataclass(frozen=True)
class StoredBatch:
    """One AUDIT message: its stream sequence and the raw bytes of its entries."""

    seq: int
    first: int | None  # the Enlace-Audit-First header (None when absent or unreadable)
    entries: list[bytes]
    msg_id: str | None = None
    time: datetime | None = None


@dataclass(frozen=True)
class StoredCheckpoint:
    """One AUDIT_CHECKPOINTS message: its stream sequence, the signed note and its headers."""

    seq: int
    note: str
    headers: dict[str, str]


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
        stored = await self.latest_checkpoint_message()
        return None if stored is None else stored.note

    async def latest_checkpoint_message(self) -> StoredCheckpoint | None:
        """The last message on the checkpoint subject, with its headers (one request)."""
        try:
            # Not a direct get: a stream made before allow_direct was ensured answers too.
            msg = await self._js.get_last_msg(CHECKPOINT_STREAM, CHECKPOINT_SUBJECT)
        except NotFoundError:
            return None
        return StoredCheckpoint(
            seq=int(msg.seq or 0),
            note=(msg.data or b"").decode("utf-8", errors="replace"),
            headers=dict(msg.headers or {}),
        )


@dataclass
class _Pending:
    entries: list[AuditEntry]
    future: asyncio.Future[list[int]]


@dataclass
class _State:
    tree: CompactTree = field(default_factory=CompactTree)
    last_seq: int = 0
    last_leaf: bytes = b""  # leaf hash of entry size-1 (stored with checkpoints)
    checkpointed: int = 0  # log size at this writer's last checkpoint
    batches_read: int = 0  # AUDIT messages read back from the stream (catch-ups)


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
        self.opened: OpenReport | None = None  # set by open()

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
    ) -> AuditWriter:
        """Check the streams, learn the log so far and start writing.

        The streams are made by :func:`hub.jetstream.streams.ensure_audit_streams`; the
        writer refuses them when they could lose entries (:func:`check_stream`). It starts
        from the state stored with the latest checkpoint when it can trust it, else it
        reads the whole log (see the module docstring); ``opened`` says which.

        Args:
            js: the hub's JetStream context.
            signer: the hub key that signs checkpoints (and checks the stored state).
            origin: the log's name in its checkpoints (``enlace/<hub id>/audit``).
            checkpoint_every: sign a checkpoint after this many new entries…
            checkpoint_seconds: …or after this many seconds with new entries.
            max_batch: the most entries in one AUDIT message.
            replicas: the replicas the deployment asks of the streams (at least).

        Raises:
            AuditStoreError: a stream is missing, or the stored log (the part read) is not
                a linear sequence of entries.
            AuditStreamWeakened: a stream could lose entries.
        """
        for stream in (AUDIT_STREAM, CHECKPOINT_STREAM):
            await check_stream(js, stream, replicas)
        writer = cls(js, signer, origin, checkpoint_every, checkpoint_seconds, max_batch)
        await writer._learn_log()
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
        """Sign and store a checkpoint of the log as it is now; returns the note.

        The message also carries this writer's signed state (header ``Enlace-Audit-State``)
        so that the next writer can start from here instead of re-reading the log.
        """
        state = self._state
        # Read together, before any await: the tree, last_seq and last_leaf change only
        # together (in _publish and _catch_up), so the state describes exactly this size.
        cp = Checkpoint(self.origin, state.tree.size, state.tree.root(), datetime.now(UTC))
        headers: dict[str, str] = {}
        if cp.size > 0:
            writer_state = WriterState(
                self.origin, cp.size, state.last_seq, cp.root, state.last_leaf, state.tree.peaks
            )
            state_note = self._signer.sign_state(writer_state)
            headers[HDR_STATE] = base64.b64encode(state_note.encode()).decode()
        note = self._signer.sign(cp)
        await self._js.publish(
            CHECKPOINT_SUBJECT, note.encode(), stream=CHECKPOINT_STREAM, headers=headers or None
        )
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
                state.last_leaf = leaf_hash(line)
                state.tree.append(state.last_leaf)
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
                state.last_leaf = leaf_hash(raw)
                state.tree.append(state.last_leaf)
            state.last_seq = batch.seq
            state.batches_read += 1
        return seen

    async def _learn_log(self) -> None:
        """Resume from the latest checkpoint's state if it holds, then read what follows."""
        reason: str | None = None
        resumed_from: int | None = None
        try:
            resumed_from = await self._resume()
        except _NoResume as why:
            reason = str(why)
            event = log.info if why.quiet else log.warning
            event("audit_writer_full_read", reason=reason, origin=self.origin)
        start_seq = self._state.last_seq + 1
        await self._catch_up()
        self.opened = OpenReport(
            resumed_from=resumed_from,
            reason=reason,
            start_seq=start_seq,
            batches_read=self._state.batches_read,
            size=self._state.tree.size,
        )
        log.info(
            "audit_writer_opened",
            origin=self.origin,
            size=self.opened.size,
            resumed_from=resumed_from,
            start_seq=start_seq,
            batches_read=self.opened.batches_read,
        )

    async def _resume(self) -> int:
        """Take the tree and position from the latest checkpoint's stored state.

        Returns the size resumed from. Nothing is changed unless every check passes.

        Raises:
            _NoResume: why the state cannot be used (the caller reads the whole log).
        """
        reader = AuditReader(self._js)
        stored = await reader.latest_checkpoint_message()
        if stored is None:
            raise _NoResume("no checkpoint is stored yet", quiet=True)
        where = f"checkpoint at AUDIT_CHECKPOINTS sequence {stored.seq}"
        verifier = self._signer.verifier()
        try:
            cp = open_checkpoint(stored.note, [verifier])
        except CheckpointError:
            # Signed by an earlier key (rotation) or not by ours at all: only a full
            # read can tell this writer where the log stands.
            raise _NoResume(
                f"{where} is not signed by this hub's key {verifier.name!r} (a rotated "
                "key or another hub's log); reading the whole log once instead"
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
        if state.origin != self.origin:
            raise _NoResume(f"{where} is for origin {state.origin!r}, not {self.origin!r}")
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
        self._state.tree = tree
        self._state.last_seq = state.last_seq
        self._state.last_leaf = state.last_leaf
        return state.size
