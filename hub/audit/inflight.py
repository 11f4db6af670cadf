"""Audit batches published before the previous one is acknowledged: a bounded pipeline.

The writer (:class:`hub.audit.writer.AuditWriter`) used to publish a batch only once the
one before it was acknowledged: each batch then paid a whole round trip, a synced write
and the Python around it before the next could leave, and a message arriving meanwhile
waited for both. Here up to ``depth`` batches are in flight. Each is published after the
one before it as this writer expects the log to be once that one is stored:

- the index of its first entry counts the entries in flight before it;
- ``Nats-Expected-Last-Sequence`` is the stream sequence the batch before it will get
  (the log's last, plus one per batch in flight);
- ``Nats-Expected-Last-Msg-Id`` names the batch before it (its ``Nats-Msg-Id``).

The server stores a batch only if both hold, so a batch is stored only right after the
one it names, which was stored right after the one it named… down to the first of the
pipeline, which names the log's last sequence as the writer knows it (the check of every
writer, :mod:`hub.audit.tail`). The sequence alone would not do: another process's batch
stored in the place of the first would let the second pass. If the server refuses one
(another process appended; or its acknowledgement was lost), every batch after it is
refused too; each is then appended again, in order, after the log's end as read then
(:func:`hub.audit.seen.append_settled`: the tail is read, the claims decided again), or
taken as it is when that read found it stored. A batch whose append fails makes every
batch after it fail too (they were decided against it): their callers leave their
messages for redelivery.

**Only with one replica.** With a replicated AUDIT (``streams.replicas: 3``) the writer
keeps one batch in flight (:meth:`hub.audit.writer.AuditWriter.open`). On nats-server
2.15.1 in a 3-node cluster, a batch refused for the message id it named (checked when
the write is applied, not when it is proposed) left the stream not answering the writer's
next try of the batch before it (``tests/integration/test_cluster.py``): the writer
waited out its election grace. Until that is understood, a cluster pays a round trip per
batch as before.

Callers learn their indexes only once their own batch is acknowledged, and batches are
finished in order: acknowledged still means on disk, after everything before it. The
seen-id claims of a batch are decided against the log as known *and* the batches in
flight before it (:meth:`hub.audit.seen.SeenIndex.settle`, ``ahead``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.js import api

from hub.audit.entries import AuditEntry
from hub.audit.errors import AuditError, AuditLogCorrupt, AuditStoreError
from hub.audit.seen import Arbiter, Claim, append_settled
from hub.audit.streams import (
    AUDIT_STREAM,
    AUDIT_SUBJECT,
    HDR_COUNT,
    HDR_EXPECTED_LAST_SEQ,
    HDR_FIRST,
    HDR_MSG_ID,
)
from hub.audit.tail import LogTail, serialise

__all__ = ["DEPTH", "InFlight", "Pending"]

DEPTH = 2
"""Batches in flight at most, by default (measured: README, "Performance")."""

HDR_EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"


@dataclass
class Pending:
    """Entries queued by one caller: its future gives their indexes once persisted."""

    entries: list[AuditEntry]
    future: asyncio.Future[list[int]]
    claim: Claim | None = None


@dataclass
class _Flight:
    """One batch in flight: what it holds, where it expects to go, its publish."""

    parts: list[Pending]
    batch_id: str
    lines: tuple[int, list[bytes]]
    seq: int  # the stream sequence it gets when stored where expected
    publish: asyncio.Task[api.PubAck] | None  # None: nothing to write (every claim refused)
    error: BaseException | None = None
    done: asyncio.Task[None] | None = field(default=None, repr=False)


class InFlight:
    """The batches of one writer between their publish and their callers' answer.

    Args:
        tail: the writer's end of the log (changed only as batches are found stored).
        depth: the most batches in flight (1: each waits for the one before).
        stored: called after each batch is stored (the writer's checkpoint rule).
    """

    def __init__(self, tail: LogTail, depth: int, stored: Callable[[], None]) -> None:
        if depth < 1:
            raise ValueError("at least one batch must be allowed in flight")
        self.depth = depth
        self.arbiter: Arbiter | None = None
        self.failure: BaseException | None = None  # the log cannot be read: fail closed
        self.generation = 0  # bumped when a batch in flight is appended again or fails
        self.again = 0  # batches appended again after their publish in flight failed
        self._tail = tail
        self._places = asyncio.Semaphore(depth)
        self._flights: deque[_Flight] = deque()
        self._stored = stored
        self._broken = False  # a batch was refused: send nothing until the rest finish

    @property
    def next_index(self) -> int:
        """The index the next batch's first entry gets if every batch in flight is stored."""
        return self._tail.tree.size + sum(len(f.lines[1]) for f in self._flights)

    def settle(self, parts: list[Pending]) -> list[AuditEntry]:
        """Decide the claims of ``parts`` after the log as known and the batches in flight."""
        if self.arbiter is None:
            return [e for p in parts for e in p.entries]
        ahead = [e for f in self._flights for p in f.parts for e in p.entries]
        return self.arbiter.settle(parts, ahead)

    async def send(self, parts: list[Pending], lines: tuple[int, list[bytes]], gen: int) -> None:
        """Publish ``parts`` after the batches in flight; returns once it is published.

        Waits for a place in flight, and while a refused batch is being appended again,
        for every batch in flight to finish (the batch is then decided and serialised
        again).

        Args:
            parts: the callers' entries and claims, their claims decided (:meth:`settle`).
            lines: their entries serialised from index ``lines[0]`` on.
            gen: :attr:`generation` when their claims were decided.
        """
        await self._places.acquire()
        if self._broken:
            await self.drain()
        first = self.next_index
        if gen != self.generation or lines[0] != first:
            lines = (first, serialise(self.settle(parts), first))
        tail = self._tail
        before = next((f for f in reversed(self._flights) if f.publish is not None), None)
        last_seq = tail.last_seq if before is None else before.seq
        batch_id = uuid.uuid4().hex
        publish = None
        if lines[1]:
            headers = {
                HDR_EXPECTED_LAST_SEQ: str(last_seq),
                HDR_MSG_ID: batch_id,
                HDR_FIRST: str(first),
                HDR_COUNT: str(len(lines[1])),
            }
            if before is not None:
                headers[HDR_EXPECTED_LAST_MSG_ID] = before.batch_id
            body = b"\n".join(lines[1])
            publish = asyncio.ensure_future(
                tail.js.publish(AUDIT_SUBJECT, body, stream=AUDIT_STREAM, headers=headers)
            )
            publish.add_done_callback(_seen)  # failed after the batch before it: never awaited
            last_seq += 1
        flight = _Flight(parts, batch_id, lines, last_seq, publish)
        previous = self._flights[-1] if self._flights else None
        self._flights.append(flight)
        flight.done = asyncio.create_task(self._finish(flight, previous), name="audit-batch")

    async def drain(self) -> None:
        """Return once every batch in flight is finished."""
        while self._flights:
            last = self._flights[-1].done
            if last is not None:
                await asyncio.wait([last])

    # -- internals -------------------------------------------------------------------------

    async def _finish(self, flight: _Flight, previous: _Flight | None) -> None:
        try:
            if previous is not None and previous.done is not None:
                await asyncio.wait([previous.done])
                if previous.error is not None:
                    raise AuditStoreError(
                        f"an audit batch before this one failed ({previous.error}); these "
                        "entries were decided after it and are not written"
                    )
            first = await self._first_index(flight)
        except Exception as exc:  # any failure goes to the waiting callers, never lost
            flight.error = exc
            self._fail(flight, exc)
        else:
            index = first
            for pending in flight.parts:
                n = len(pending.entries)
                if not pending.future.done():
                    pending.future.set_result(list(range(index, index + n)))
                index += n
            self._stored()
        finally:
            self._flights.remove(flight)  # the first, unless cancelled out of turn (a stop)
            self._places.release()
            if not self._flights:
                self._broken = False
            found = self._tail.found
            if found:  # only the batches still in flight may be looked up there
                mine = {f.batch_id for f in self._flights}
                for batch_id in [b for b in found if b not in mine]:
                    del found[batch_id]

    async def _first_index(self, flight: _Flight) -> int:
        """Where ``flight`` is stored: as published if it was, else appended again (its
        claims learnt by the arbiter either way)."""
        tail = self._tail
        if not self._broken:
            if flight.publish is None:
                return tail.tree.size  # nothing to write: every claim refused
            ack = await _answer(flight.publish)
            if (
                ack is not None
                and not ack.duplicate
                and ack.seq == tail.last_seq + 1
                and flight.lines[0] == tail.tree.size
            ):
                tail.stored(flight.lines[1], ack.seq)
                if self.arbiter is not None:
                    self.arbiter.index.learn(e for p in flight.parts for e in p.entries)
                return flight.lines[0]
        elif flight.publish is not None:
            await _answer(flight.publish)  # first its answer: no write of ours is left
        # Refused (another process appended, or a batch before this one was), or its answer
        # was lost: appended again after the log's end as read now, unless a read found it
        # stored (the arbiter learnt its claims as it read them).
        self._broken = True
        self.generation += 1
        self.again += 1
        if flight.batch_id in tail.found:
            return tail.found[flight.batch_id]
        return await append_settled(tail, self.arbiter, flight.parts, flight.batch_id)

    def _fail(self, flight: _Flight, exc: BaseException) -> None:
        self._broken = True
        self.generation += 1
        error = (
            exc
            if isinstance(exc, AuditError)
            else AuditStoreError(
                f"could not persist {sum(len(p.entries) for p in flight.parts)} audit "
                f"entries: {type(exc).__name__}: {exc}"
            )
        )
        for pending in flight.parts:
            if not pending.future.done():
                pending.future.set_exception(error)
        if isinstance(exc, AuditLogCorrupt):
            self.failure = exc  # fail closed: never append after a log it cannot read


async def _answer(publish: asyncio.Task[api.PubAck]) -> api.PubAck | None:
    """The acknowledgement of ``publish``; None when it was refused or got no answer."""
    try:
        return await publish
    except Exception:  # refused or lost: the caller appends the batch again
        return None


def _seen(publish: asyncio.Task[api.PubAck]) -> None:
    """Mark the publish's error as retrieved (asyncio warns of one never retrieved)."""
    if not publish.cancelled():
        publish.exception()
