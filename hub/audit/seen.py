"""The audit writer as the arbiter of accepted ids: replay refusal without a write of its own.

Every accepted message has a ``received`` entry in the audit log, persisted before its
deliveries are written. That entry names the INGRESS message it came in (``ingress``:
``<stream>-<seq>``, :func:`hub.pipeline.checks.ingress_ref`), so the entry *is* the claim
of its id: the first ``received`` entry of an id in the log holds it, for as long as a
message with that id could still be accepted (the acceptance window plus the clock skew,
and a minute for the clocks of two hub processes).

Why this is exact with one or several hub processes: the log is linear. Every append
carries ``Nats-Expected-Last-Sequence`` (:mod:`hub.audit.tail`), so a batch is stored only
if its writer knew every entry before it; when another process appended meanwhile the
server refuses the batch, the writer reads what was written (and learns its claims here),
decides its own claims again against them and retries. A claim is therefore decided
against the whole log before it, and no two ``received`` entries of one id from two
ingress messages can both be stored as accepted.

What the index costs: a dict entry per id held (the id, its ingress name and its time in
an expiry queue: about 250 bytes measured, see ``docs/replay.md``), rebuilt at start from
the AUDIT messages stored within the horizon (:meth:`AuditWriter.arbitrate`).

A claim is released (the id may be sent again) only by a ``rejected`` entry of the same
ingress message with the reason ``hub_error``: the hub gave up on a message it kept
failing on (a poison message, quarantined for an operator). An id that a correction or
retraction amends (the ``amends`` of its ``received`` entry) stays taken for the horizon
even when released: a message sent again under it would open a chain its recipients saw
amended (as with ``seen_ids: bucket``, :meth:`hub.pipeline.replay.SeenIds.claim`).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol

import structlog
from nats.js import JetStreamContext

from hub.audit.entries import REDELIVERED, AuditEntry, EntryKind
from hub.audit.reader import AuditReader, StoredBatch
from hub.audit.tail import LogTail

__all__ = [
    "AMENDED_BY",
    "CLOCK_MARGIN",
    "GAVE_UP",
    "Arbiter",
    "Claim",
    "SeenIndex",
    "append_settled",
]

log = structlog.get_logger("enlace.hub.audit")

CLOCK_MARGIN = timedelta(minutes=1)
"""Kept beyond the acceptance window and skew: two hub processes' clocks may differ."""
GAVE_UP = "hub_error"
"""The reason code of a message the hub gave up on (:class:`hub.errors.HubError`)."""

_RECEIVED = b'"kind":"received"'
AMENDED_BY = "amended-by:"
"""What :meth:`SeenIndex.holder` names for a free id an amendment took: ``amended-by:<id>``."""
_REJECTED = b'"kind":"rejected"'
_INGRESS = b'"ingress":'


@dataclass
class Claim:
    """A ``received`` entry to append only if its id is free or held by the same message.

    Set by the writer as the batch holding it is decided (:meth:`SeenIndex.settle`):
    ``refused`` (another ingress message holds the id: the entry is not written) or
    ``again`` (this ingress message holds it: a redelivery, recorded again as one);
    ``amended_by`` when the id is refused because an amendment took it.
    """

    message_id: str
    ingress: str
    amends: str | None = None
    """The id the message corrects or retracts, if it is an amendment."""
    again: bool = False
    refused: bool = False
    amended_by: str | None = None


class SeenIndex:
    """Accepted id → the ingress message that holds it, for the window (in memory).

    Args:
        horizon: how long an id is held after its ``received`` entry was written
            (acceptance window + clock skew + :data:`CLOCK_MARGIN`).
    """

    def __init__(self, horizon: timedelta) -> None:
        self.horizon = horizon.total_seconds()
        self._held: dict[str, str] = {}
        self._order: deque[tuple[float, str, str]] = deque()  # (written at, id, ingress)
        self._amended: dict[str, str] = {}  # amended id → the amendment
        self._amended_order: deque[tuple[float, str]] = deque()  # (written at, amended id)

    def __len__(self) -> int:
        return len(self._held)

    def holder(self, message_id: str) -> str | None:
        """The ingress message that holds ``message_id``; ``amended-by:<id>`` when none
        does but an amendment took it; None when it is free."""
        return _holder(self._held.get(message_id), self._amended.get(message_id))

    def amended(self, message_id: str, by: str, at: float) -> None:
        """Record that an amendment took ``message_id``: a message sent again under it is
        refused for the horizon, even once released.

        Args:
            message_id: the id amended.
            by: the amendment's id.
            at: when its ``received`` entry was stored (epoch seconds).
        """
        if message_id not in self._amended:
            self._amended[message_id] = by
            self._amended_order.append((at, message_id))

    def hold(self, message_id: str, ingress: str, at: float) -> None:
        """Record a stored claim; the first one in the log keeps the id.

        Args:
            message_id: the id claimed.
            ingress: the ingress message that claimed it.
            at: when the claim was stored (epoch seconds): it is held for the horizon.
        """
        if message_id not in self._held:
            self._held[message_id] = ingress
            self._order.append((at, message_id, ingress))

    def release(self, message_id: str, ingress: str) -> None:
        """Forget ``message_id`` if ``ingress`` holds it."""
        if self._held.get(message_id) == ingress:
            del self._held[message_id]

    def expire(self, now: float) -> None:
        """Forget the ids claimed before ``now`` minus the horizon (epoch seconds)."""
        limit = now - self.horizon
        order, held = self._order, self._held
        while order and order[0][0] < limit:
            _, message_id, ingress = order.popleft()
            if held.get(message_id) == ingress:
                del held[message_id]
        while self._amended_order and self._amended_order[0][0] < limit:
            self._amended.pop(self._amended_order.popleft()[1], None)

    def settle(self, claims: Sequence[Claim], ahead: Iterable[AuditEntry] = ()) -> None:
        """Decide the claims of one batch, in order, against the log as known.

        A claim refused stays refused (another message held the id before it).

        Args:
            claims: the batch's claims, in order.
            ahead: the entries of this writer's batches written before it and not yet
                acknowledged (:mod:`hub.audit.inflight`), in order: their claims and
                releases count as if stored (if one is not stored, this batch is not
                either: each names the one before it).
        """
        mine: dict[str, str | None] = {}  # what the batches ahead and this one change
        amended: dict[str, str] = {}  # the ids they amend

        def holder(message_id: str) -> str | None:
            held = mine[message_id] if message_id in mine else self._held.get(message_id)
            by = amended.get(message_id) or self._amended.get(message_id)
            return _holder(held, by)

        for e in ahead:
            if e.ingress is None or e.message_id is None:
                continue
            held = holder(e.message_id)
            if e.kind is EntryKind.RECEIVED:
                if held is None:
                    mine[e.message_id] = e.ingress
                if e.amends is not None:
                    amended.setdefault(e.amends, e.message_id)
            elif e.kind is EntryKind.REJECTED and e.reason == GAVE_UP and held == e.ingress:
                mine[e.message_id] = None
        for claim in claims:
            if claim.refused:
                continue
            held = holder(claim.message_id)
            if held is None:
                mine[claim.message_id] = claim.ingress
            elif held == claim.ingress:
                claim.again = True
            else:
                claim.refused = True
                if held.startswith(AMENDED_BY):
                    claim.amended_by = held.removeprefix(AMENDED_BY)
                continue
            if claim.amends is not None:
                amended.setdefault(claim.amends, claim.message_id)

    def learn(self, entries: Iterable[AuditEntry]) -> None:
        """Take the claims and releases of entries this writer stored."""
        for e in entries:
            if e.ingress is None or e.message_id is None:
                continue
            if e.kind is EntryKind.RECEIVED:
                self.hold(e.message_id, e.ingress, e.time.timestamp())
                if e.amends is not None:
                    self.amended(e.amends, e.message_id, e.time.timestamp())
            elif e.kind is EntryKind.REJECTED and e.reason == GAVE_UP:
                self.release(e.message_id, e.ingress)

    def learn_stored(self, lines: Iterable[bytes], at: float) -> None:
        """Take the claims and releases of stored entries (another writer's, or read at
        start); ``at`` is when their batch was stored (epoch seconds).

        Only lines that can matter are parsed: those of a ``received`` or ``rejected``
        entry that names its ingress message (entries of earlier versions do not, see
        :meth:`seed`).
        """
        for raw in lines:
            if _INGRESS not in raw or (_RECEIVED not in raw and _REJECTED not in raw):
                continue
            data = json.loads(raw)
            message_id, ingress = data.get("message_id"), data.get("ingress")
            if not isinstance(message_id, str) or not isinstance(ingress, str):
                continue
            if data.get("kind") == EntryKind.RECEIVED.value:
                self.hold(message_id, ingress, at)
                amends = data.get("amends")
                if isinstance(amends, str):
                    self.amended(amends, message_id, at)
            elif data.get("kind") == EntryKind.REJECTED.value and data.get("reason") == GAVE_UP:
                self.release(message_id, ingress)

    def seed(self, claims: Iterable[tuple[str, str]], at: float) -> int:
        """Hold the claims an earlier version made in its key-value bucket (id, ingress
        message), as if made at ``at``; returns how many were new."""
        before = len(self._held)
        for message_id, ingress in claims:
            self.hold(message_id, ingress, at)
        return len(self._held) - before


def _holder(held: str | None, amended_by: str | None) -> str | None:
    """Who holds an id: its ingress message, else the amendment that took it, else none."""
    if held is None and amended_by is not None:
        return AMENDED_BY + amended_by
    return held


class _Claiming(Protocol):
    """A queued part of a batch (the writer's): its entries and the claim it makes, if any."""

    entries: list[AuditEntry]
    claim: Claim | None


class Arbiter:
    """The audit writer's seen-id index, its clock, and its rebuild at start.

    Args:
        window: the acceptance window plus the clock skew; ids are held for that and
            :data:`CLOCK_MARGIN` more (:class:`SeenIndex`).
        clock: the hub's time, epoch seconds (tests move it).
    """

    def __init__(self, window: timedelta, clock: Callable[[], float] = time.time) -> None:
        self.index = SeenIndex(window + CLOCK_MARGIN)
        self.clock = clock

    def settle(
        self, parts: Sequence[_Claiming], ahead: Iterable[AuditEntry] = ()
    ) -> list[AuditEntry]:
        """Decide the claims of a batch about to be written; returns its entries now.

        A refused claim's entry is taken out (its caller learns it from the claim); a
        redelivery's ``received`` entry is marked as one.

        Args:
            parts: the batch, in order.
            ahead: the entries of the batches in flight before it (:meth:`SeenIndex.settle`).
        """
        self.index.expire(self.clock())
        self.index.settle([p.claim for p in parts if p.claim is not None], ahead)
        for part in parts:
            claim = part.claim
            if claim is None:
                continue
            if claim.refused:
                part.entries = []
            elif claim.again and part.entries and part.entries[0].detail is None:
                part.entries = [part.entries[0].model_copy(update={"detail": REDELIVERED})]
        return [e for p in parts for e in p.entries]

    def observe(self, batch: StoredBatch) -> None:
        """Take a batch another writer stored (read by a catch-up)."""
        at = batch.time.timestamp() if batch.time is not None else self.clock()
        self.index.learn_stored(batch.entries, at)

    async def rebuild(self, js: JetStreamContext, last_seq: int) -> int:
        """Read the claims stored within the horizon, up to AUDIT sequence ``last_seq``;
        returns how many AUDIT messages were read."""
        if last_seq == 0:
            return 0
        reader = AuditReader(js)
        since = datetime.fromtimestamp(self.clock() - self.index.horizon, UTC)
        start = await reader.seq_since(since)
        read, started = 0, time.perf_counter()
        if start <= last_seq:
            # Read to the stream's end as it is now; what follows ``last_seq`` is learnt
            # by the catch-ups that read it.
            async for batch in reader.batches(start_seq=start):
                if batch.seq <= last_seq:
                    self.observe(batch)
                    read += 1
        log.info(
            "seen_ids_rebuilt",
            held=len(self.index),
            batches_read=read,
            from_seq=start,
            seconds=round(time.perf_counter() - started, 3),
        )
        return read


async def append_settled(
    tail: LogTail,
    arbiter: Arbiter | None,
    parts: Sequence[_Claiming],
    batch_id: str,
    lines: tuple[int, list[bytes]] | None = None,
) -> int:
    """Append the entries of ``parts`` as one batch (:meth:`LogTail.append`), their claims
    decided again before each try; returns the first index.

    Args:
        tail: the writer's end of the log.
        arbiter: the writer's arbiter (None: no claims to decide).
        parts: what the batch holds, in order.
        batch_id: the batch's ``Nats-Msg-Id``.
        lines: the entries serialised from index ``lines[0]`` on (None: serialised here).

    Raises:
        AuditLogCorrupt: see :meth:`LogTail.append`.
        AuditStoreError: see :meth:`LogTail.append`.
    """
    entries = [e for p in parts for e in p.entries]
    if arbiter is None:
        return await tail.append(entries, batch_id, lines)
    first = await tail.append(entries, batch_id, lines, partial(arbiter.settle, parts))
    arbiter.index.learn(e for p in parts for e in p.entries)
    return first
