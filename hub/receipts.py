"""Sink receipts on the audit record: the last step of a message's trail.

A sink adapter publishes a signed receipt on ``enlace.receipt.<cc>`` (stream RECEIPTS,
see :mod:`schemas.receipts`). The :class:`ReceiptRecorder` reads them through the durable
pull consumer ``hub-receipts`` and, for each one:

==========================================  ===============================================
receipt                                     audit entry
==========================================  ===============================================
valid, status ``delivered``                 ``delivered`` (recipient, sink, receipt digest)
valid, status ``dead_lettered``             ``dead_lettered`` (+ the sink's reason code)
unsigned, forged, altered, wrong party       ``receipt_rejected`` (reason code), never a
                                            delivery; the message is terminated, not retried
valid, but not what the hub delivered        ``receipt_rejected`` (``receipt_mismatch``)
==========================================  ===============================================

Valid means: a readable receipt, signed (``Enlace-Signature``) by a system key of the
party named by the subject's ``<cc>``, which is also the receipt's ``recipient``, with the
key valid when JetStream stored the receipt (a backlog read after a key rotation still
verifies). The directory is the one in force; :meth:`ReceiptRecorder.reload` replaces it.

A valid receipt must also answer a delivery the hub made: its ``delivery_seq`` names a
DELIVERY stream message (one direct get), whose ``Nats-Msg-Id`` must be
``<message_id>:<recipient>``, whose subject must be the recipient's (``enlace.out.<cc>.…``),
whose ``Enlace-View`` must be the receipt's view and whose body's SHA-256 must be the
receipt's digest. Otherwise it is ``receipt_rejected`` with reason ``receipt_mismatch``
(:data:`RECEIPT_MISMATCH`): a party cannot put on the record a delivery it never got, or
bytes the hub did not send. A receipt that cannot be compared is recorded as before, with
the entry's ``detail`` saying so: :data:`UNCHECKED_NO_SEQUENCE` (a receipt of an adapter
from before ``delivery_seq``) or :data:`UNCHECKED_GONE` (DELIVERY no longer holds that
message: its age or size limits removed it).

A receipt is acked only after its entry is persisted in AUDIT. Redelivery does not record
it twice: the SHA-256 of the receipt bytes (the entry's ``digest``) is kept in the
key-value bucket ``enlace_receipts`` (value: the entry's log index) after the append, and a
receipt found there is acked without a new entry. If the hub dies between the append and
that mark, the redelivered receipt is recorded a second time (an exact duplicate entry,
same digest): a duplicate is preferred to a receipt lost from the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
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
from hub.metrics import HubMetrics
from hub.streams import RECEIPTS_BUCKET, RECEIPTS_CONSUMER, ensure_kv, ensure_receipts_consumer
from schemas.countersign import sha256_digest
from schemas.directory import Directory
from schemas.errors import EnlaceError, MalformedSignature, SubjectMismatch
from schemas.receipts import Receipt, ReceiptStatus, parse_receipt, verify_receipt
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, HDR_VIEW, PREFIX

__all__ = [
    "RECEIPT_MISMATCH",
    "UNCHECKED_GONE",
    "UNCHECKED_NO_SEQUENCE",
    "ReceiptRecorder",
    "RecordedReceipt",
    "StoredDelivery",
    "checked_entry",
    "delivery_mismatch",
    "receipt_entry",
]

log = structlog.get_logger("enlace.hub.receipts")

_SUBJECT = re.compile(r"^enlace\.receipt\.([A-Z]{2})$")
_UNSPECIFIED = "unspecified"  # a dead-letter receipt whose reason is not a reason code
_NAK_DELAY = 1.0  # seconds before the audit log is tried again for a receipt
_DELIVERY_STREAM = "DELIVERY"

RECEIPT_MISMATCH = "receipt_mismatch"
"""Reason code: a signed receipt that does not answer a delivery the hub made."""
UNCHECKED_NO_SEQUENCE = "unchecked: receipt without delivery sequence"
"""``detail`` of an entry whose receipt names no DELIVERY message (an older adapter)."""
UNCHECKED_GONE = "unchecked: delivery no longer stored"
"""``detail`` of an entry whose DELIVERY message the stream's limits have removed."""


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
    match = _SUBJECT.fullmatch(subject)
    if match is None:
        raise SubjectMismatch(f"receipt on {subject!r}, not on enlace.receipt.<country code>")
    if not jws:
        raise MalformedSignature(
            f"receipt on {subject} has no {HDR_SIGNATURE} header; a sink signs every receipt"
        )
    receipt = verify_receipt(directory, raw, jws, at)
    if receipt.recipient != match.group(1):
        raise SubjectMismatch(
            f"receipt for {receipt.message_id} names recipient {receipt.recipient} but was "
            f"published on {subject}; a party sends receipts for its own deliveries only"
        )
    return receipt


def _rejected(
    subject: str, raw: bytes, digest: str, reason: str, claimed_id: str | None
) -> AuditEntry:
    match = _SUBJECT.fullmatch(subject)
    country = match.group(1) if match else None
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
        ``receipt_rejected`` with the reason code of the first failed check.
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
    where = f"receipt for {receipt.message_id} to {receipt.recipient} names DELIVERY {stored.seq}"
    expected_id = f"{receipt.message_id}:{receipt.recipient}"
    stored_id = stored.headers.get(HDR_MSG_ID)
    if stored_id != expected_id:
        return f"{where}, which is delivery {stored_id!r}, not {expected_id!r}"
    if not stored.subject.startswith(f"{PREFIX}.out.{receipt.recipient}."):
        return f"{where}, which went out on {stored.subject}, not to {receipt.recipient}"
    stored_view = stored.headers.get(HDR_VIEW)
    if stored_view != receipt.view:
        return f"{where}, sent in view {stored_view!r}, not {receipt.view!r}"
    # A dead letter's digest is also of the bytes it received (adapters.runner): the same.
    digest = sha256_digest(stored.body)
    if digest != receipt.digest:
        return f"{where}, whose bytes are {digest}, not the receipt's {receipt.digest}"
    return None


def _marked(recorded: RecordedReceipt, detail: str) -> RecordedReceipt:
    entry = AuditEntry.model_validate(recorded.entry.model_dump() | {"detail": detail})
    return RecordedReceipt(entry, recorded.receipt)


def checked_entry(
    recorded: RecordedReceipt, subject: str, raw: bytes, stored: StoredDelivery | None
) -> RecordedReceipt:
    """A verified receipt's entry once compared with the delivery it names.

    Args:
        recorded: what :func:`receipt_entry` made of the receipt.
        subject: the receipt's NATS subject.
        raw: the receipt bytes.
        stored: the DELIVERY message named by its ``delivery_seq``; None when the receipt
            names none or the stream no longer holds it.

    Returns:
        ``recorded`` unchanged when it answers ``stored`` (or did not verify in the first
        place); marked unchecked in its ``detail`` when there was nothing to compare;
        ``receipt_rejected`` with :data:`RECEIPT_MISMATCH` when the two disagree.
    """
    receipt = recorded.receipt
    if receipt is None:
        return recorded
    if receipt.delivery_seq is None:
        return _marked(recorded, UNCHECKED_NO_SEQUENCE)
    if stored is None:
        return _marked(recorded, UNCHECKED_GONE)
    problem = delivery_mismatch(receipt, stored)
    if problem is None:
        return recorded
    log.warning(
        "receipt_mismatch",
        message_id=receipt.message_id,
        recipient=receipt.recipient,
        delivery_seq=receipt.delivery_seq,
        problem=problem,
    )
    digest = recorded.entry.digest or sha256_digest(raw)
    entry = _rejected(subject, raw, digest, RECEIPT_MISMATCH, receipt.message_id)
    return RecordedReceipt(entry, None)


def _kv_key(digest: str) -> str:
    return digest.removeprefix("sha256:")


class ReceiptRecorder:
    """Reads RECEIPTS and records each receipt in the audit log before acking it.

    ``await start()`` creates the consumer and the bucket (idempotent) and starts one
    pull loop; ``await stop()`` stops fetching and finishes the batch in hand.
    """

    def __init__(
        self,
        js: JetStreamContext,
        writer: AuditWriter,
        directory: Directory,
        settings: HubSettings,
        metrics: HubMetrics | None = None,
    ) -> None:
        self.js = js
        self.writer = writer
        self.directory = directory
        self.settings = settings
        self.metrics = metrics
        self._kv: KeyValue | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def reload(self, directory: Directory) -> None:
        """Verify the next receipts against ``directory`` (the batch in hand keeps its own)."""
        self.directory = directory

    async def start(self) -> None:
        """Create the ``hub-receipts`` consumer and the ``enlace_receipts`` bucket; start."""
        await ensure_receipts_consumer(self.js, self.settings)
        self._kv = await ensure_kv(
            self.js,
            RECEIPTS_BUCKET,
            # A receipt cannot come back after RECEIPTS dropped it: keep marks as long.
            self.settings.streams.max_age.total_seconds(),
            self.settings.streams.replicas,
        )
        sub = await self.js.pull_subscribe_bind(durable=RECEIPTS_CONSUMER, stream="RECEIPTS")
        self._task = asyncio.create_task(self._run(sub), name="hub-receipts")
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
        for redelivery rather than recorded unchecked.
        """
        if seq is None:
            return None
        try:
            msg = await self.js.get_msg(_DELIVERY_STREAM, seq, direct=True)
        except NotFoundError:
            return None
        return StoredDelivery(seq, msg.subject or "", dict(msg.headers or {}), msg.data or b"")

    async def handle_batch(self, msgs: list[Msg]) -> None:
        """Record a batch of receipts in one audit append, mark them, then ack each."""
        assert self._kv is not None  # started
        directory = self.directory
        todo: list[tuple[Msg, str, RecordedReceipt]] = []
        keys: set[str] = set()
        for msg in msgs:
            at = msg.metadata.timestamp  # when JetStream stored it, not when we read it
            recorded = receipt_entry(
                directory, msg.subject, msg.data, (msg.headers or {}).get(HDR_SIGNATURE), at
            )
            key = _kv_key(recorded.entry.digest or sha256_digest(msg.data))
            if key in keys or await self._recorded_at(key) is not None:
                # A redelivery (or the same bytes published again): already on the record.
                self._count("duplicate")
                log.info("receipt_duplicate", digest=recorded.entry.digest)
                await msg.ack()
                continue
            keys.add(key)
            if recorded.receipt is not None:
                stored = await self._stored_delivery(recorded.receipt.delivery_seq)
                recorded = checked_entry(recorded, msg.subject, msg.data, stored)
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
                    detail=entry.detail,  # says when it could not be checked against DELIVERY
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
