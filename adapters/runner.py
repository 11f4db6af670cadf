"""The sink runner: one durable pull consumer per country and sink, from DELIVERY to a sink.

For each delivery on ``enlace.out.<cc>.>``, in stream order, one at a time:

1. parse and verify it (sender's signature for the full view, the hub's countersignature
   for a redacted one) — a delivery that fails is **never written**;
2. write it through the sink, which is idempotent on the message id;
3. retry transient failures in place with exponential backoff and full jitter (in place
   keeps the order; the ack deadline is extended while waiting);
4. send permanent failures, tampered deliveries and deliveries over the retry limit to
   ``enlace.deadletter.<cc>`` (stream DEADLETTER_<cc>) with ``Enlace-Reason``;
5. publish a receipt signed by the country's system key on ``enlace.receipt.<cc>``
   (``delivered``, or ``dead_lettered`` with the reason), awaiting JetStream's ack;
6. only then ack the delivery. A crash anywhere before leads to a redelivery, which the
   sink's idempotency and the receipt's ``Nats-Msg-Id`` turn into a no-op.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from adapters.base import DeliveryResult, Sink
from adapters.config import RetrySettings
from adapters.delivery import Delivery, parse_delivery, verify_delivery
from adapters.errors import (
    DeliveryError,
    PermanentSinkError,
    RetriesExhausted,
    StreamsMissing,
    TamperedDelivery,
    TransientSinkError,
    reason_of,
)
from adapters.keys import Signer
from schemas.countersign import sha256_digest
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.errors import EnlaceError
from schemas.receipts import Receipt, ReceiptStatus, sign_receipt
from schemas.subjects import (
    HDR_MSG_ID,
    HDR_REASON,
    HDR_SIGNATURE,
    HDR_VIEW,
    deadletter_stream,
    deadletter_subject,
    delivery_filter,
    header_line,
    receipt_subject,
    sink_consumer,
)

__all__ = [
    "HDR_DELIVERY_SEQ",
    "HDR_ORIGINAL_SUBJECT",
    "HDR_PUBLISHED_AT",
    "HDR_REASON_DETAIL",
    "HDR_SINK",
    "RUNNER_STREAMS",
    "Processed",
    "RunnerSettings",
    "SinkRunner",
    "backoff_delay",
    "consumer_name",
    "reason_of",
]

log = structlog.get_logger("enlace.adapters.runner")

HDR_REASON_DETAIL = "Enlace-Reason-Detail"  # one line for people; the code is Enlace-Reason
HDR_SINK = "Enlace-Sink"
HDR_ORIGINAL_SUBJECT = "Enlace-Original-Subject"
HDR_PUBLISHED_AT = "Enlace-Published-At"  # when the hub published the delivery (key validity)
# The DELIVERY stream sequence a dead letter was read from: the receipt of its replay names
# it, so the hub can check that receipt against what it delivered (hub.pipeline.receipts).
HDR_DELIVERY_SEQ = "Enlace-Delivery-Seq"

RUNNER_STREAMS = ("DELIVERY", "RECEIPTS")
"""The shared streams a runner reads from and writes to; the hub creates them
(``hub.jetstream.streams``), with the country's own dead-letter stream
(``schemas.subjects.deadletter_stream``)."""

# A login without delete rights on DEADLETTER_<cc> (an older deployment's) makes a replay
# leave the copy rather than fail.
_DELETE_REFUSED = (NotFoundError, TimeoutError, nats.errors.Error)

Keepalive = Callable[[], Awaitable[None]]


def consumer_name(country: str, sink_name: str) -> str:
    """The durable consumer of ``sink_name`` for ``country`` (one per sink, all get all)."""
    return sink_consumer(country, sink_name)


def backoff_delay(attempt: int, retry: RetrySettings, rng: random.Random) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): full jitter over an exponential cap.

    Full jitter (uniform in [0, min(max, base·2^(attempt-1))]) spreads out the retries of
    many runners hitting one recovering system.

    Args:
        attempt: the attempt that failed, from 1.
        retry: the base and the cap of the back-off.
        rng: the jitter source (seeded in tests).
    """
    cap = min(retry.backoff_max, retry.backoff_base * 2 ** (attempt - 1))
    return rng.uniform(0, cap)


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


class Processed(StrEnum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class RunnerSettings:
    """How one runner consumes; ``ack_wait`` must exceed the longest backoff."""

    country: str
    sink_name: str
    retry: RetrySettings = field(default_factory=RetrySettings)
    fetch_batch: int = 32
    fetch_timeout: float = 1.0
    ack_wait: float = 120.0
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class _Failure:
    error: EnlaceError
    delivery: Delivery | None


class SinkRunner:
    """Drives one sink from the country's deliveries.

    Args:
        js: a JetStream context.
        sink: the sink (opened by :meth:`start`).
        directory: returns the directory currently accepted (it may be reloaded).
        signer: the country's system key, for receipts.
        settings: consumer and retry settings.
        rng: jitter source (seeded in tests).
        sleep: how to wait between retries (a test may make it instant).
    """

    def __init__(
        self,
        js: JetStreamContext,
        sink: Sink,
        directory: Callable[[], Directory],
        signer: Signer,
        settings: RunnerSettings,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.js = js
        self.sink = sink
        self.directory = directory
        self.signer = signer
        self.settings = settings
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not a secret
        self._sleep = sleep
        self._sub: JetStreamContext.PullSubscription | None = None
        self._log = log.bind(country=settings.country, sink=settings.sink_name)

    @property
    def consumer(self) -> str:
        """This sink's durable consumer on DELIVERY (the hub makes it)."""
        return consumer_name(self.settings.country, self.settings.sink_name)

    @property
    def deadletter_stream(self) -> str:
        """This country's dead-letter stream."""
        return deadletter_stream(self.settings.country)

    @property
    def filter_subject(self) -> str:
        """Every delivery to this country (its consumer's filter)."""
        return delivery_filter(self.settings.country)

    async def start(self) -> None:
        """Open the sink and bind to its durable consumer, which the hub made.

        A country's login may not create consumers (a create of an existing one would
        update it, so whoever may create may re-point another's): the hub makes every
        sink's consumer from ``enlace.yaml``'s ``adapters:`` section.

        Raises:
            StreamsMissing: the hub has not made DELIVERY, this sink's consumer or this
                country's dead-letter stream on this NATS.
        """
        await self.sink.open()
        try:
            # The country's login may read the info of its own sinks' consumers only.
            await self.js.consumer_info("DELIVERY", self.consumer)
        except NotFoundError:
            raise StreamsMissing(
                f"the hub has made no consumer {self.consumer} on stream DELIVERY of this "
                f"NATS server: add sink {self.settings.sink_name!r} of "
                f"{self.settings.country} to the `adapters:` section of the hub's enlace.yaml "
                "and run `enlace reload` (or start the hub: `enlace up`), or point "
                "--nats-url at the hub's server"
            ) from None
        self._sub = await self.js.pull_subscribe_bind(durable=self.consumer, stream="DELIVERY")
        try:
            # The country's login may read the info of its own dead-letter stream only.
            await self.js.stream_info(self.deadletter_stream)
        except NotFoundError:
            raise StreamsMissing(
                f"stream {self.deadletter_stream} does not exist on this NATS server; the hub "
                f"creates it for every party of its directory: check that "
                f"{self.settings.country} is in the directory and restart the hub (`enlace up`)"
            ) from None

    async def stop(self) -> None:
        """Unbind from the consumer and close the sink."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        await self.sink.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set."""
        while not stop.is_set():
            await self.run_once()

    async def run_once(self) -> int:
        """Fetch one batch and process it in order; returns how many were handled."""
        if self._sub is None:
            raise RuntimeError("SinkRunner.start() was not called")
        try:
            msgs = await self._sub.fetch(
                self.settings.fetch_batch, timeout=self.settings.fetch_timeout
            )
        except TimeoutError:  # nats-py raises asyncio's (= builtin) or its subclass
            return 0
        for index, msg in enumerate(msgs):
            try:
                await self.handle(msg)
            except Exception:
                # NATS trouble (receipt or dead letter not stored): leave this and the rest
                # unacked so they come back in order after a pause.
                self._log.exception("delivery_failed_will_retry", subject=msg.subject)
                for later in msgs[index:]:
                    await later.nak(delay=self.settings.retry.backoff_base)
                await self._sleep(self.settings.retry.backoff_base)
                break
        return len(msgs)

    async def drain(self) -> int:
        """Process until nothing is pending (for tests and one-shot catch-up)."""
        total = 0
        while True:
            handled = await self.run_once()
            total += handled
            if handled == 0:
                return total

    async def handle(self, msg: Msg) -> Processed:
        """Verify, deliver, receipt, then ack one DELIVERY message."""
        meta = msg.metadata
        headers = dict(msg.headers or {})
        outcome = await self.process(
            msg.subject, headers, msg.data, meta.timestamp, msg.in_progress
        )
        seq = meta.sequence.stream  # the receipt names it: the hub checks it against DELIVERY
        if isinstance(outcome, _Failure):
            await self._dead_letter(msg.subject, headers, msg.data, meta.timestamp, outcome, seq)
            await self._refusal_receipt(outcome, seq)
            await msg.ack_sync()
            return Processed.DEAD_LETTERED
        delivery, result = outcome
        await self._receipt(delivery, seq, ReceiptStatus.DELIVERED)
        await msg.ack_sync()
        return Processed.DUPLICATE if result.duplicate else Processed.DELIVERED

    async def process(
        self,
        subject: str,
        headers: dict[str, str],
        body: bytes,
        published_at: datetime,
        keepalive: Keepalive,
    ) -> tuple[Delivery, DeliveryResult] | _Failure:
        """Parse, verify and write one delivery; a failure comes back, not raised.

        Args:
            subject: the delivery's subject (``enlace.out.<cc>.<theme>.<type>``).
            headers: its headers (signatures, view, agreement).
            body: its bytes.
            published_at: when the hub published it (keys are checked at that time).
            keepalive: pushes the ack deadline out while retrying.

        Returns:
            The delivery and what the sink said, or the failure to dead-letter.
        """
        delivery: Delivery | None = None
        try:
            delivery = parse_delivery(subject, headers, body, self.settings.country, published_at)
            verify_delivery(delivery, self.directory(), published_at, self.settings.max_bytes)
            if await self.sink.already_delivered(delivery.message_id):
                result = DeliveryResult("(already delivered)", duplicate=True)
            else:
                result = await self._deliver_with_retries(delivery, keepalive)
        except (DeliveryError, PermanentSinkError, RetriesExhausted) as err:
            level = "warning" if isinstance(err, TamperedDelivery) else "error"
            getattr(self._log, level)(
                "dead_letter",
                message_id=delivery.message_id if delivery else None,
                subject=subject,
                reason=reason_of(err),
                detail=err.description,
            )
            return _Failure(err, delivery)
        except TransientSinkError as err:
            # already_delivered() could not be answered: treat like a failed attempt.
            return _Failure(
                RetriesExhausted(f"{err.description}; the sink could not be asked"), delivery
            )
        self._log.info(
            "delivered" if not result.duplicate else "duplicate",
            message_id=delivery.message_id,
            view=delivery.view,
            location=result.location,
        )
        return delivery, result

    async def _deliver_with_retries(
        self, delivery: Delivery, keepalive: Keepalive
    ) -> DeliveryResult:
        retry = self.settings.retry
        last: TransientSinkError | None = None
        for attempt in range(1, retry.max_attempts + 1):
            try:
                return await self.sink.deliver(delivery)
            except TransientSinkError as err:
                last = err
                if attempt == retry.max_attempts:
                    break
                delay = backoff_delay(attempt, retry, self._rng)
                self._log.warning(
                    "transient_failure",
                    message_id=delivery.message_id,
                    attempt=attempt,
                    retry_in=round(delay, 3),
                    detail=err.description,
                )
                await keepalive()  # push the ack deadline out while we wait
                await self._sleep(delay)
        assert last is not None  # the loop ran at least once and only breaks on failure
        raise RetriesExhausted(
            f"delivery {delivery.message_id} failed {retry.max_attempts} times; "
            f"last: {last.description}"
        )

    async def _dead_letter(
        self,
        subject: str,
        headers: dict[str, str],
        body: bytes,
        published_at: datetime,
        failure: _Failure,
        delivery_seq: int,
    ) -> None:
        err = failure.error
        # One dead letter per (delivery, sink) even if we crash before acking.
        dedup = f"dl:{headers.get(HDR_MSG_ID) or sha256_digest(body)}:{self.settings.sink_name}"
        dl_headers = {
            **headers,
            HDR_MSG_ID: dedup,
            HDR_REASON: reason_of(err),
            HDR_REASON_DETAIL: header_line(err.description, 500),
            HDR_SINK: self.settings.sink_name,
            HDR_ORIGINAL_SUBJECT: subject,
            HDR_PUBLISHED_AT: published_at.astimezone(UTC).isoformat(),
            HDR_DELIVERY_SEQ: str(delivery_seq),
        }
        await self.js.publish(deadletter_subject(self.settings.country), body, headers=dl_headers)

    async def _refusal_receipt(self, failure: _Failure, delivery_seq: int) -> None:
        if failure.delivery is not None:
            await self._receipt(
                failure.delivery,
                delivery_seq,
                ReceiptStatus.DEAD_LETTERED,
                reason_of(failure.error),
            )

    async def _receipt(
        self,
        delivery: Delivery,
        delivery_seq: int,
        status: ReceiptStatus,
        reason: str | None = None,
    ) -> None:
        receipt = Receipt(
            message_id=delivery.message_id,
            recipient=delivery.recipient,
            sink=self.settings.sink_name,
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
            f"{self.settings.sink_name}:{status.value}",
        }
        await self.js.publish(receipt_subject(delivery.recipient), raw, headers=headers)

    # -- operations ----------------------------------------------------------------------------

    async def replay_dead_letters(self) -> list[tuple[int, Processed | str]]:
        """Try every dead letter of this country and sink again.

        A dead letter that now goes through is delivered (with a receipt) and removed from
        the country's dead-letter stream; one that fails again stays, unchanged. Returns
        (stream seq, outcome or the reason it failed again) per dead letter.
        """
        if self._sub is None:
            await self.sink.open()
        report: list[tuple[int, Processed | str]] = []
        # Read by sequence, not through a consumer: a country may not create consumers
        # (see start()), and may get messages from its own dead-letter stream only.
        info = await self.js.stream_info(self.deadletter_stream)
        for seq in (
            range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ()
        ):
            try:
                letter = await self.js.get_msg(self.deadletter_stream, seq)
            except NotFoundError:
                continue  # removed: an earlier replay delivered it
            entry = await self._replay_one(letter)
            if entry is not None:
                report.append(entry)
        return report

    async def _replay_one(self, msg: RawStreamMsg) -> tuple[int, Processed | str] | None:
        headers = dict(msg.headers or {})
        if headers.get(HDR_SINK) != self.settings.sink_name or msg.seq is None:
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
        outcome = await self.process(
            original, headers, msg.data or b"", published_at, _no_ack_deadline
        )
        if isinstance(outcome, _Failure):
            return seq, reason_of(outcome.error)
        delivery, result = outcome
        if delivery_seq is not None:
            await self._receipt(delivery, delivery_seq, ReceiptStatus.DELIVERED)
        else:
            # Written all the same (the national system gets what it was sent), but a
            # receipt naming no DELIVERY message is refused by the hub (receipt_unchecked)
            # and would read on the record like a forgery: the trail keeps its dead_lettered.
            self._log.warning(
                "replayed_without_receipt",
                message_id=delivery.message_id,
                dead_letter_seq=seq,
                detail=f"dead letter from before {HDR_DELIVERY_SEQ}: the hub cannot check a "
                "receipt for it, so none is sent",
            )
        try:
            await self.js.delete_msg(self.deadletter_stream, seq)
        except _DELETE_REFUSED as err:
            # Delivered all the same; the copy stays until someone allowed removes it.
            self._log.warning("dead_letter_kept", seq=seq, error=type(err).__name__)
        return seq, Processed.DUPLICATE if result.duplicate else Processed.DELIVERED
