"""RECEIPTS messages that carry many receipts: unpacked into receipts, settled as one message.

A sink publishes the receipts of a batch it wrote as one RECEIPTS message
(:class:`schemas.receipts.ReceiptBatch`, header ``Enlace-Receipt-Batch``), each receipt
signed on its own; a receipt alone comes as before (its JWS in ``Enlace-Signature``).
:func:`arrivals` makes of either the receipts it carries (:class:`Arrived`), which the
:class:`~hub.pipeline.receipts.ReceiptRecorder` checks and records one by one exactly as
receipts that came alone: one audit entry each, the same marks, ledger entries and
refusals (a forged receipt inside a batch is refused alone; the others are recorded).

A batch that cannot be unpacked — not a batch, a header that disagrees with its body,
more than :data:`~schemas.receipts.MAX_BATCH_RECEIPTS` receipts — is refused whole: one
``receipt_rejected`` entry with ``receipt_batch_invalid`` or ``receipt_batch_too_large``
and the digest of the whole message, recorded once (by its header and body), and the
message is terminated (the same bytes would fail the same way).

A message is settled once every receipt it carries is (:class:`Settlement`): nak'ed if
any of them must come again (its audit entry or its ledger entry not written), else acked
if any is on the record as a delivery, else (every one refused) terminated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from nats.aio.msg import Msg

from hub.audit import kinds
from hub.pipeline.receipt_checks import RecordedReceipt
from schemas.countersign import sha256_digest
from schemas.errors import ReceiptBatchInvalid
from schemas.receipts import unpack_receipts
from schemas.subjects import HDR_RECEIPT_BATCH, HDR_SIGNATURE, receipt_country

__all__ = [
    "RECORD_AT_ONCE",
    "Arrived",
    "Settlement",
    "arrivals",
    "batch_refused",
    "groups",
    "logged",
]

log = structlog.get_logger("enlace.hub.receipts")

NAK_DELAY = 1.0
"""Seconds before a receipt whose record is not complete comes again."""

RECORD_AT_ONCE = 256
"""About how many receipts the recorder puts on the record in one audit append before it
settles their messages (a group of messages is closed once it carries this many)."""


@dataclass(frozen=True)
class Arrived:
    """One receipt as it came: alone in its RECEIPTS message, or one of a batch.

    Attributes:
        subject: the RECEIPTS message's subject (``enlace.receipt.<cc>``).
        raw: the receipt's exact bytes.
        jws: its detached JWS (None when it came without one).
        at: when RECEIPTS stored the message (keys are checked at that time).
        refused: set when the message could not be unpacked: its whole refusal.
        key: then what it is recorded once by: the SHA-256 of its header and body (the
            same body under another header is another refusal).
    """

    subject: str
    raw: bytes
    jws: str | None
    at: datetime
    refused: RecordedReceipt | None = None
    key: str | None = None


def batch_refused(subject: str, raw: bytes, err: ReceiptBatchInvalid) -> RecordedReceipt:
    """The ``receipt_rejected`` entry of a RECEIPTS message refused whole (no message id:
    it names none reliably).

    Args:
        subject: the message's subject (its ``<cc>`` is the entry's country).
        raw: the message's body (the entry keeps its digest and size).
        err: why it cannot be unpacked (the entry's reason code).
    """
    log.warning("receipt_batch_refused", subject=subject, reason=err.code, problem=err.description)
    country = receipt_country(subject)
    entry = kinds.receipt_rejected(None, country, err.code, sha256_digest(raw), len(raw))
    return RecordedReceipt(entry, None)


def arrivals(msg: Msg) -> list[Arrived]:
    """The receipts ``msg`` carries, in order: itself when it came alone, each of a batch,
    or one already refused when it is a batch that cannot be unpacked."""
    headers = msg.headers or {}
    at = msg.metadata.timestamp
    count = headers.get(HDR_RECEIPT_BATCH)
    if count is None:
        return [Arrived(msg.subject, msg.data, headers.get(HDR_SIGNATURE), at)]
    try:
        unpacked = unpack_receipts(msg.data, count)
    except ReceiptBatchInvalid as err:
        refused = batch_refused(msg.subject, msg.data, err)
        key = hashlib.sha256(count.encode() + b"\n" + msg.data).hexdigest()
        return [Arrived(msg.subject, msg.data, None, at, refused, key)]
    return [Arrived(msg.subject, raw, jws, at) for raw, jws in unpacked]


def announced(msg: Msg) -> int:
    """How many receipts ``msg`` says it carries (1 when it says nothing readable)."""
    count = (msg.headers or {}).get(HDR_RECEIPT_BATCH, "1")
    return int(count) if count.isascii() and count.isdigit() and len(count) <= 6 else 1


def groups(msgs: Sequence[Msg], at_once: int = RECORD_AT_ONCE) -> Iterator[list[Msg]]:
    """``msgs`` in order, in groups that each carry about ``at_once`` receipts (a group is
    closed by the message that reaches it; no message is split)."""
    group: list[Msg] = []
    carried = 0
    for msg in msgs:
        group.append(msg)
        carried += announced(msg)
        if carried >= at_once:
            yield group
            group, carried = [], 0
    if group:
        yield group


def logged(recorded: RecordedReceipt, subject: str, index: int) -> None:
    """Log a receipt just put on the record (a warning when refused).

    Args:
        recorded: what it became.
        subject: the RECEIPTS message's subject.
        index: its entry's index in the audit log.
    """
    entry = recorded.entry
    if recorded.valid:
        log.info(
            "receipt_recorded",
            kind=entry.kind.value,
            message_id=entry.message_id,
            recipient=entry.recipient,
            sink=entry.sink,
            index=index,
        )
    else:
        log.warning(
            "receipt_rejected",
            reason=entry.reason,
            subject=subject,
            message_id=entry.message_id,
            index=index,
        )


@dataclass
class Settlement:
    """How one RECEIPTS message ends once each receipt it carries is settled.

    Attributes:
        msg: the message.
        again: a receipt of it must come again (not fully on the record): nak.
        kept: a receipt of it is on the record as a delivery (or was already): ack.
    """

    msg: Msg
    again: bool = False
    kept: bool = False

    async def settle(self) -> str:
        """Nak, ack or terminate the message; returns which."""
        if self.again:
            await self.msg.nak(delay=NAK_DELAY)
            return "nak"
        if self.kept:
            await self.msg.ack()
            return "ack"
        # Every receipt it carries refused: the same bytes would fail the same way.
        await self.msg.term()
        return "term"
