"""The originator's delivery ledger, written as receipts are recorded.

Each receipt the hub records as ``delivered`` or ``dead_lettered`` is also told to the
message's sender: one :class:`~schemas.ledger.LedgerReceipt` on
:func:`~schemas.subjects.ledger_subject` in the sender's ``OUTCOMES_<cc>`` (the last one
per recipient sink, so writing it again changes nothing a reader sees; no ``Nats-Msg-Id``:
a write lost with its stream's copy must be made again, not deduplicated). The receipt
recorder writes it after the audit entry and before the receipt's ack; a receipt whose
entry is already on the record has its ledger entry written again (it may have been lost
with the hub between the two), so a sender's ledger misses no receipt the record holds.
The sender is read from the DELIVERY message the receipt answers (its envelope's
``sender.country``): the receipt itself does not name it.
"""

from __future__ import annotations

import json
from datetime import datetime

import nats.errors
import structlog
from nats.js import JetStreamContext

from schemas.ledger import LedgerReceipt
from schemas.receipts import Receipt
from schemas.subjects import ledger_subject

__all__ = ["LedgerWriter", "sender_of"]

log = structlog.get_logger("enlace.hub.ledger")


def sender_of(delivery_body: bytes) -> str | None:
    """The sender's country of a delivered message (full or redacted view), if readable."""
    try:
        doc = json.loads(delivery_body)
        country = doc["sender"]["country"]
    except (ValueError, KeyError, TypeError):
        return None
    return country if isinstance(country, str) else None


class LedgerWriter:
    """Writes ledger entries into the senders' outcome streams.

    Args:
        js: the hub's JetStream context (its login may publish every outcome subject).
    """

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def write(
        self, sender: str, receipt: Receipt, recorded_at: datetime, receipt_digest: str
    ) -> None:
        """Tell ``sender`` what ``receipt`` says; returns once JetStream has it on disk.

        Args:
            sender: the country that sent the message.
            receipt: a receipt that verified and passed the checks.
            recorded_at: when RECEIPTS stored the receipt.
            receipt_digest: ``sha256:<hex>`` of the signed receipt (its audit entry's).

        Raises:
            ValueError: ``sender`` or the receipt's sink cannot be a subject token.
            nats errors: JetStream did not acknowledge it.
        """
        entry = LedgerReceipt.model_validate(
            {
                "message_id": receipt.message_id,
                "recipient": receipt.recipient,
                "sink": receipt.sink,
                "view": receipt.view,
                "status": receipt.status.value,
                "reason": receipt.reason or "",
                "receipted_at": receipt.delivered_at,
                "recorded_at": recorded_at,
                "receipt_digest": receipt_digest,
            }
        )
        subject = ledger_subject(sender, receipt.message_id, receipt.recipient, receipt.sink)
        await self.js.publish(subject, entry.to_json())

    async def tell(
        self,
        receipt: Receipt | None,
        delivery_body: bytes | None,
        recorded_at: datetime,
        receipt_digest: str,
    ) -> bool:
        """Write ``receipt``'s ledger entry for the sender of ``delivery_body``.

        Nothing to write (a refused receipt, an unreadable delivery) is done; so is a
        receipt that can never name a subject (logged ``ledger_impossible``: retrying would
        hold it forever, and it is on the record anyway). False when JetStream did not take
        it: the receipt comes again.

        Args:
            receipt: the receipt as checked (None: refused, nothing to tell).
            delivery_body: the DELIVERY message it answers (its sender is read from it).
            recorded_at: when RECEIPTS stored the receipt.
            receipt_digest: ``sha256:<hex>`` of the signed receipt.
        """
        sender = None if receipt is None or delivery_body is None else sender_of(delivery_body)
        if receipt is None or sender is None:
            return True
        try:
            await self.write(sender, receipt, recorded_at, receipt_digest)
        except ValueError as err:
            log.error("ledger_impossible", message_id=receipt.message_id, error=type(err).__name__)
        except (nats.errors.Error, TimeoutError) as err:
            log.warning(
                "ledger_not_written", message_id=receipt.message_id, error=type(err).__name__
            )
            return False
        return True
