"""The steps of a sink runner for one delivery: parse, verify, write (with retries).

A delivery that fails to parse or verify is **never written**; a write that fails for
good, or more often than the retry limit allows, comes back as a :class:`Failure` for the
caller to dead-letter. Nothing here touches NATS: receipts (:mod:`adapters.receipting`),
dead letters (:mod:`adapters.deadletters`) and acks are the loop's (:mod:`adapters.runner`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import structlog

from adapters.base import DeliveryResult, Sink
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
    """How one runner consumes; the consumer's ``ack_wait`` must exceed the longest
    backoff (the runner pushes it out before each wait)."""

    country: str
    sink_name: str
    retry: RetrySettings = field(default_factory=RetrySettings)
    fetch_batch: int = 32
    fetch_timeout: float = 1.0
    ack_wait: float = 120.0
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
        delivery: Delivery | None = None
        try:
            delivery = parse_delivery(subject, headers, body, self.settings.country, published_at)
            verify_delivery(delivery, self.directory(), published_at, self.settings.max_bytes)
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
        except (DeliveryError, PermanentSinkError, RetriesExhausted) as err:
            return self.failed(err, delivery, subject)
        except TransientSinkError as err:
            # already_delivered() could not be answered: treat like a failed attempt.
            return Failure(
                RetriesExhausted(f"{err.description}; the sink could not be asked"), delivery
            )
        self.written(delivery, result)
        return delivery, result

    def failed(self, err: EnlaceError, delivery: Delivery | None, subject: str) -> Failure:
        """Log a delivery going to the dead letters (a warning if tampered, else an error)."""
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
