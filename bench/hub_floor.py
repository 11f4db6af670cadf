"""The hub's JetStream work without the hub: what the storage alone allows.

For every accepted message the hub makes, whatever its Python code costs, the same
persisted writes, in the same rounds (``hub/pipeline/ingress.py``):

1. with ``hub.seen_ids: bucket`` (the default): the id's claim, a KV create in
   ``enlace_routes`` whose value is the routing record (who received it, for corrections
   and retractions); with ``audit`` the claim is the message's ``received`` audit entry;
2. one delivery per recipient (2 here), with ``audit`` ∥ the routing record;
3. the outcome in ``OUTCOMES_<cc>`` (after the deliveries: it must not say "delivered"
   before they are on disk);
4. the ack of INGRESS.

The audit batches (a few entries' share of one write per batch, ~0.04–0.07 writes per
message) are left out. This consumer makes exactly those writes through the hub's own
write path (:class:`hub.jetstream.writer.JetStreamWriter`), with the hub's concurrency,
and nothing else: no parsing, no signatures, no policy. Its rate is the ceiling for the
hub on this machine and disk; the gap between it and the hub is the hub's own cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from bench.publisher import start_publisher
from hub.jetstream.writer import JetStreamWriter, Write

__all__ = ["floor_writes", "hub_floor"]


def floor_writes(claim: bool) -> str:
    """What the floor writes for each message, with the KV claim or without."""
    if claim:
        return "routing record as the id's KV claim, 2 deliveries, outcome, ack"
    return "2 deliveries ∥ routing record, outcome, ack"


# About the size of the hub's routing record and accepted outcome for 2 recipients.
_ROUTED = b"r" * 420
_OUTCOME = b"o" * 330
_RECIPIENTS = ("SV", "US")


async def hub_floor(
    url: str, n: int, body: bytes, in_hand: int, *, claim: bool, split: bool = False
) -> float:
    """Msgs/s of the hub's writes alone for ``n`` messages of ``body``, ``in_hand`` at once.

    Args:
        url: the nats-server.
        n: how many messages.
        body: each message's bytes.
        in_hand: how many messages are worked on at once (the hub's workers × batch).
        claim: claim the id first, with the routing record (the hub's ``seen_ids: bucket``).
        split: each recipient's deliveries in a stream of its own, not both in one as the
            hub's DELIVERY (a what-if: JetStream syncs each stream's writes one after the
            other, and the two deliveries are the only stream written twice per message).

    Returns:
        Messages per second, from the first publish until the last ack.
    """
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="FLOOR_IN", subjects=["floor.in.>"]))
    outs = (
        {f"FLOOR_OUT_{cc}": [f"floor.out.{cc}"] for cc in _RECIPIENTS}
        if split
        else {"FLOOR_OUT": ["floor.out.>"]}
    )
    for name, subjects in outs.items():
        await js.add_stream(StreamConfig(name=name, subjects=subjects))
    await js.add_stream(StreamConfig(name="FLOOR_OUTCOMES", subjects=["floor.outcome.>"]))
    kv = await js.create_key_value(bucket="FLOOR_ROUTES", history=1)
    writer = JetStreamWriter(nc)
    await writer.start()
    sub = await js.pull_subscribe(
        "floor.in.>",
        durable="floor",
        stream="FLOOR_IN",
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=4 * in_hand),
    )
    items = [(f"f{i}", "floor.in.GT", body, {"Nats-Msg-Id": f"f{i}"}) for i in range(n)]
    publisher = start_publisher(url, items)
    done = 0
    finished = asyncio.Event()
    room = asyncio.Semaphore(in_hand)

    async def one(msg: Msg) -> None:
        nonlocal done
        mid = msg.headers["Nats-Msg-Id"] if msg.headers else ""
        try:
            deliveries = [
                Write(f"floor.out.{cc}", msg.data, {"Nats-Msg-Id": f"{mid}:{cc}"})
                for cc in _RECIPIENTS
            ]
            if claim:
                await kv.create(mid, _ROUTED)
            else:
                deliveries.append(Write(f"$KV.FLOOR_ROUTES.{mid}", _ROUTED, {}))
            await writer.write(deliveries)
            await writer.write([Write(f"floor.outcome.{mid}", _OUTCOME, {})])
            await msg.ack()
        finally:
            room.release()
        done += 1
        if done >= n:
            finished.set()

    async def consume() -> None:
        tasks: set[asyncio.Task[None]] = set()
        while not finished.is_set():
            with contextlib.suppress(TimeoutError):
                for msg in await sub.fetch(64, timeout=0.2):
                    await room.acquire()
                    task = asyncio.create_task(one(msg))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

    await asyncio.to_thread(publisher.ready.wait, 60)
    publisher.go.set()
    consumer = asyncio.create_task(consume())
    await finished.wait()
    ended = time.perf_counter()
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    started = (await asyncio.to_thread(publisher.result)).started
    for stream in ("FLOOR_IN", *outs, "FLOOR_OUTCOMES", "KV_FLOOR_ROUTES"):
        await js.delete_stream(stream)  # the next round starts afresh (ids, de-duplication)
    await nc.close()
    return n / (ended - started)
