"""How Enlace fetches from a JetStream pull subscription: the one ``.fetch(`` of hub and adapters.

Shared by the hub's pull loop (:mod:`hub.jetstream.pull`) and the adapters' sink runner
(:func:`adapters.runner.fetch_batch`), which may not import each other: one rule for how a
batch is taken, written once.

A batch is one message first, with a long poll, then at once whatever else is there (a 5 ms
second fetch). nats-py's ``fetch(n)`` waits out the whole poll for the other n - 1 once it
has a first one, so a lone message would wait for nothing. A caller that can tell from the
first message that nothing waits behind it (``more``) skips the second fetch: at a few
messages a second, most come alone, and each would wait the 5 ms for nothing and cost a
request. Once the first message is in hand it is never dropped: a failure of the quick
second fetch is returned beside what was fetched, for the caller to report, and the
caller handles what it has.

No NATS import: a subscription is anything with nats-py's ``fetch(batch, timeout)``, whose
timeouts (asyncio's, the builtin, nats-py's own subclass) are all the builtin
``TimeoutError`` on Python 3.11+.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["FULL_FETCH", "QUICK_FETCH", "Fetched", "PullSubscription", "fetch_first_then_rest"]

QUICK_FETCH = 0.005
"""Seconds the hub's second fetch waits: what is already there comes within this (what
comes later is kept in the subscription's queue and taken by the next fetch)."""

FULL_FETCH = 0.25
"""Seconds the sinks' second fetch may wait for what the server sends. It ends at once
when the server says there is no more, so it costs time only while the server's answer
is still arriving: on a busy machine 63 deliveries of 2 KiB may take longer than
:data:`QUICK_FETCH` to read, and a sink, which pays two file-system syncs per batch,
would write half batches (measured 2026-12-06, load average 14: half the batches held
fewer than 40 of 64)."""

M = TypeVar("M")


class PullSubscription(Protocol[M]):
    """What is fetched from: nats-py's ``JetStreamContext.PullSubscription``."""

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[M]: ...  # noqa: ASYNC109


@dataclass(frozen=True)
class Fetched(Generic[M]):
    """One batch: its messages, in stream order, and the second fetch's failure (if any)."""

    msgs: list[M]
    failure: Exception | None = None


async def fetch_first_then_rest(
    sub: PullSubscription[M],
    poll: float,
    rest: Callable[[], Awaitable[int]],
    quick: float = QUICK_FETCH,
    more: Callable[[M], bool] | None = None,
) -> Fetched[M]:
    """A first message within ``poll`` seconds, then at once up to ``rest()`` more.

    Args:
        sub: the bound pull subscription.
        poll: how long to wait for the first message (seconds).
        rest: asked once the first message is in hand: how many more may be taken (the
            hub's loop takes places in its shared room here; the adapters pass their batch
            size less one). Zero or less: the first goes alone.
        quick: the most the second fetch waits (seconds): :data:`QUICK_FETCH`, or
            :data:`FULL_FETCH` where a full batch is worth more than a few milliseconds.
        more: asked with the first message whether others wait behind it (the hub reads
            the count JetStream sends with each message); False: the first goes alone at
            once, without the second fetch and its wait. None: the second fetch is
            always made.

    Raises:
        TimeoutError: nothing came within ``poll`` (the server answered: not a failure).
        Exception: whatever the first fetch raised (the connection is down, …).
    """
    msgs = await sub.fetch(1, timeout=poll)
    if more is not None and msgs and not more(msgs[-1]):
        return Fetched(msgs)
    count = await rest()
    if count <= 0:
        return Fetched(msgs)
    try:
        msgs += await sub.fetch(count, timeout=quick)
    except TimeoutError:
        pass  # nothing else there: the first one goes alone
    except Exception as exc:
        return Fetched(msgs, exc)  # the first is in hand: it is handled
    return Fetched(msgs)
