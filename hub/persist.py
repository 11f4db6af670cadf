"""Several JetStream writes at once, waited for together: the hub's write path.

nats-py's ``js.publish`` waits for each acknowledgement with a timer and a task of its
own. The hub writes three or four messages for every INGRESS message (deliveries, a
notice, its audit entries), so it sends them all with ``publish_async`` and waits for
their acknowledgements together, under one timeout. An acknowledgement still means the
write is stored (``sync_interval: always``: on disk) — nothing is acked sooner.

On a timeout or an error, every write still pending is cancelled (nats-py then frees its
slot) and the error is raised: the caller leaves its INGRESS message unacked, JetStream
redelivers it, and ``Nats-Msg-Id`` makes the repeated writes harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, NamedTuple

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck

__all__ = ["ACK_TIMEOUT", "Write", "persist"]

ACK_TIMEOUT = 10.0
"""Seconds to wait for every acknowledgement of one message's writes."""


class Write(NamedTuple):
    """One message to store: its subject, body and headers (with ``Nats-Msg-Id``)."""

    subject: str
    body: bytes
    headers: dict[str, str]


async def persist(
    js: JetStreamContext,
    writes: Sequence[Write],
    *also: Awaitable[Any],
) -> list[PubAck]:
    """Store ``writes`` and wait for them and for ``also``; the acks in ``writes`` order.

    Raises:
        nats.errors.TimeoutError: not everything was acknowledged within
            :data:`ACK_TIMEOUT` seconds.
        nats.js.errors.APIError: JetStream refused a write (the first such error).
    """
    pending: list[asyncio.Future[Any]] = [
        await js.publish_async(w.subject, w.body, headers=w.headers) for w in writes
    ]
    pending += [asyncio.ensure_future(a) for a in also]
    try:
        results = await asyncio.wait_for(asyncio.gather(*pending), ACK_TIMEOUT)
    except TimeoutError:
        raise nats.errors.TimeoutError from None
    finally:
        for future in pending:
            future.cancel()  # no-op when done; frees nats-py's slot when not
    return list(results[: len(writes)])
