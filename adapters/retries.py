"""Retries of a failing sink write: in place, with exponential backoff and full jitter.

In place keeps the stream order (the next delivery waits for this one); the ack deadline
is pushed out (``keepalive``, JetStream's in-progress) before each wait, so a delivery
being retried is not redelivered to nobody in particular.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import structlog

from adapters.base import DeliveryResult, Sink
from adapters.config import RetrySettings
from adapters.delivery import Delivery
from adapters.errors import RetriesExhausted, SinkOutage, TransientSinkError

__all__ = ["Keepalive", "Sleep", "backoff_delay", "deliver_with_retries"]

Keepalive = Callable[[], Awaitable[None]]
"""Pushes a delivery's ack deadline out (JetStream's in-progress, ``+WPI``)."""
Sleep = Callable[[float], Awaitable[None]]

# Beyond this many doublings every wait is capped at backoff_max anyway (and 2**n stays a float).
_LONGEST_DOUBLING = 32


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


async def deliver_with_retries(
    sink: Sink,
    delivery: Delivery,
    retry: RetrySettings,
    *,
    rng: random.Random,
    sleep: Sleep,
    keepalive: Keepalive,
    log: structlog.typing.FilteringBoundLogger,
) -> DeliveryResult:
    """Write ``delivery``, retrying transient failures up to ``retry.max_attempts`` times.

    An outage of the sink's medium (:class:`~adapters.errors.SinkOutage`: disk full,
    read-only, no permission) is retried for as long as it lasts and never counts as an
    attempt: the delivery waits, in order, until an operator has made room.

    Args:
        sink: where it goes.
        delivery: what to write (verified).
        retry: how often and how long to wait between attempts.
        rng: the jitter source.
        sleep: how to wait (a test may make it instant).
        keepalive: pushes the ack deadline out before each wait.
        log: the runner's logger (country and sink bound).

    Raises:
        RetriesExhausted: every attempt failed transiently (the last cause in its text).
        PermanentSinkError: the sink said retrying will not help.
    """
    last: TransientSinkError | None = None
    attempt = outages = 0
    while attempt < retry.max_attempts:
        try:
            return await sink.deliver(delivery)
        except SinkOutage as err:
            # The medium, not this delivery, is at fault: wait for it as long as it takes
            # (in order; never dead-lettered), the waits capped at retry.backoff_max.
            outages += 1
            delay = backoff_delay(min(outages, _LONGEST_DOUBLING), retry, rng)
            log.error(
                "sink_outage",
                message_id=delivery.message_id,
                attempt=outages,
                retry_in=round(delay, 3),
                detail=err.description,
            )
        except TransientSinkError as err:
            last = err
            attempt += 1
            if attempt == retry.max_attempts:
                break
            delay = backoff_delay(attempt, retry, rng)
            log.warning(
                "transient_failure",
                message_id=delivery.message_id,
                attempt=attempt,
                retry_in=round(delay, 3),
                detail=err.description,
            )
        await keepalive()  # push the ack deadline out while we wait
        await sleep(delay)
    assert last is not None  # the loop ran at least once and only breaks on failure
    raise RetriesExhausted(
        f"delivery {delivery.message_id} failed {retry.max_attempts} times; "
        f"last: {last.description}"
    )
