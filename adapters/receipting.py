"""Signed receipts of a sink: what it wrote (or dead-lettered), published with JetStream's ack.

A receipt is signed by the country's system key and published on ``enlace.receipt.<cc>``
with a ``Nats-Msg-Id`` naming the message, recipient, sink and status, so the receipt of
a redelivered delivery is dropped by the stream's duplicate window. The runner acks a
delivery only once its receipt is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import JetStreamContext

from adapters.delivery import Delivery
from adapters.keys import Signer
from schemas.receipts import Receipt, ReceiptStatus, sign_receipt
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, HDR_VIEW, receipt_subject

__all__ = ["ReceiptPublisher"]


@dataclass(frozen=True)
class ReceiptPublisher:
    """Signs and publishes the receipts of one country's sink.

    Attributes:
        js: JetStream (the receipt is awaited until the stream stored it).
        signer: the country's system key.
        sink_name: the sink's name in ``enlace.yaml`` (each receipt names it).
    """

    js: JetStreamContext
    signer: Signer
    sink_name: str

    async def publish(
        self,
        delivery: Delivery,
        delivery_seq: int,
        status: ReceiptStatus,
        reason: str | None = None,
    ) -> None:
        """Sign and store the receipt of ``delivery`` (DELIVERY sequence ``delivery_seq``).

        Args:
            delivery: what was written or dead-lettered.
            delivery_seq: its DELIVERY stream sequence (the hub checks the receipt by it).
            status: ``delivered`` or ``dead_lettered``.
            reason: the reason code of a dead letter.
        """
        receipt = Receipt(
            message_id=delivery.message_id,
            recipient=delivery.recipient,
            sink=self.sink_name,
            view=delivery.view,
            digest=delivery.digest,
            delivered_at=datetime.now(UTC),
            status=status,
            reason=reason,
            delivery_seq=delivery_seq,
        )
        raw, jws = sign_receipt(receipt, self.signer.key, self.signer.kid)
        headers = {
            HDR_SIGNATURE: jws,
            HDR_VIEW: delivery.view,
            HDR_MSG_ID: f"receipt:{delivery.message_id}:{delivery.recipient}:"
            f"{self.sink_name}:{status.value}",
        }
        await self.js.publish(receipt_subject(delivery.recipient), raw, headers=headers)
