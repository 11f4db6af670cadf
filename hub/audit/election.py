"""Trying a JetStream request again while a stream elects a leader (a node died or froze).

Used by the audit writer (appends, checkpoints), the audit reader (the start of a read)
and the hub's start (:class:`StartPatience`: every request of ``enlace up``'s start, under
one deadline): each attempt must be safe to repeat.
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
from hub.errors import NatsServerError

__all__ = ["ELECTION_GRACE", "START_GRACE", "StartPatience", "through_election"]

log = structlog.get_logger("enlace.hub.audit")

ELECTION_GRACE = 30.0
"""How long (s) the writer tries again while the audit stream elects a leader: a JetStream
election takes a few seconds; longer means the cluster lost its majority."""
START_GRACE = 60.0
"""How long (s) a hub's start waits in all for the cluster to answer (a node just back, a
leader being elected, a majority frozen for a while) before ``enlace up`` gives up (exit 6)."""
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
    return await _until(attempt, time.monotonic() + grace, f"{grace:.0f} s", what, event)


async def _until(
    attempt: Callable[[], Awaitable[T]], deadline: float, within: str, what: str, event: str
) -> T:
    """:func:`through_election` up to ``deadline`` (``time.monotonic()``), said ``within``.

    Raises:
        AuditStoreError: JetStream did not answer before ``deadline``.
    """
    delay = _FIRST_RETRY
    tries = 1
    while True:
        try:
            return await attempt()
        except _ELECTION as exc:
            left = deadline - time.monotonic()
            if delay > left:
                raise AuditStoreError(
                    f"JetStream did not answer for {what} for {within} ({type(exc).__name__}: "
                    f"{exc}); is a majority of the cluster up?"
                ) from None
            log.warning(
                event,
                what=what,
                error=type(exc).__name__,
                wait=delay,
                tries=tries,
                left=round(left),
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LAST_RETRY)
            tries += 1


class StartPatience:
    """One deadline, :data:`START_GRACE` seconds from now, for every request of a start:
    each is tried again through an election (:func:`through_election`, logging
    ``start_retry``) until then, so a hub started while the cluster elects waits, not exits.
    """

    def __init__(self, grace: float = START_GRACE) -> None:
        self.grace = grace
        self.deadline = time.monotonic() + grace

    async def answered(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        """``attempt()``, tried again while JetStream does not answer, up to the deadline.

        Args:
            attempt: one try (idempotent: it makes what is missing, or nothing).
            what: what it asks for, for the log and the error.

        Raises:
            NatsServerError: the cluster did not answer for ``what`` before the deadline
                (``enlace up`` exits 6).
        """
        within = f"the start's {self.grace:.0f} s"
        try:
            return await _until(attempt, self.deadline, within, what, "start_retry")
        except AuditStoreError as err:
            raise NatsServerError(str(err)) from None
