"""What a long-lived NATS connection says when the server is away: one line, not a traceback.

nats-py's default ``error_cb`` logs every failed attempt with its whole traceback. The
hub's connections try again every 0.25 s through a restart of the server, so an outage of
a minute printed hundreds of tracebacks of the same refused connection. Here each kind
of error (its type and the server it concerns) is logged as one structured warning, at
most once per :data:`QUIET_SECONDS`, with how many were left out since.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient

__all__ = ["QUIET_SECONDS", "ErrorReporter", "connect_lasting", "lasting"]

log = structlog.get_logger("enlace.nats")

QUIET_SECONDS = 10.0
"""The least time between two warnings of the same kind of error on one connection."""


class ErrorReporter:
    """Reports the errors of the connection ``name``:
    ``nats.connect(..., error_cb=ErrorReporter(name).on_error)`` (nats-py takes only a
    coroutine function there).

    Args:
        name: the connection, as logged (``enlace-hub``, ``enlace-console``…).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # kind → (logged at, left out since)

    async def on_error(self, exc: Exception) -> None:
        """nats-py's ``error_cb``."""
        self.report(exc)

    def report(self, exc: Exception) -> bool:
        """Log ``exc`` unless its kind was logged within :data:`QUIET_SECONDS`; True if logged."""
        kind = type(exc).__name__
        now = self._clock()
        logged_at, left_out = self._last.get(kind, (float("-inf"), 0))
        if now - logged_at < QUIET_SECONDS:
            self._last[kind] = (logged_at, left_out + 1)
            return False
        self._last[kind] = (now, 0)
        log.warning(
            "nats_connection_error",
            connection=self.name,
            error=kind,
            detail=str(exc)[:200],
            left_out=left_out,
        )
        return True


def lasting(name: str) -> dict[str, Any]:
    """``nats.connect`` options of a connection that lasts through a restart of the server,
    however long (the hub's, its audit writer's): named ``name``, trying again every 0.25 s
    for ever, its errors reported by :class:`ErrorReporter`."""
    return {
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.25,
        "error_cb": ErrorReporter(name).on_error,
    }


async def connect_lasting(
    servers: list[str], name: str, first_tries: int, options: dict[str, Any]
) -> NatsClient:
    """A :func:`lasting` connection whose first connect gives up after ``first_tries``.

    nats-py counts the first connect's attempts against ``max_reconnect_attempts``: a
    connection that reconnects for ever would also wait for ever for a server that was
    never there. So the first connect is bounded (each attempt ``connect_timeout``, 2 s,
    with 0.25 s between a refused one and the next), and once connected the connection
    reconnects for ever.

    Args:
        servers: the server URLs.
        name: the connection's name (as logged and as the server shows it).
        first_tries: attempts of each server before the first connect gives up.
        options: further ``connect`` options (credentials, TLS).

    Raises:
        nats.errors.Error, OSError, TimeoutError: no server answered ``first_tries`` times.
    """
    nc = NatsClient()
    await nc.connect(
        servers=servers, **{**lasting(name), **options, "max_reconnect_attempts": first_tries}
    )
    nc.options["max_reconnect_attempts"] = -1  # read again at every reconnect
    return nc
