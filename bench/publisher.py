"""The benchmarks' publisher, in a process of its own like a real point of contact.

It publishes prepared messages to JetStream — as fast as a window of awaited acks allows,
or paced at a rate — and, for the hub, listens for the outcomes on
``enlace.outcome.<cc>.>``. Times are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux, the
same clock in every process), so the parent can compare them with its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType

import nats
from nats.aio.msg import Msg

__all__ = ["IN_FLIGHT", "Item", "Published", "PublisherRun", "start_publisher"]

IN_FLIGHT = 64
"""Publishes awaited at once (raw JetStream and the hub are published the same way)."""

Item = tuple[str, str, bytes, dict[str, str]]
"""A message to publish: its id, subject, body and headers."""


@dataclass
class Published:
    """What the publisher saw: when it started, when each message was sent and answered."""

    started: float = 0.0
    sent: dict[str, float] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)  # INGRESS acked (paced runs)
    outcomes: dict[str, float] = field(default_factory=dict)

    @property
    def last_outcome(self) -> float:
        return max(self.outcomes.values(), default=self.started)


@dataclass
class PublisherRun:
    """A publisher process: ``ready`` once connected; publishes when ``go`` is set."""

    process: multiprocessing.process.BaseProcess
    ready: EventType
    go: EventType
    results: Queue[Published]

    def result(self, timeout: float = 300.0) -> Published:
        published = self.results.get(timeout=timeout)
        self.process.join(30)
        return published


def start_publisher(
    url: str,
    items: list[Item],
    *,
    rate: float = 0.0,
    outcomes: str | None = None,
    wait_seconds: float = 120.0,
) -> PublisherRun:
    """Start a publisher process for ``items``.

    Args:
        url: the NATS server.
        items: the messages, in order.
        rate: messages per second (paced, each publish in flight on its own); 0 = as fast
            as :data:`IN_FLIGHT` awaited publishes at a time allow.
        outcomes: a subject to listen on; the publisher then waits (up to
            ``wait_seconds``) for one outcome per item before it reports.
        wait_seconds: how long to wait for the outcomes at most.
    """
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    results: Queue[Published] = ctx.Queue()
    job = _Job(url, items, rate, outcomes, wait_seconds)
    process = ctx.Process(target=_main, args=(job, ready, go, results), daemon=True)
    process.start()
    return PublisherRun(process, ready, go, results)


@dataclass(frozen=True)
class _Job:
    """What the publisher process is to do (see :func:`start_publisher`)."""

    url: str
    items: list[Item]
    rate: float
    outcomes: str | None
    wait_seconds: float


def _main(job: _Job, ready: EventType, go: EventType, results: Queue[Published]) -> None:
    results.put(asyncio.run(_run(job, ready, go)))


async def _run(job: _Job, ready: EventType, go: EventType) -> Published:
    url, items, rate, outcomes = job.url, job.items, job.rate, job.outcomes
    nc = await nats.connect(url)
    js = nc.jetstream()
    seen = Published()
    all_in = asyncio.Event()

    async def on_outcome(msg: Msg) -> None:
        seen.outcomes[json.loads(msg.data)["message_id"]] = time.perf_counter()
        if len(seen.outcomes) >= len(items):
            all_in.set()

    if outcomes:
        await nc.subscribe(outcomes, cb=on_outcome)
        await nc.flush()
    ready.set()
    await asyncio.to_thread(go.wait)
    seen.started = time.perf_counter()

    async def publish(mid: str, subject: str, body: bytes, headers: dict[str, str]) -> None:
        await js.publish(subject, body, headers=headers)
        seen.acked[mid] = time.perf_counter()

    if rate > 0:
        tasks = []
        for i, (mid, subject, body, headers) in enumerate(items):
            delay = seen.started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            seen.sent[mid] = time.perf_counter()
            tasks.append(asyncio.create_task(publish(mid, subject, body, headers)))
        await asyncio.gather(*tasks)
    else:
        for start in range(0, len(items), IN_FLIGHT):
            window = items[start : start + IN_FLIGHT]
            await asyncio.gather(*(js.publish(s, b, headers=h) for _, s, b, h in window))
    if outcomes:
        with contextlib.suppress(TimeoutError):  # the report shows how many outcomes came
            await asyncio.wait_for(all_in.wait(), job.wait_seconds)
    await nc.close()
    return seen
