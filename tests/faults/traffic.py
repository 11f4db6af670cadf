"""A diligent publisher: GT's system, logged in as GT, sending signed messages at a steady
rate and trying each again (same id) while the exchange cannot take it.

JetStream's de-duplication window and the hub's record of seen ids make a retry of a
message already stored harmless. ``ingress_full`` is the documented refusal of a full
quota ("try again later"): the publisher takes it as the answer for that message.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import nats
import nats.errors
from nats.js.errors import APIError

from adapters.client import EnlaceClient
from adapters.errors import IngressFull
from hub.server.logins import load_user
from tests.faults.harness import FaultUp
from tests.integration.demokit import signed_trace_requests

__all__ = ["Sent", "publish", "signed"]

SENDER = "GT"
_RETRY = 0.25


@dataclass
class Sent:
    """What the publisher was told.

    Attributes:
        ids: every message it sent, in order.
        stored: the ids JetStream acknowledged.
        refused: the ids refused for good, with the reason code it was given.
        errors: every failed attempt, by what the exchange said (retried or not).
    """

    ids: list[str] = field(default_factory=list)
    stored: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


def signed(fault: FaultUp, count: int) -> list[tuple[str, bytes, str]]:
    """``count`` signed firearm trace requests from GT (routed to US)."""
    return signed_trace_requests(fault.dep, count)


async def publish(
    fault: FaultUp, batch: list[tuple[str, bytes, str]], rate: float, give_up: float = 60.0
) -> Sent:
    """Send ``batch`` at ``rate`` messages/s, each retried until stored or refused, for
    at most ``give_up`` seconds after the last one was due (what is left unanswered then
    counts as refused with no reason code: "")."""
    sent = Sent(ids=[mid for mid, _, _ in batch])
    nc = await nats.connect(
        fault.url.split(","),
        max_reconnect_attempts=-1,
        reconnect_time_wait=_RETRY,
        connect_timeout=2,
        **load_user(fault.dep, SENDER).connect_options(),
    )
    client = EnlaceClient(nc)
    started = time.monotonic()
    until = started + len(batch) / rate + give_up
    try:
        for n, (mid, raw, jws) in enumerate(batch):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            await _one(client, sent, mid, raw, jws, until)
    finally:
        await nc.close()
    return sent


async def _one(
    client: EnlaceClient, sent: Sent, mid: str, raw: bytes, jws: str, deadline: float
) -> None:
    while True:
        try:
            await client.publish(raw, jws, wait=False)
        except IngressFull as refusal:
            sent.errors[refusal.code] += 1
            sent.refused[mid] = refusal.code
            return
        except (APIError, nats.errors.Error, TimeoutError, OSError) as err:
            said = err.description if isinstance(err, APIError) else type(err).__name__
            sent.errors[said or type(err).__name__] += 1
            if time.monotonic() > deadline:
                sent.refused[mid] = ""
                return
            await asyncio.sleep(_RETRY)
        else:
            sent.stored.add(mid)
            return
