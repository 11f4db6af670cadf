"""The batch behind (adapters.behind): one batch's receipts and acks at most in flight."""

from __future__ import annotations

import asyncio

from adapters.behind import Behind


async def test_a_batch_goes_behind_only_once_the_one_before_is_done() -> None:
    behind = Behind()
    events: list[str] = []
    first_may_end = asyncio.Event()

    async def first() -> None:
        events.append("first started")
        await first_may_end.wait()
        events.append("first done")

    async def second() -> None:
        events.append("second started")

    await behind.hand(first)  # returns at once, the work in flight
    await asyncio.sleep(0)
    assert events == ["first started"]
    handing = asyncio.create_task(behind.hand(second))
    await asyncio.sleep(0.01)
    assert events == ["first started"]  # the second waits for the first
    first_may_end.set()
    await handing
    await behind.flush()
    assert events == ["first started", "first done", "second started"]


async def test_every_flush_waits_for_the_batch_behind() -> None:
    behind = Behind()
    may_end = asyncio.Event()
    done: list[bool] = []

    async def work() -> None:
        await may_end.wait()
        done.append(True)

    await behind.hand(work)
    flushes = [asyncio.create_task(behind.flush()) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert not any(f.done() for f in flushes)
    may_end.set()
    await asyncio.gather(*flushes)
    assert done == [True]
    await behind.flush()  # nothing behind: returns at once
