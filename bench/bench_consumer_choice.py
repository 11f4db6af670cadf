"""FastStream or plain nats-py for the hub's workers: the same pass-through, measured side by side.

One embedded nats-server, one run. ``N`` messages of 512 B are stored in a source stream
first; then each client, with one worker, pull-consumes them (a durable consumer of its
own, batches of ``BATCH``), publishes each body to a target stream with an awaited
JetStream ack, and acks the source message after that ack (ack after persist, like the
hub). msgs/s is counted from the first fetch to the last ack.

- nats-py: ``js.pull_subscribe`` + ``fetch(BATCH)``, per message ``await js.publish`` then
  ``await msg.ack()``;
- FastStream 0.7: ``@broker.subscriber(pull_sub=PullSub(batch_size=BATCH))``, per message
  ``await broker.publish(..., stream=...)`` (awaits the PubAck); FastStream acks after the
  handler returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

import nats
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import AckPolicy, StreamConfig

from hub.server.process import NatsServer, NatsServerConfig, free_port

__all__ = ["main"]

N = 3000
SIZE = 512
BATCH = 64
ROUNDS = 2
SOURCE = "SRC"
TARGET = "DST"


async def _prepare(url: str) -> None:
    """The two streams and ``N`` stored source messages (published before any timing)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=SOURCE, subjects=["src.>"]))
    await js.add_stream(StreamConfig(name=TARGET, subjects=["dst.>"]))
    body = b"x" * SIZE
    for start in range(0, N, 256):
        await asyncio.gather(
            *(js.publish("src.m", body) for _ in range(start, min(N, start + 256)))
        )
    await nc.close()


async def nats_py(url: str, durable: str) -> float:
    """msgs/s of the pass-through written with nats-py."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "src.>",
        durable=durable,
        stream=SOURCE,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
    )
    done = 0
    started = time.perf_counter()
    while done < N:
        with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
            for msg in await sub.fetch(BATCH, timeout=1.0):
                await js.publish("dst.np", msg.data)
                await msg.ack()
                done += 1
    elapsed = time.perf_counter() - started
    await nc.close()
    return N / elapsed


async def faststream(url: str, durable: str) -> float:
    """msgs/s of the same pass-through written with FastStream."""
    # No per-message "Processed" log lines: the hub runs at warning level too.
    broker = NatsBroker(url, logger=None)
    done = 0
    finished = asyncio.Event()
    first: list[float] = []

    @broker.subscriber(
        "src.>",
        stream=JStream(SOURCE, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=BATCH, timeout=1.0),
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
    )
    async def handle(body: bytes, msg: NatsMessage) -> None:
        nonlocal done
        if not first:
            first.append(time.perf_counter())
        await broker.publish(msg.body, "dst.fs", stream=TARGET)
        done += 1
        if done >= N:
            finished.set()

    started = time.perf_counter()
    await broker.start()
    await asyncio.wait_for(finished.wait(), 120)
    # The last ack is sent when the handler returns; give it the loop once.
    await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    await broker.stop()
    return N / elapsed


async def main() -> None:
    """Print the pass-through rate of FastStream and of plain nats-py, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        config = NatsServerConfig(store_dir=Path(tmp) / "js", port=free_port())
        server = NatsServer(config, Path(tmp) / "nats.conf")
        server.start()
        try:
            await _prepare(server.url)
            # Alternate the two so that a noisy neighbour hurts both alike.
            results: dict[str, list[float]] = {"nats-py": [], "FastStream": []}
            for i in range(ROUNDS):
                results["nats-py"].append(await nats_py(server.url, f"np{i}"))
                results["FastStream"].append(await faststream(server.url, f"fs{i}"))
        finally:
            server.stop()
    best = {name: max(values) for name, values in results.items()}
    print(f"pass-through of {N} × {SIZE} B, one worker, awaited JetStream acks, ack after publish:")
    for name, values in results.items():
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"  {name:<10} {best[name]:>7,.0f} msgs/s (best of {runs})")
    print(f"  FastStream / nats-py: {best['FastStream'] / best['nats-py']:.2f}")
