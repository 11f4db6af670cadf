"""Dead letters of a sink: what it could not write, kept on ``DEADLETTER_<cc>``, and replayed.

A delivery that is tampered with, that the sink refuses for good, or that failed more
often than the retry limit allows is published on ``enlace.deadletter.<cc>`` with its
original headers and why (``Enlace-Reason``, ``Enlace-Reason-Detail``), the sink, the
original subject, when the hub published it and its DELIVERY sequence. A replay
(``enlace adapter replay-dead-letters``) runs each of the sink's letters through the
runner's steps again: one that goes through is delivered, receipted and removed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from adapters.errors import reason_of
from adapters.receipting import ReceiptPublisher
from adapters.retries import Keepalive
from adapters.steps import Failure, Processed, Written
from schemas.countersign import sha256_digest
from schemas.errors import EnlaceError
from schemas.receipts import ReceiptStatus
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_REASON,
    deadletter_stream,
    deadletter_subject,
    header_line,
)

__all__ = [
    "HDR_DELIVERY_SEQ",
    "HDR_ORIGINAL_SUBJECT",
    "HDR_PUBLISHED_AT",
    "HDR_REASON_DETAIL",
    "HDR_SINK",
    "DeadLetters",
    "Process",
]

HDR_REASON_DETAIL = "Enlace-Reason-Detail"  # one line for people; the code is Enlace-Reason
HDR_SINK = "Enlace-Sink"
HDR_ORIGINAL_SUBJECT = "Enlace-Original-Subject"
HDR_PUBLISHED_AT = "Enlace-Published-At"  # when the hub published the delivery (key validity)
# The DELIVERY stream sequence a dead letter was read from: the receipt of its replay names
# it, so the hub can check that receipt against what it delivered (hub.pipeline.receipts).
HDR_DELIVERY_SEQ = "Enlace-Delivery-Seq"

# A login without delete rights on DEADLETTER_<cc> (an older deployment's) makes a replay
# leave the copy rather than fail.
_DELETE_REFUSED = (NotFoundError, TimeoutError, nats.errors.Error)

Process = Callable[[str, dict[str, str], bytes, datetime, Keepalive], Awaitable[Written | Failure]]
"""The runner's steps for one delivery (:meth:`adapters.steps.DeliverySteps.process`)."""


def _delivery_seq(header: str | None) -> int | None:
    """A dead letter's DELIVERY sequence; None for letters from before the header (their
    replay is delivered without a receipt: the hub would refuse it, receipt_unchecked)."""
    try:
        seq = int(header or "")
    except ValueError:
        return None
    return seq if seq >= 1 else None


async def _no_ack_deadline() -> None:
    """A dead letter read by sequence has no ack deadline to extend while retrying."""


@dataclass(frozen=True)
class DeadLetters:
    """The dead letters of one country's sink.

    Attributes:
        js: JetStream (letters are published with its ack).
        country: the recipient country (its stream ``DEADLETTER_<cc>``).
        sink_name: the sink's name; a replay takes only its own letters.
    """

    js: JetStreamContext
    country: str
    sink_name: str

    @property
    def stream(self) -> str:
        """This country's dead-letter stream."""
        return deadletter_stream(self.country)

    async def send(
        self,
        subject: str,
        headers: dict[str, str],
        body: bytes,
        published_at: datetime,
        error: EnlaceError,
        delivery_seq: int,
    ) -> None:
        """Keep a delivery the sink could not take, with why.

        Args:
            subject: the delivery's subject.
            headers: its headers as received.
            body: its bytes.
            published_at: when the hub published it.
            error: why it is a dead letter (its code becomes ``Enlace-Reason``).
            delivery_seq: its DELIVERY stream sequence.
        """
        # One dead letter per (delivery, sink) even if we crash before acking.
        dedup = f"dl:{headers.get(HDR_MSG_ID) or sha256_digest(body)}:{self.sink_name}"
        dl_headers = {
            **headers,
            HDR_MSG_ID: dedup,
            HDR_REASON: reason_of(error),
            HDR_REASON_DETAIL: header_line(error.description, 500),
            HDR_SINK: self.sink_name,
            HDR_ORIGINAL_SUBJECT: subject,
            HDR_PUBLISHED_AT: published_at.astimezone(UTC).isoformat(),
            HDR_DELIVERY_SEQ: str(delivery_seq),
        }
        await self.js.publish(deadletter_subject(self.country), body, headers=dl_headers)

    async def replay(
        self, process: Process, receipts: ReceiptPublisher
    ) -> list[tuple[int, Processed | str]]:
        """Try every dead letter of this sink again.

        A dead letter that now goes through is delivered (with a receipt) and removed from
        the country's dead-letter stream; one that fails again stays, unchanged.

        Args:
            process: the runner's steps for one delivery.
            receipts: where the receipt of a letter that goes through is published.

        Returns:
            (stream seq, outcome or the reason it failed again) per dead letter.
        """
        report: list[tuple[int, Processed | str]] = []
        # Read by sequence, not through a consumer: a country may not create consumers,
        # and may get messages from its own dead-letter stream only.
        info = await self.js.stream_info(self.stream)
        for seq in (
            range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ()
        ):
            try:
                letter = await self.js.get_msg(self.stream, seq)
            except NotFoundError:
                continue  # removed: an earlier replay delivered it
            entry = await self._replay_one(letter, process, receipts)
            if entry is not None:
                report.append(entry)
        return report

    async def _replay_one(
        self, msg: RawStreamMsg, process: Process, receipts: ReceiptPublisher
    ) -> tuple[int, Processed | str] | None:
        headers = dict(msg.headers or {})
        if headers.get(HDR_SINK) != self.sink_name or msg.seq is None:
            return None
        seq = msg.seq
        original = headers.get(HDR_ORIGINAL_SUBJECT, "")
        try:
            published_at = datetime.fromisoformat(headers[HDR_PUBLISHED_AT])
        except (KeyError, ValueError):
            published_at = msg.time or datetime.now(UTC)
        for name in (HDR_REASON, HDR_REASON_DETAIL, HDR_SINK, HDR_ORIGINAL_SUBJECT):
            headers.pop(name, None)
        headers.pop(HDR_PUBLISHED_AT, None)
        delivery_seq = _delivery_seq(headers.pop(HDR_DELIVERY_SEQ, None))
        if headers.get(HDR_MSG_ID, "").startswith("dl:"):
            headers[HDR_MSG_ID] = headers[HDR_MSG_ID].split(":", 2)[1]
        outcome = await process(original, headers, msg.data or b"", published_at, _no_ack_deadline)
        if isinstance(outcome, Failure):
            return seq, reason_of(outcome.error)
        delivery, result = outcome
        log = structlog.get_logger("enlace.adapters.runner").bind(
            country=self.country, sink=self.sink_name
        )
        if delivery_seq is not None:
            await receipts.publish(delivery, delivery_seq, ReceiptStatus.DELIVERED)
        else:
            # Written all the same (the national system gets what it was sent), but a
            # receipt naming no DELIVERY message is refused by the hub (receipt_unchecked)
            # and would read on the record like a forgery: the trail keeps its dead_lettered.
            log.warning(
                "replayed_without_receipt",
                message_id=delivery.message_id,
                dead_letter_seq=seq,
                detail=f"dead letter from before {HDR_DELIVERY_SEQ}: the hub cannot check a "
                "receipt for it, so none is sent",
            )
        try:
            await self.js.delete_msg(self.stream, seq)
        except _DELETE_REFUSED as err:
            # Delivered all the same; the copy stays until someone allowed removes it.
            log.warning("dead_letter_kept", seq=seq, error=type(err).__name__)
        return seq, Processed.DUPLICATE if result.duplicate else Processed.DELIVERED
