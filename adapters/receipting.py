"""Signed receipts of a sink: what it wrote (or dead-lettered), published with JetStream's ack.

A receipt is signed by the country's system key and published on ``enlace.receipt.<cc>``.
The receipts of a fetched batch go out as **one** RECEIPTS message
(:meth:`ReceiptPublisher.publish_all`: one persisted write, not one per delivery), each
receipt still signed on its own (:class:`schemas.receipts.ReceiptBatch`); a receipt alone
goes out as before (:meth:`ReceiptPublisher.publish`). Either carries a ``Nats-Msg-Id``
made of what its receipts say (message, recipient, sink, status), so receipts signed again
for a redelivered batch are dropped by the stream's duplicate window. The runner acks a
delivery only once its receipt is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import JetStreamContext

from adapters.delivery import Delivery
from adapters.keys import Signer
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.receipts import (
    Receipt,
    ReceiptStatus,
    batch_msg_id,
    pack_receipts,
    receipt_msg_id,
    receipt_parts,
    sign_receipt,
)
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_RECEIPT_BATCH,
    HDR_SIGNATURE,
    HDR_VIEW,
    receipt_subject,
)

__all__ = ["ReceiptPublisher", "ToReceipt"]


@dataclass(frozen=True)
class ToReceipt:
    """What one receipt says before it is signed.

    Attributes:
        delivery: what was written or dead-lettered.
        delivery_seq: its DELIVERY stream sequence (the hub checks the receipt by it).
        status: ``delivered`` or ``dead_lettered``.
        reason: the reason code of a dead letter.
    """

    delivery: Delivery
    delivery_seq: int
    status: ReceiptStatus
    reason: str | None = None


@dataclass(frozen=True)
class _Signed:
    receipt: Receipt
    raw: bytes
    jws: str


@dataclass(frozen=True)
class ReceiptPublisher:
    """Signs and publishes the receipts of one country's sink.

    Attributes:
        js: JetStream (each publish is awaited until the stream stored it).
        signer: the country's system key.
        sink_name: the sink's name in ``enlace.yaml`` (each receipt names it).
        max_bytes: the deployment's ``hub.max_message_bytes``: no RECEIPTS message is
            larger (a batch goes in as many messages as it takes).
    """

    js: JetStreamContext
    signer: Signer
    sink_name: str
    max_bytes: int = DEFAULT_MAX_BYTES

    def _sign(self, what: ToReceipt) -> _Signed:
        delivery = what.delivery
        receipt = Receipt(
            message_id=delivery.message_id,
            recipient=delivery.recipient,
            sink=self.sink_name,
            view=delivery.view,
            digest=delivery.digest,
            delivered_at=datetime.now(UTC),
            status=what.status,
            reason=what.reason,
            delivery_seq=what.delivery_seq,
        )
        raw, jws = sign_receipt(receipt, self.signer.key, self.signer.kid)
        return _Signed(receipt, raw, jws)

    async def publish(
        self,
        delivery: Delivery,
        delivery_seq: int,
        status: ReceiptStatus,
        reason: str | None = None,
    ) -> None:
        """Sign and store the receipt of ``delivery`` (DELIVERY sequence ``delivery_seq``),
        alone in its RECEIPTS message.

        Args:
            delivery: what was written or dead-lettered.
            delivery_seq: its DELIVERY stream sequence (the hub checks the receipt by it).
            status: ``delivered`` or ``dead_lettered``.
            reason: the reason code of a dead letter.
        """
        await self._publish_one(self._sign(ToReceipt(delivery, delivery_seq, status, reason)))

    async def _publish_one(self, signed: _Signed) -> None:
        headers = {
            HDR_SIGNATURE: signed.jws,
            HDR_VIEW: signed.receipt.view,
            HDR_MSG_ID: receipt_msg_id(signed.receipt),
        }
        subject = receipt_subject(signed.receipt.recipient)
        await self.js.publish(subject, signed.raw, headers=headers)

    async def publish_all(self, receipts: Sequence[ToReceipt]) -> None:
        """Sign and store the receipts of a batch: one RECEIPTS message for all of them,
        or as many as it takes to keep each within :data:`~schemas.receipts.MAX_BATCH_RECEIPTS`
        receipts and :attr:`max_bytes` (:func:`~schemas.receipts.receipt_parts`); a
        receipt alone goes as a plain receipt. Returns once JetStream has stored every one.

        Args:
            receipts: what each receipt says, in stream order, all for this sink's country.
        """
        signed = [self._sign(what) for what in receipts]
        for cut in receipt_parts([(s.raw, s.jws) for s in signed], self.max_bytes):
            part = signed[cut]
            if len(part) == 1:
                await self._publish_one(part[0])
                continue
            headers = {
                HDR_RECEIPT_BATCH: str(len(part)),
                HDR_MSG_ID: batch_msg_id([s.receipt for s in part]),
            }
            body = pack_receipts([(s.raw, s.jws) for s in part])
            await self.js.publish(receipt_subject(part[0].receipt.recipient), body, headers=headers)
