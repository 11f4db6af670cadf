"""Reading the audit log and its checkpoints back from JetStream.

One AUDIT message is a batch of entries (see :mod:`hub.audit.writer`): :class:`AuditReader`
gives the batches, or the entries' raw bytes in log order, and the stored checkpoints.
Reading follows the stream with an ordered consumer; a short tail (the writer catching up)
is read with direct gets instead, one round trip per message.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from hub.audit.checkpoint import note_origin
from hub.audit.election import ELECTION_GRACE, through_election
from hub.audit.errors import AuditLogCorrupt, AuditStoreError
from hub.audit.leaves import leaves_from_header
from hub.audit.streams import (
    AUDIT_STREAM,
    AUDIT_SUBJECT,
    CHECKPOINT_STREAM,
    CHECKPOINT_SUBJECT,
    HDR_FIRST,
    HDR_LEAVES,
    HDR_MSG_ID,
    WITNESS_STREAM,
)
from schemas.subjects import witness_country

__all__ = ["AuditReader", "StoredBatch", "StoredCheckpoint", "WitnessRecord", "leaf_notes"]

_READ_TIMEOUT = 5.0
WITNESS_FILTER = "enlace.witness.>"  # every subject of AUDIT_WITNESS
_SHORT_TAIL = 64  # below this many messages, direct gets beat creating a consumer


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


@dataclass(frozen=True)
class WitnessRecord:
    """One AUDIT_WITNESS message: a party's cosigned checkpoint or its refusal."""

    seq: int
    country: str
    kind: str  # "cosigned" or "refused"
    data: bytes


def leaf_notes(stored: Iterable[StoredCheckpoint]) -> list[str]:
    """The signed leaves notes (:mod:`hub.audit.leaves`) the checkpoint messages carry.

    A malformed header is skipped: verification then bounds a change by the checkpoints
    alone.
    """
    notes = []
    for one in stored:
        value = one.headers.get(HDR_LEAVES)
        note = leaves_from_header(value, note_origin(one.note)) if value else None
        if note is not None:
            notes.append(note)
    return notes


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
        # Right after a node's death the stream may still be electing its leader: the
        # start of a read (its length, its consumer) is asked again, as an append is.
        what = f"a read of {stream}"
        last = await through_election(
            lambda: self.last_seq(stream), ELECTION_GRACE, what, event="audit_read_retry"
        )
        if not follow and last < start_seq:
            return
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_seq
        )
        sub = await through_election(
            lambda: self._js.subscribe(
                subject, stream=stream, ordered_consumer=True, config=config
            ),
            ELECTION_GRACE,
            what,
            event="audit_read_retry",
        )
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
                msg_id=headers.get(HDR_MSG_ID),
                time=msg.metadata.timestamp,
            )

    async def batch_at(self, seq: int, direct: bool = True) -> StoredBatch | None:
        """The AUDIT message at stream sequence ``seq`` (one round trip).

        A direct get may be answered by any replica of an R3 stream, one a moment behind
        the leader included; ``direct=False`` asks the leader.
        """
        try:
            msg = await self._js.get_msg(AUDIT_STREAM, seq, direct=direct)
        except NotFoundError:
            return None
        headers = msg.headers or {}
        return StoredBatch(
            seq=int(msg.seq or seq),
            first=_header_int(headers, HDR_FIRST),
            entries=(msg.data or b"").split(b"\n"),
            msg_id=headers.get(HDR_MSG_ID),
            time=msg.time,
        )

    async def seq_since(self, when: datetime) -> int:
        """The sequence of the first AUDIT message stored at or after ``when`` (past the
        last one if none is): where a reader of a recent window starts, without reading
        the log before it."""
        last = await self.last_seq()
        newest = await self.batch_at(last) if last else None
        if newest is None or newest.time is None or newest.time < when:
            return last + 1
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_TIME, opt_start_time=when
        )
        sub = await self._js.subscribe(
            AUDIT_SUBJECT, stream=AUDIT_STREAM, ordered_consumer=True, config=config
        )
        try:
            msg = await sub.next_msg(timeout=_READ_TIMEOUT)
        except nats.errors.TimeoutError:
            raise AuditStoreError(
                f"stream {AUDIT_STREAM} delivered nothing stored since {when.isoformat()}; "
                "is the NATS server overloaded or restarting? try again"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return int(msg.metadata.sequence.stream)

    async def tail(self, after_seq: int) -> AsyncIterator[StoredBatch]:
        """The AUDIT messages after ``after_seq``: direct gets for a short tail, else a consumer."""
        last = await self.last_seq()
        if last - after_seq > _SHORT_TAIL:
            async for batch in self.batches(start_seq=after_seq + 1):
                yield batch
            return
        for seq in range(after_seq + 1, last + 1):
            # A replica behind the leader (whose stream info gave `last`) may not hold it
            # yet: only the leader's "no such message" says one was removed.
            found = await self.batch_at(seq) or await self.batch_at(seq, direct=False)
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
        return [stored.note for stored in await self.checkpoint_messages()]

    async def checkpoint_messages(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint message (note and headers), oldest first."""
        found = []
        async for msg in self._messages(CHECKPOINT_STREAM, CHECKPOINT_SUBJECT, 1, False):
            found.append(
                StoredCheckpoint(
                    seq=msg.metadata.sequence.stream,
                    note=msg.data.decode("utf-8", errors="replace"),
                    headers=dict(msg.headers or {}),
                )
            )
        return found

    async def witness_records(self, newest: int | None = None) -> list[WitnessRecord]:
        """What the parties' witnesses stored, oldest first (none: [], also without the
        stream, as in a deployment from before witnesses); only the ``newest`` if given."""
        last = await self.last_seq(WITNESS_STREAM)
        if last == 0:
            return []
        start = 1 if newest is None else max(1, last - newest + 1)
        found = []
        async for msg in self._messages(WITNESS_STREAM, WITNESS_FILTER, start, False):
            country = witness_country(msg.subject)
            if country is None:
                continue
            kind = msg.subject.rsplit(".", 1)[-1]
            found.append(WitnessRecord(msg.metadata.sequence.stream, country, kind, msg.data))
        return found

    async def latest_checkpoint(self) -> str | None:
        stored = await self.latest_checkpoint_message()
        return None if stored is None else stored.note

    async def checkpoint_at(self, seq: int) -> StoredCheckpoint | None:
        """The checkpoint message at stream sequence ``seq`` (None if there is none)."""
        if seq < 1:
            return None
        try:
            msg = await self._js.get_msg(CHECKPOINT_STREAM, seq)
        except NotFoundError:
            return None
        return StoredCheckpoint(
            seq=int(msg.seq or seq),
            note=(msg.data or b"").decode("utf-8", errors="replace"),
            headers=dict(msg.headers or {}),
        )

    async def origin(self) -> str | None:
        """The log's name, as its latest stored checkpoint gives it (none yet: None)."""
        note = await self.latest_checkpoint()
        return note_origin(note) if note else None

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
