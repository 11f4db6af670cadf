"""The steps of a sink runner: parse, verify, write (in batches where the sink can; retries).

A delivery that fails to parse or verify is **never written**; a write that fails for
good, or more often than the retry limit allows, comes back as a :class:`Failure` for the
caller to dead-letter. Nothing here touches NATS: receipts (:mod:`adapters.receipting`),
dead letters (:mod:`adapters.deadletters`) and acks are the loop's (:mod:`adapters.runner`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import structlog

from adapters.base import BatchSink, DeliveryResult, Sink
from adapters.config import RetrySettings
from adapters.delivery import Delivery, parse_delivery, verify_delivery
from adapters.errors import (
    DeliveryError,
    PermanentSinkError,
    RetriesExhausted,
    TamperedDelivery,
    TransientSinkError,
    reason_of,
)
from adapters.retries import Keepalive, Sleep, deliver_with_retries
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.errors import EnlaceError

__all__ = ["DeliverySteps", "Failure", "Processed", "RunnerSettings", "Written"]


class Processed(StrEnum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class RunnerSettings:
    """How one runner consumes.

    ``fetch_batch`` is the most deliveries written as one batch (the hub's consumer lets a
    sink hold at most ``SINK_MAX_ACK_PENDING``, 128). ``ack_wait`` is the consumer's, as the
    hub set it (``SINK_ACK_WAIT``); the runner reads the real one at start, pushes the
    deadline of the batch in hand out every third of it and waits up to half of it for
    the server to answer the batch's acks.
    """

    country: str
    sink_name: str
    retry: RetrySettings = field(default_factory=RetrySettings)
    fetch_batch: int = 64
    fetch_timeout: float = 1.0
    ack_wait: float = 10.0
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class Failure:
    """Why a delivery goes to the dead letters, and the delivery if it could be read."""

    error: EnlaceError
    delivery: Delivery | None


Written = tuple[Delivery, DeliveryResult]


class DeliverySteps:
    """Parse, verify and write deliveries for one country's sink.

    Args:
        sink: the sink (opened).
        directory: returns the directory currently accepted (it may be reloaded).
        settings: the country, the sink's name, retries and the size limit.
        rng: jitter source for the back-off.
        sleep: how to wait between retries.
    """

    def __init__(
        self,
        sink: Sink,
        directory: Callable[[], Directory],
        settings: RunnerSettings,
        *,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sink = sink
        self.directory = directory
        self.settings = settings
        self.rng = rng or random.Random()  # noqa: S311 -- jitter, not a secret
        self.sleep = sleep
        self.log = structlog.get_logger("enlace.adapters.runner").bind(
            country=settings.country, sink=settings.sink_name
        )

    async def process(
        self,
        subject: str,
        headers: dict[str, str],
        body: bytes,
        published_at: datetime,
        keepalive: Keepalive,
    ) -> Written | Failure:
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
        read = self.read(subject, headers, body, published_at)
        if isinstance(read, Failure):
            return read
        return await self.write(read, keepalive)

    def read(
        self, subject: str, headers: dict[str, str], body: bytes, published_at: datetime
    ) -> Delivery | Failure:
        """Parse and verify one delivery; one that fails is never written.

        Args:
            subject: the delivery's subject.
            headers: its headers.
            body: its bytes.
            published_at: when the hub published it (keys are checked at that time).
        """
        delivery: Delivery | None = None
        try:
            delivery = parse_delivery(subject, headers, body, self.settings.country, published_at)
            verify_delivery(delivery, self.directory(), published_at, self.settings.max_bytes)
        except DeliveryError as err:
            return self.failed(err, delivery, subject)
        return delivery

    async def write(self, delivery: Delivery, keepalive: Keepalive) -> Written | Failure:
        """Write one verified delivery unless written before, retrying transient failures."""
        try:
            if await self.sink.already_delivered(delivery.message_id):
                result = DeliveryResult("(already delivered)", duplicate=True)
            else:
                result = await deliver_with_retries(
                    self.sink,
                    delivery,
                    self.settings.retry,
                    rng=self.rng,
                    sleep=self.sleep,
                    keepalive=keepalive,
                    log=self.log,
                )
        except (PermanentSinkError, RetriesExhausted) as err:
            return self.failed(err, delivery, delivery.subject)
        except TransientSinkError as err:
            # already_delivered() could not be answered: treat like a failed attempt.
            return Failure(
                RetriesExhausted(f"{err.description}; the sink could not be asked"), delivery
            )
        self.written(delivery, result)
        return delivery, result

    async def write_batch(
        self, deliveries: Sequence[Delivery], keepalive: Keepalive
    ) -> list[Written | Failure]:
        """Write verified deliveries, as one batch when the sink can, in order.

        A sink that is a :class:`~adapters.base.BatchSink` gets every delivery not written
        before in one call (one fsync, one transaction). If that call fails, each is
        written on its own (:meth:`write`: retries, then a failure for the dead letters),
        so one bad delivery neither loses nor duplicates the others.

        Args:
            deliveries: what :meth:`read` returned, in stream order.
            keepalive: pushes the ack deadline out while retrying.

        Returns:
            Per delivery, in order: what was written, or the failure to dead-letter.
        """
        sink = self.sink
        if not isinstance(sink, BatchSink) or len(deliveries) < 2:
            return [await self.write(d, keepalive) for d in deliveries]
        try:
            results = await sink.deliver_batch(deliveries)
        except (TransientSinkError, PermanentSinkError) as err:
            self.log.warning(
                "batch_failed_one_by_one", count=len(deliveries), detail=err.description
            )
            return [await self.write(d, keepalive) for d in deliveries]
        for delivery, result in zip(deliveries, results, strict=True):
            self.written(delivery, result)
        return list(zip(deliveries, results, strict=True))

    def failed(self, err: EnlaceError, delivery: Delivery | None, subject: str) -> Failure:
        """Log a delivery going to the dead letters (a warning if tampered, else an error).

        Args:
            err: why it goes there.
            delivery: the delivery, if it could be read.
            subject: the subject it came on.
        """
        level = "warning" if isinstance(err, TamperedDelivery) else "error"
        getattr(self.log, level)(
            "dead_letter",
            message_id=delivery.message_id if delivery else None,
            subject=subject,
            reason=reason_of(err),
            detail=err.description,
        )
        return Failure(err, delivery)

    def written(self, delivery: Delivery, result: DeliveryResult) -> None:
        """Log a delivery written (or found written before)."""
        self.log.info(
            "delivered" if not result.duplicate else "duplicate",
            message_id=delivery.message_id,
            view=delivery.view,
            location=result.location,
        )
