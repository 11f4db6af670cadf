"""Sink receipts on the audit record: the last step of a message's trail.

The :class:`ReceiptRecorder` reads the receipts sinks publish on ``enlace.receipt.<cc>``
(stream RECEIPTS) through the durable pull consumer ``hub-receipts``, one batch at a time
(:class:`~hub.jetstream.pull.PullLoop`), and makes of each receipt — alone in its message or
one of a sink's batch (:mod:`hub.pipeline.receipt_batch`) — one audit entry: ``delivered``,
``dead_lettered`` or ``receipt_rejected``, as :mod:`hub.pipeline.receipt_checks` decides
(against the directory in force and the sink register, both replaced by
:meth:`ReceiptRecorder.reload`; and the DELIVERY message the receipt names, one direct get).
The same delivery, sink and status again makes nothing: acked, recorded once already.

A RECEIPTS message is acked only after the entries of its receipts are persisted in AUDIT
and, for valid ones, their senders' ledger entries in ``OUTCOMES_<cc>``
(:mod:`hub.pipeline.ledger`). It is recorded once per
delivery, sink and status: the key-value bucket ``enlace_receipts`` holds
:func:`~hub.pipeline.receipt_checks.record_key` (``<cc>.<delivery seq>.<sink>.<status>``,
value: the entry's log index) after the append, and a receipt whose key is there is acked
without a new entry, whatever its bytes: a sink that signs its receipt again after
RECEIPTS' duplicate window (new ``delivered_at``, new ``Nats-Msg-Id``) does not record the
delivery twice. A refused receipt is kept by the SHA-256 of its bytes instead, so the same
forgery read again is one entry while each different one is on the record. If the hub
dies between the append and that mark, the redelivered receipt is recorded a second time:
a duplicate is preferred to a receipt lost from the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from hub.audit import AuditWriter
from hub.audit.errors import AuditError
from hub.config import HubSettings
from hub.jetstream.buckets import ensure_kv
from hub.jetstream.pull import Done, PullHooks, PullLoop
from hub.jetstream.streams import (
    RECEIPTS_BUCKET,
    RECEIPTS_CONSUMER,
    ensure_receipts_consumer,
)
from hub.metrics import HubMetrics
from hub.pipeline.ledger import LedgerWriter
from hub.pipeline.receipt_batch import (
    NAK_DELAY,
    Arrived,
    Settlement,
    arrivals,
    groups,
    logged,
)
from hub.pipeline.receipt_checks import (
    RecordedReceipt,
    SinkRegister,
    StoredDelivery,
    checked_entry,
    conflict,
    delivery_key,
    frozen_sinks,
    receipt_entry,
    record_key,
)
from hub.pipeline.replay import kv_entry
from schemas.directory import Directory
from schemas.receipts import ReceiptStatus

__all__ = ["ReceiptRecorder"]

log = structlog.get_logger("enlace.hub.receipts")

_DELIVERY_STREAM = "DELIVERY"


class ReceiptRecorder:
    """Reads RECEIPTS and records each receipt in the audit log before acking it.

    ``await start()`` creates the consumer and the bucket (idempotent) and starts its
    pull loop; ``await stop()`` stops fetching and finishes the batch in hand.

    Args:
        js: the hub's JetStream context.
        writer: the audit log.
        directory: the directory in force (system keys of the parties).
        settings: the hub settings (fetch batch, stream limits).
        sinks: each country's configured sink names (``enlace.yaml``'s ``adapters:``); a
            receipt from any other sink is refused (``receipt_unknown_sink``).
        metrics: counts receipts by what they became.
        hooks: told about the pull loop's fetches and failures (logging, metrics).
    """

    def __init__(
        self,
        js: JetStreamContext,
        writer: AuditWriter,
        directory: Directory,
        settings: HubSettings,
        *,
        sinks: Mapping[str, Iterable[str]],
        metrics: HubMetrics | None = None,
        hooks: Sequence[PullHooks] = (),
    ) -> None:
        self.js = js
        self.writer = writer
        self.directory = directory
        self.sinks = frozen_sinks(sinks)
        self.settings = settings
        self.metrics = metrics
        self._hooks = tuple(hooks)
        self._kv: KeyValue | None = None
        self._loop: PullLoop | None = None
        self._ledger = LedgerWriter(js)

    def reload(
        self, directory: Directory, sinks: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """Check the next receipts against ``directory`` and, when given, ``sinks``.

        The batch in hand keeps the ones it started with. ``sinks`` None keeps the
        register as it is.
        """
        self.directory = directory
        if sinks is not None:
            self.sinks = frozen_sinks(sinks)

    async def start(self) -> None:
        """Create the ``hub-receipts`` consumer and the ``enlace_receipts`` bucket; start."""
        await ensure_receipts_consumer(self.js, self.settings)
        self._kv = await ensure_kv(
            self.js,
            RECEIPTS_BUCKET,
            # A receipt cannot come back after RECEIPTS dropped it, nor be checked after
            # DELIVERY dropped its delivery: keep marks as long as both.
            self.settings.streams.max_age.total_seconds(),
            self.settings.streams.replicas,
        )
        sub = await self.js.pull_subscribe_bind(durable=RECEIPTS_CONSUMER, stream="RECEIPTS")
        self._loop = PullLoop(
            sub,
            self.handle_batch,
            name="RECEIPTS",
            batch=self.settings.fetch_batch,
            # One batch at a time: a batch's duplicates and conflicts are looked up in the
            # marks the batches before it left.
            overlap=False,
            hooks=self._hooks,
            retry_after=NAK_DELAY,  # a batch that failed is tried again, never acked
        )
        self._loop.start()
        if not any(self.sinks.values()):
            log.warning(
                "receipts_without_sinks",
                detail="no sink is configured (enlace.yaml adapters:): every receipt will be "
                "refused as receipt_unknown_sink",
            )
        log.info("receipts_recorder_started", consumer=RECEIPTS_CONSUMER)

    async def stop(self) -> None:
        """Stop fetching; the batch in hand is recorded and acked first."""
        if self._loop is not None:
            await self._loop.stop()
            self._loop = None

    async def _recorded_at(self, key: str) -> int | None:
        assert self._kv is not None  # started
        entry = await kv_entry(self._kv, key)
        if entry is None:
            return None
        try:
            return int(entry.value or b"-1")
        except ValueError:
            return -1

    async def _stored_delivery(self, seq: int | None) -> StoredDelivery | None:
        """DELIVERY message ``seq``; None when there is no seq or the stream dropped it.

        Any other failure (NATS unreachable, a timeout) is raised: the batch is then left
        for redelivery rather than refused as unchecked.
        """
        if seq is None:
            return None
        try:
            msg = await self.js.get_msg(_DELIVERY_STREAM, seq, direct=True)
        except NotFoundError:
            # A direct get is answered by any replica; one behind (back from a freeze)
            # may not hold it yet: the leader's "not there" is the one that counts.
            try:
                msg = await self.js.get_msg(_DELIVERY_STREAM, seq)
            except NotFoundError:
                return None
        return StoredDelivery(seq, msg.subject or "", dict(msg.headers or {}), msg.data or b"")

    async def _judged(
        self, arrived: Arrived, directory: Directory, sinks: SinkRegister, batch: set[str]
    ) -> tuple[RecordedReceipt, StoredDelivery | None]:
        """What ``arrived`` becomes: verified, checked, and refused if it contradicts the
        record; and the DELIVERY message it answers, when it could be read (its sender is
        told).

        ``batch``: the keys of the receipts of this batch recorded before it.
        """
        if arrived.refused is not None:  # a RECEIPTS message refused whole
            return arrived.refused, None
        subject, raw = arrived.subject, arrived.raw
        # When JetStream stored it, not when we read it.
        recorded = receipt_entry(directory, subject, raw, arrived.jws, arrived.at)
        receipt = recorded.receipt
        if receipt is None:
            return recorded, None
        stored = None
        if receipt.sink in sinks.get(receipt.recipient, frozenset()):  # else no read needed
            stored = await self._stored_delivery(receipt.delivery_seq)
        recorded = checked_entry(recorded, subject, raw, stored, sinks)
        if recorded.valid and receipt.status is ReceiptStatus.DEAD_LETTERED:
            delivered = delivery_key(receipt, ReceiptStatus.DELIVERED)
            if delivered in batch:
                return conflict(recorded, subject, raw, None), stored
            index = await self._recorded_at(delivered)
            if index is not None:
                return conflict(recorded, subject, raw, index), stored
        return recorded, stored

    async def _tell_sender(
        self, arrived: Arrived, recorded: RecordedReceipt, stored: StoredDelivery | None
    ) -> bool:
        """Write ``recorded``'s ledger entry for the sender of ``stored``; False when it
        could not be (it comes again)."""
        body = None if stored is None else stored.body
        digest = recorded.entry.digest or ""
        return await self._ledger.tell(recorded.receipt, body, arrived.at, digest)

    async def handle_batch(self, msgs: Sequence[Msg], done: Done | None = None) -> None:
        """Record the receipts of a batch of RECEIPTS messages, then settle each message
        (:class:`~hub.pipeline.receipt_batch.Settlement`).

        A message may carry one receipt or a sink's batch of them
        (:func:`~hub.pipeline.receipt_batch.arrivals`); each receipt is checked and recorded
        on its own. The messages are recorded a group at a time
        (:func:`~hub.pipeline.receipt_batch.groups`: about
        :data:`~hub.pipeline.receipt_batch.RECORD_AT_ONCE` receipts, one audit append
        each), so that a backlog of sink batches is acked as it goes, well within
        ``ack_wait``, not after thousands of receipts. ``done`` is called as each message
        is settled (acked, terminated or nak'ed).
        """
        settled = done or _nothing
        directory, sinks = self.directory, self.sinks
        keys: set[str] = set()  # of this batch's receipts, recorded or marked before
        for group in groups(msgs):
            settlements = [Settlement(msg) for msg in group]
            todo: list[_Todo] = []
            for settlement in settlements:
                for arrived in arrivals(settlement.msg):
                    recorded, stored = await self._judged(arrived, directory, sinks, keys)
                    key = arrived.key or record_key(recorded, arrived.raw)
                    in_batch = key in keys
                    index = None if in_batch else await self._recorded_at(key)
                    if in_batch or index is not None:
                        # A redelivery, the same bytes published again, or the same delivery
                        # receipted again by its sink with new bytes: already on the record.
                        self._count("duplicate")
                        digest = recorded.entry.digest
                        log.info("receipt_duplicate", key=key, digest=digest, recorded_at=index)
                        # On the record, perhaps not yet told to its sender (a hub that died
                        # between the two): tell it again, idempotently.
                        told = in_batch or await self._tell_sender(arrived, recorded, stored)
                        settlement.kept = True
                        settlement.again |= not told
                        continue
                    keys.add(key)
                    todo.append(_Todo(arrived, settlement, key, recorded, stored))
            if todo:
                await self._record(todo)
            for settlement in settlements:
                await settlement.settle()
                settled()

    async def _record(self, todo: Sequence[_Todo]) -> None:
        """Append the entries of ``todo`` to the audit log, mark them, tell their senders;
        each one's message learns whether it is on the record."""
        assert self._kv is not None  # started
        try:
            indexes = await self.writer.append([t.recorded.entry for t in todo])
        except AuditError as err:
            # Not on the record: leave the receipts for redelivery, never ack them.
            log.error("receipts_not_recorded", count=len(todo), error=str(err))
            for t in todo:
                t.settlement.again = True
            return
        marks = [
            self._kv.put(t.key, str(index).encode()) for t, index in zip(todo, indexes, strict=True)
        ]
        for result in await asyncio.gather(*marks, return_exceptions=True):
            if isinstance(result, BaseException):
                # Only a redelivery could now duplicate the entry; the record is complete.
                log.warning("receipt_mark_failed", error=type(result).__name__)
        told = await asyncio.gather(
            *(self._tell_sender(t.arrived, t.recorded, t.stored) for t in todo)
        )
        for t, index, ok in zip(todo, indexes, told, strict=True):
            self._count(t.recorded.entry.kind.value)
            logged(t.recorded, t.arrived.subject, index)
            if t.recorded.valid:
                t.settlement.kept = True
                # Not told: on the record (marked); its redelivery tells the sender again.
                t.settlement.again |= not ok

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.receipts.labels(outcome=outcome).inc()


@dataclass(frozen=True)
class _Todo:
    """A receipt not yet on the record, what it becomes, and its message's settlement."""

    arrived: Arrived
    settlement: Settlement
    key: str
    recorded: RecordedReceipt
    stored: StoredDelivery | None


def _nothing() -> None:
    """No one to tell that a receipt is settled (a batch handed over by hand)."""
