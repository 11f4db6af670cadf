"""Trying a JetStream request again while a stream elects a leader (a node died or froze).

Used by the audit writer (appends, checkpoints), the audit reader (the start of a read)
and the hub's start (its streams and buckets): each attempt must be safe to repeat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import structlog
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from hub.audit.errors import AuditStoreError

__all__ = ["ELECTION_GRACE", "through_election"]

log = structlog.get_logger("enlace.hub.audit")

ELECTION_GRACE = 30.0
"""How long (s) the writer tries again while the audit stream elects a leader: a JetStream
election takes a few seconds; longer means the cluster lost its majority."""
_FIRST_RETRY, _LAST_RETRY = 0.1, 2.0
T = TypeVar("T")
# What a stream whose leader is gone or being elected answers (or fails to).
_ELECTION = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    NoStreamResponseError,
    ServiceUnavailableError,
)


async def through_election(
    attempt: Callable[[], Awaitable[T]], grace: float, what: str, event: str = "audit_write_retry"
) -> T:
    """``attempt()``, tried again while JetStream elects a stream leader (a node died or
    froze: no answer, no responders, 503), waiting 0.1 s and doubling up to 2 s, for up to
    ``grace`` seconds. The attempt must be safe to repeat.

    Args:
        attempt: makes one try.
        grace: how long (s) to keep trying.
        what: what is written, for the error.
        event: the warning logged before each new try.

    Raises:
        AuditStoreError: JetStream did not answer within ``grace`` seconds.
    """
    deadline = time.monotonic() + grace
    delay = _FIRST_RETRY
    while True:
        try:
            return await attempt()
        except _ELECTION as exc:
            if time.monotonic() + delay > deadline:
                raise AuditStoreError(
                    f"JetStream did not answer for {what} for {grace:.0f} s ({type(exc).__name__}: "
                    f"{exc}); is a majority of the cluster up?"
                ) from None
            log.warning(event, what=what, error=type(exc).__name__, wait=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LAST_RETRY)
