"""Whether a sink's receipt goes on the record: the checks, free of I/O, and the entry it makes.

A sink adapter publishes a signed receipt on ``enlace.receipt.<cc>`` (stream RECEIPTS,
see :mod:`schemas.receipts`); :class:`hub.pipeline.receipts.ReceiptRecorder` reads it and
makes of it, with the functions here, one audit entry:

==========================================  ===============================================
receipt                                     audit entry
==========================================  ===============================================
valid, status ``delivered``                 ``delivered`` (recipient, sink, receipt digest)
valid, status ``dead_lettered``             ``dead_lettered`` (+ the sink's reason code)
unsigned, forged, altered, wrong party      ``receipt_rejected`` (reason code), never a
                                            delivery; the message is terminated, not retried
signed, but refused (below)                 ``receipt_rejected`` (``receipt_*`` code)
==========================================  ===============================================

Signed means (:func:`receipt_entry`): a readable receipt, signed (``Enlace-Signature``) by a
system key of the party named by the subject's ``<cc>``, which is also the receipt's
``recipient``, with the key valid when JetStream stored the receipt (a backlog read after a
key rotation still verifies), against the directory in force.

A signed receipt is then refused (:class:`~hub.errors.ReceiptRefused`, whose code the
``receipt_rejected`` entry carries) unless all of these hold, checked in this order
(:func:`check_receipt`, :func:`conflict`):

``receipt_unknown_sink``
    its ``sink`` is one configured for its recipient (``enlace.yaml``'s ``adapters:``,
    the :data:`SinkRegister` the recorder is given and reloads);
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
a sink nobody configured, or an outcome that contradicts its own. Each receipt is
recorded once by :func:`record_key`: a checked one by its delivery, sink and status
(:func:`delivery_key`), a refused one by the SHA-256 of its bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from hub.audit import AuditEntry, kinds
from hub.audit.errors import AuditEntryInvalid
from hub.errors import (
    ReceiptConflict,
    ReceiptMismatch,
    ReceiptRefused,
    ReceiptUnchecked,
    ReceiptUnknownSink,
)
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
    "record_key",
]

log = structlog.get_logger("enlace.hub.receipts")

_UNSPECIFIED = "unspecified"  # a dead-letter receipt whose reason is not a reason code

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
        """Whether the receipt verified and passed the checks (not ``receipt_rejected``)."""
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
        return kinds.receipt_rejected(claimed_id, country, reason, digest, len(raw))
    except AuditEntryInvalid:
        # The claimed id is not an id the log admits (a forger chose it): leave it out.
        return kinds.receipt_rejected(None, country, reason, digest, len(raw))


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
                entry = kinds.dead_lettered(
                    receipt.message_id, receipt.recipient, digest, receipt.sink, reason
                )
            except AuditEntryInvalid:
                entry = kinds.dead_lettered(
                    receipt.message_id, receipt.recipient, digest, receipt.sink, _UNSPECIFIED
                )
        else:
            entry = kinds.delivered(receipt.message_id, receipt.recipient, digest, receipt.sink)
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


def record_key(recorded: RecordedReceipt, raw: bytes) -> str:
    """A recorded receipt by its delivery; a refused one by its bytes (each forgery once)."""
    if recorded.receipt is not None:
        return delivery_key(recorded.receipt)
    return (recorded.entry.digest or sha256_digest(raw)).removeprefix("sha256:")
