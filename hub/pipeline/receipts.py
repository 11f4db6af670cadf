"""Sink receipts on the audit record: the last step of a message's trail.

A sink adapter publishes a signed receipt on ``enlace.receipt.<cc>`` (stream RECEIPTS,
see :mod:`schemas.receipts`). The :class:`ReceiptRecorder` reads them through the durable
pull consumer ``hub-receipts`` and, for each one:

==========================================  ===============================================
receipt                                     audit entry
==========================================  ===============================================
valid, status ``delivered``                 ``delivered`` (recipient, sink, receipt digest)
valid, status ``dead_lettered``             ``dead_lettered`` (+ the sink's reason code)
unsigned, forged, altered, wrong party      ``receipt_rejected`` (reason code), never a
                                            delivery; the message is terminated, not retried
signed, but refused (below)                 ``receipt_rejected`` (``receipt_*`` code)
the same delivery, sink and status again    nothing: acked, recorded once already
==========================================  ===============================================

Signed means: a readable receipt, signed (``Enlace-Signature``) by a system key of the
party named by the subject's ``<cc>``, which is also the receipt's ``recipient``, with the
key valid when JetStream stored the receipt (a backlog read after a key rotation still
verifies). The directory is the one in force; :meth:`ReceiptRecorder.reload` replaces it.

A signed receipt is then refused (:class:`~hub.errors.ReceiptRefused`, whose code the
``receipt_rejected`` entry carries) unless all of these hold, checked in this order:

``receipt_unknown_sink``
    its ``sink`` is one configured for its recipient (``enlace.yaml``'s ``adapters:``,
    the register :class:`ReceiptRecorder` is given and :meth:`~ReceiptRecorder.reload`
    replaces);
``receipt_unchecked``
    it names a DELIVERY sequence (``delivery_seq``) and the stream still holds that message
    (its age or size limits may have removed it): what cannot be checked is not recorded;
``receipt_mismatch``
    that message (one direct get) is its delivery: ``Nats-Msg-Id`` is
    ``<message_id>:<recipient>``, the subject the recipient's (``enlace.out.<cc>.…``),
    ``Enlace-View`` the receipt's view and the body's SHA-256 the receipt's digest;
``receipt_conflict``
    a ``dead_lettered`` receipt is not for a (delivery, sink) already recorded
    ``delivered``: what a sink wrote it cannot later have refused. The other way round
    (``dead_lettered``, then ``delivered`` when the dead letter is replayed) is recorded.

So a party cannot put on the record a delivery it never got, bytes the hub did not send,
a sink nobody configured, or an outcome that contradicts its own.

A receipt is acked only after its entry is persisted in AUDIT. It is recorded once per
delivery, sink and status: the key-value bucket ``enlace_receipts`` holds
:func:`delivery_key` (``<cc>.<delivery seq>.<sink>.<status>``, value: the entry's log
index) after the append, and a receipt whose key is there is acked without a new entry,
whatever its bytes: a sink that signs its receipt again after RECEIPTS' duplicate window
(new ``delivered_at``, new ``Nats-Msg-Id``) does not record the delivery twice. A refused
receipt is kept by the SHA-256 of its bytes instead, so the same forgery read again is one
entry while each different one is on the record. If the hub dies between the append and
that mark, the redelivered receipt is recorded a second time: a duplicate is preferred to
a receipt lost from the record.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from hub.audit import AuditEntry, AuditWriter
from hub.audit.errors import AuditEntryInvalid, AuditError
from hub.config import HubSettings
from hub.errors import (
    ReceiptConflict,
    ReceiptMismatch,
    ReceiptRefused,
    ReceiptUnchecked,
    ReceiptUnknownSink,
)
from hub.jetstream.streams import (
    RECEIPTS_BUCKET,
    RECEIPTS_CONSUMER,
    ensure_kv,
    ensure_receipts_consumer,
)
from hub.metrics import HubMetrics
from schemas.countersign import sha256_digest
from schemas.directory import Directory
from schemas.errors import EnlaceError, MalformedSignature, SubjectMismatch
from schemas.receipts import Receipt, ReceiptStatus, parse_receipt, verify_receipt
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_SIGNATURE,
    HDR_VIEW,
    PREFIX,
    delivery_msg_id,
    is_delivery_to,
    receipt_country,
)

__all__ = [
    "ReceiptRecorder",
    "RecordedReceipt",
    "SinkRegister",
    "StoredDelivery",
    "check_receipt",
    "checked_entry",
    "conflict",
    "delivery_key",
    "delivery_mismatch",
    "frozen_sinks",
    "receipt_entry",
]

log = structlog.get_logger("enlace.hub.receipts")

_UNSPECIFIED = "unspecified"  # a dead-letter receipt whose reason is not a reason code
_NAK_DELAY = 1.0  # seconds before the audit log is tried again for a receipt
_DELIVERY_STREAM = "DELIVERY"

SinkRegister = Mapping[str, frozenset[str]]
"""The sinks configured for each country (country code -> sink names)."""


def frozen_sinks(sinks: Mapping[str, Iterable[str]]) -> SinkRegister:
    """A register of each country's sink names, as the recorder keeps it (a copy)."""
    return {cc: frozenset(names) for cc, names in sinks.items()}


@dataclass(frozen=True)
class RecordedReceipt:
    """What one receipt becomes on the record: its entry, and whether it verified."""

    entry: AuditEntry
    receipt: Receipt | None  # None when it did not verify

    @property
    def valid(self) -> bool:
        return self.receipt is not None


def _verified(
    directory: Directory, subject: str, raw: bytes, jws: str | None, at: datetime | None
) -> Receipt:
    country = receipt_country(subject)
    if country is None:
        raise SubjectMismatch(f"receipt on {subject!r}, not on {PREFIX}.receipt.<country code>")
    if not jws:
        raise MalformedSignature(
            f"receipt on {subject} has no {HDR_SIGNATURE} header; a sink signs every receipt"
        )
    receipt = verify_receipt(directory, raw, jws, at)
    if receipt.recipient != country:
        raise SubjectMismatch(
            f"receipt for {receipt.message_id} names recipient {receipt.recipient} but was "
            f"published on {subject}; a party sends receipts for its own deliveries only"
        )
    return receipt


def _rejected(
    subject: str, raw: bytes, digest: str, reason: str, claimed_id: str | None
) -> AuditEntry:
    country = receipt_country(subject)
    try:
        return AuditEntry.receipt_rejected(claimed_id, country, reason, digest, len(raw))
    except AuditEntryInvalid:
        # The claimed id is not an id the log admits (a forger chose it): leave it out.
        return AuditEntry.receipt_rejected(None, country, reason, digest, len(raw))


def _claimed_id(raw: bytes) -> str | None:
    """The message id a receipt claims, if its bytes can be read at all (for the trail)."""
    with contextlib.suppress(EnlaceError, ValueError):
        return parse_receipt(raw).message_id
    return None


def receipt_entry(
    directory: Directory,
    subject: str,
    raw: bytes,
    jws: str | None,
    at: datetime | None = None,
) -> RecordedReceipt:
    """The audit entry for one receipt as it arrived (subject, bytes, signature header).

    Args:
        directory: the directory in force (the recipient party's system keys).
        subject: the NATS subject, ``enlace.receipt.<cc>``.
        raw: the receipt bytes exactly as published.
        jws: the ``Enlace-Signature`` header (None when absent).
        at: when the receipt was published (key validity is checked at that time).

    Returns:
        ``delivered`` or ``dead_lettered`` for a receipt that verifies, otherwise
        ``receipt_rejected`` with the reason code of the first failed check. A verified
        receipt still has to pass :func:`checked_entry` before it is recorded.
    """
    digest = sha256_digest(raw)
    try:
        receipt = _verified(directory, subject, raw, jws, at)
    except EnlaceError as err:
        return RecordedReceipt(_rejected(subject, raw, digest, err.code, _claimed_id(raw)), None)
    try:
        if receipt.status is ReceiptStatus.DEAD_LETTERED:
            reason = receipt.reason or _UNSPECIFIED
            try:
                entry = AuditEntry.dead_lettered(
                    receipt.message_id, receipt.recipient, digest, receipt.sink, reason
                )
            except AuditEntryInvalid:
                entry = AuditEntry.dead_lettered(
                    receipt.message_id, receipt.recipient, digest, receipt.sink, _UNSPECIFIED
                )
        else:
            entry = AuditEntry.delivered(
                receipt.message_id, receipt.recipient, digest, receipt.sink
            )
    except AuditEntryInvalid:
        # Signed, but its message id or sink name is not one the log can hold.
        return RecordedReceipt(
            _rejected(subject, raw, digest, "invalid_receipt", receipt.message_id), None
        )
    return RecordedReceipt(entry, receipt)


@dataclass(frozen=True)
class StoredDelivery:
    """The DELIVERY stream message a receipt names, as JetStream holds it."""

    seq: int
    subject: str
    headers: Mapping[str, str]
    body: bytes


def delivery_mismatch(receipt: Receipt, stored: StoredDelivery) -> str | None:
    """What the stored delivery contradicts in ``receipt``, or None when it answers it.

    Args:
        receipt: a receipt whose signature already verified.
        stored: the DELIVERY message its ``delivery_seq`` names.

    Returns:
        One sentence for the log (ids, subjects, views and digests only), or None.
    """
    where = f"DELIVERY {stored.seq}"
    expected_id = delivery_msg_id(receipt.message_id, receipt.recipient)
    stored_id = stored.headers.get(HDR_MSG_ID)
    if stored_id != expected_id:
        return f"{where} is delivery {stored_id!r}, not {expected_id!r}"
    if not is_delivery_to(stored.subject, receipt.recipient):
        return f"{where} went out on {stored.subject}, not to {receipt.recipient}"
    stored_view = stored.headers.get(HDR_VIEW)
    if stored_view != receipt.view:
        return f"{where} was sent in view {stored_view!r}, not {receipt.view!r}"
    # A dead letter's digest is also of the bytes it received (adapters.runner): the same.
    digest = sha256_digest(stored.body)
    if digest != receipt.digest:
        return f"{where} has bytes {digest}, not the receipt's {receipt.digest}"
    return None


def check_receipt(receipt: Receipt, stored: StoredDelivery | None, sinks: SinkRegister) -> None:
    """Check a verified receipt against the sink register and the delivery it names.

    Args:
        receipt: a receipt whose signature already verified.
        stored: the DELIVERY message named by its ``delivery_seq``; None when it names
            none or the stream no longer holds it.
        sinks: each country's configured sink names.

    Raises:
        ReceiptUnknownSink: its sink is not configured for its recipient.
        ReceiptUnchecked: it names no DELIVERY message, or one the stream no longer holds.
        ReceiptMismatch: the DELIVERY message it names is not its delivery.
    """
    configured = sinks.get(receipt.recipient, frozenset())
    if receipt.sink not in configured:
        names = ", ".join(sorted(configured)) or "none"
        raise ReceiptUnknownSink(
            receipt,
            f"no sink of that name is configured for {receipt.recipient} (configured: "
            f"{names}); add it to enlace.yaml's adapters: section and reload the hub",
        )
    if receipt.delivery_seq is None:
        raise ReceiptUnchecked(
            receipt,
            "it names no DELIVERY sequence, so the hub cannot check it; update the sink "
            "adapter (every current one names it)",
        )
    if stored is None:
        raise ReceiptUnchecked(
            receipt,
            "the DELIVERY stream no longer holds that message (its age or size limits "
            "removed it), so the hub cannot check it; run the adapter within those limits",
        )
    problem = delivery_mismatch(receipt, stored)
    if problem is not None:
        raise ReceiptMismatch(receipt, problem)


def _refused(
    recorded: RecordedReceipt, subject: str, raw: bytes, err: ReceiptRefused
) -> RecordedReceipt:
    """The ``receipt_rejected`` entry that replaces a verified receipt's entry."""
    log.warning(
        "receipt_refused",
        reason=err.code,
        message_id=err.message_id,
        recipient=err.recipient,
        sink=err.sink,
        delivery_seq=err.delivery_seq,
        status=err.status,
        problem=err.description,
    )
    digest = recorded.entry.digest or sha256_digest(raw)
    return RecordedReceipt(_rejected(subject, raw, digest, err.code, err.message_id), None)


def checked_entry(
    recorded: RecordedReceipt,
    subject: str,
    raw: bytes,
    stored: StoredDelivery | None,
    sinks: SinkRegister,
) -> RecordedReceipt:
    """A verified receipt's entry once checked by :func:`check_receipt`.

    Args:
        recorded: what :func:`receipt_entry` made of the receipt.
        subject: the receipt's NATS subject.
        raw: the receipt bytes.
        stored: the DELIVERY message named by its ``delivery_seq``; None when the receipt
            names none or the stream no longer holds it.
        sinks: each country's configured sink names.

    Returns:
        ``recorded`` unchanged when it passes (or did not verify in the first place);
        otherwise ``receipt_rejected`` with the refusal's reason code.
    """
    receipt = recorded.receipt
    if receipt is None:
        return recorded
    try:
        check_receipt(receipt, stored, sinks)
    except ReceiptRefused as err:
        return _refused(recorded, subject, raw, err)
    return recorded


def conflict(
    recorded: RecordedReceipt, subject: str, raw: bytes, recorded_index: int | None
) -> RecordedReceipt:
    """A checked ``dead_lettered`` receipt for a delivery its sink receipted ``delivered``.

    Args:
        recorded: the checked receipt (status ``dead_lettered``).
        subject: the receipt's NATS subject.
        raw: the receipt bytes.
        recorded_index: the log index of the ``delivered`` entry (None: in this same batch;
            negative: the mark does not say).

    Returns:
        ``receipt_rejected`` with reason ``receipt_conflict``.
    """
    assert recorded.receipt is not None  # only a checked receipt can conflict
    if recorded_index is None:
        where = "in this same batch"
    elif recorded_index < 0:
        where = "its index unreadable"
    else:
        where = f"at audit index {recorded_index}"
    err = ReceiptConflict(
        recorded.receipt,
        f"the same sink's delivered receipt for this delivery is on the record ({where}); "
        "a delivery its sink wrote cannot be dead-lettered after",
    )
    return _refused(recorded, subject, raw, err)


def delivery_key(receipt: Receipt, status: ReceiptStatus | None = None) -> str:
    """The ``enlace_receipts`` key that records ``receipt`` once: delivery, sink, status.

    Args:
        receipt: a checked receipt (it names its DELIVERY sequence).
        status: another status to look up for the same delivery and sink (default: its own).

    Returns:
        ``<recipient>.<delivery seq>.<sink>.<status>``; a ``:`` of the sink name (which the
        log admits, a key does not) is written ``=`` (which neither admits: no clash).
    """
    status = status or receipt.status
    sink = receipt.sink.replace(":", "=")
    return f"{receipt.recipient}.{receipt.delivery_seq}.{sink}.{status.value}"


def _record_key(recorded: RecordedReceipt, raw: bytes) -> str:
    """A recorded receipt by its delivery; a refused one by its bytes (each forgery once)."""
    if recorded.receipt is not None:
        return delivery_key(recorded.receipt)
    return (recorded.entry.digest or sha256_digest(raw)).removeprefix("sha256:")


class ReceiptRecorder:
    """Reads RECEIPTS and records each receipt in the audit log before acking it.

    ``await start()`` creates the consumer and the bucket (idempotent) and starts one
    pull loop; ``await stop()`` stops fetching and finishes the batch in hand.

    Args:
        js: the hub's JetStream context.
        writer: the audit log.
        directory: the directory in force (system keys of the parties).
        settings: the hub settings (fetch batch, stream limits).
        sinks: each country's configured sink names (``enlace.yaml``'s ``adapters:``); a
            receipt from any other sink is refused (``receipt_unknown_sink``).
        metrics: counts receipts by what they became.
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
    ) -> None:
        self.js = js
        self.writer = writer
        self.directory = directory
        self.sinks = frozen_sinks(sinks)
        self.settings = settings
        self.metrics = metrics
        self._kv: KeyValue | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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
        self._task = asyncio.create_task(self._run(sub), name="hub-receipts")
        if not any(self.sinks.values()):
            log.warning(
                "receipts_without_sinks",
                detail="no sink is configured (enlace.yaml adapters:): every receipt will be "
                "refused as receipt_unknown_sink",
            )
        log.info("receipts_recorder_started", consumer=RECEIPTS_CONSUMER)

    async def stop(self) -> None:
        """Stop fetching; the batch in hand is recorded and acked first."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, sub: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            try:
                msgs = await sub.fetch(self.settings.fetch_batch, timeout=0.5)
            except TimeoutError:  # nats-py raises asyncio.TimeoutError = TimeoutError
                continue
            except Exception as exc:
                # Server restarting or connection lost: the client reconnects by itself.
                if self._stopping.is_set():
                    break
                log.warning("receipts_fetch_failed", error=type(exc).__name__)
                await asyncio.sleep(0.25)
                continue
            try:
                await self.handle_batch(msgs)
            except Exception as exc:  # never let one bad batch end the loop
                log.error("receipts_batch_failed", error=f"{type(exc).__name__}: {exc}")
                for msg in msgs:
                    with contextlib.suppress(Exception):
                        await msg.nak(delay=_NAK_DELAY)

    async def _recorded_at(self, key: str) -> int | None:
        assert self._kv is not None  # started
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
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
            return None
        return StoredDelivery(seq, msg.subject or "", dict(msg.headers or {}), msg.data or b"")

    async def _judged(
        self, msg: Msg, directory: Directory, sinks: SinkRegister, batch: set[str]
    ) -> RecordedReceipt:
        """What ``msg`` becomes: verified, checked, and refused if it contradicts the record.

        ``batch``: the keys of the receipts of this batch recorded before it.
        """
        at = msg.metadata.timestamp  # when JetStream stored it, not when we read it
        jws = (msg.headers or {}).get(HDR_SIGNATURE)
        recorded = receipt_entry(directory, msg.subject, msg.data, jws, at)
        receipt = recorded.receipt
        if receipt is None:
            return recorded
        stored = None
        if receipt.sink in sinks.get(receipt.recipient, frozenset()):  # else no read needed
            stored = await self._stored_delivery(receipt.delivery_seq)
        recorded = checked_entry(recorded, msg.subject, msg.data, stored, sinks)
        if recorded.valid and receipt.status is ReceiptStatus.DEAD_LETTERED:
            delivered = delivery_key(receipt, ReceiptStatus.DELIVERED)
            if delivered in batch:
                return conflict(recorded, msg.subject, msg.data, None)
            index = await self._recorded_at(delivered)
            if index is not None:
                return conflict(recorded, msg.subject, msg.data, index)
        return recorded

    async def handle_batch(self, msgs: list[Msg]) -> None:
        """Record a batch of receipts in one audit append, mark them, then ack each."""
        assert self._kv is not None  # started
        directory, sinks = self.directory, self.sinks
        todo: list[tuple[Msg, str, RecordedReceipt]] = []
        keys: set[str] = set()
        for msg in msgs:
            recorded = await self._judged(msg, directory, sinks, keys)
            key = _record_key(recorded, msg.data)
            in_batch = key in keys
            index = None if in_batch else await self._recorded_at(key)
            if in_batch or index is not None:
                # A redelivery, the same bytes published again, or the same delivery
                # receipted again by its sink with new bytes: already on the record.
                self._count("duplicate")
                log.info(
                    "receipt_duplicate",
                    key=key,
                    digest=recorded.entry.digest,
                    recorded_at=index,
                )
                await msg.ack()
                continue
            keys.add(key)
            todo.append((msg, key, recorded))
        if not todo:
            return
        try:
            indexes = await self.writer.append([r.entry for _, _, r in todo])
        except AuditError as err:
            # Not on the record: leave the receipts for redelivery, never ack them.
            log.error("receipts_not_recorded", count=len(todo), error=str(err))
            for msg, _, _ in todo:
                await msg.nak(delay=_NAK_DELAY)
            return
        marks = [
            self._kv.put(key, str(index).encode())
            for (_, key, _), index in zip(todo, indexes, strict=True)
        ]
        for result in await asyncio.gather(*marks, return_exceptions=True):
            if isinstance(result, BaseException):
                # Only a redelivery could now duplicate the entry; the record is complete.
                log.warning("receipt_mark_failed", error=type(result).__name__)
        for (msg, _, recorded), index in zip(todo, indexes, strict=True):
            entry = recorded.entry
            self._count(entry.kind.value)
            if recorded.valid:
                log.info(
                    "receipt_recorded",
                    kind=entry.kind.value,
                    message_id=entry.message_id,
                    recipient=entry.recipient,
                    sink=entry.sink,
                    index=index,
                )
                await msg.ack()
            else:
                log.warning(
                    "receipt_rejected",
                    reason=entry.reason,
                    subject=msg.subject,
                    message_id=entry.message_id,
                    index=index,
                )
                # Terminated, not retried: the same bytes would fail the same way.
                await msg.term()

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.receipts.labels(outcome=outcome).inc()
