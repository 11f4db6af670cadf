"""The one pull loop against an in-memory subscription (its JetStream side: integration tests)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from structlog.testing import capture_logs

from hub.jetstream.pull import CountPulls, Done, LogPulls, PullHooks, PullLoop, Room
from hub.metrics import HubMetrics


class FakeMsg:
    """What the loop touches of a JetStream message: nak (and whether it was settled)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.settled: str | None = None
        self.nak_delay: float | None = None

    async def ack(self) -> None:
        self._settle("ack")

    async def nak(self, delay: float | None = None) -> None:
        self._settle("nak")
        self.nak_delay = delay

    def _settle(self, how: str) -> None:
        if self.settled is not None:
            raise RuntimeError("already settled")  # as nats-py's MsgAlreadyAckdError
        self.settled = how


class FakeSub:
    """A pull subscription over a list: messages, or errors a fetch raises."""

    def __init__(self, *items: FakeMsg | Exception) -> None:
        self.items: deque[FakeMsg | Exception] = deque(items)
        self.fetches: list[tuple[int, float]] = []

    async def fetch(self, batch: int, timeout: float) -> list[FakeMsg]:  # noqa: ASYNC109 -- nats-py's signature
        self.fetches.append((batch, timeout))
        first = self.items[0] if self.items else None
        if isinstance(first, Exception):
            self.items.popleft()
            raise first
        got: list[FakeMsg] = []
        while self.items and len(got) < batch and isinstance(self.items[0], FakeMsg):
            got.append(cast(FakeMsg, self.items.popleft()))
        if not got:
            await asyncio.sleep(min(timeout, 0.01))
            raise TimeoutError
        return got


class Seen(PullHooks):
    def __init__(self) -> None:
        self.counts: list[int] = []
        self.fetch_failures: list[tuple[str, float]] = []
        self.batch_failures: list[tuple[int, str]] = []

    def fetched(self, loop: str, count: int) -> None:
        self.counts.append(count)

    def fetch_failed(self, loop: str, error: Exception, retry_in: float) -> None:
        self.fetch_failures.append((type(error).__name__, retry_in))

    def batch_failed(self, loop: str, count: int, error: Exception) -> None:
        self.batch_failures.append((count, str(error)))


def _loop(sub: FakeSub, handle: Any, **options: Any) -> PullLoop:
    return PullLoop(
        cast(JetStreamContext.PullSubscription, sub),
        handle,
        name="INGRESS_GT",
        poll=0.02,
        **options,
    )


async def _until(condition: Any, seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not reached in time")


async def test_one_message_first_then_what_else_is_there_in_one_batch() -> None:
    msgs = [FakeMsg(i) for i in range(5)]
    sub = FakeSub(*msgs)
    batches: list[list[int]] = []

    async def handle(batch: list[Msg], done: Done) -> None:
        batches.append([cast(FakeMsg, m).n for m in batch])
        for _ in batch:
            done()

    loop = _loop(sub, handle, batch=4)
    loop.start()
    await _until(lambda: sum(map(len, batches)) == 5)
    await loop.stop()
    assert batches == [[0, 1, 2, 3], [4]]
    # The long poll asks for one; the quick fetch for the places left.
    assert sub.fetches[:2] == [(1, 0.02), (3, 0.005)]


async def test_a_slow_message_holds_only_its_own_place() -> None:
    room = Room(2)
    sub = FakeSub(*[FakeMsg(i) for i in range(3)])
    release = asyncio.Event()
    handled: list[int] = []

    async def handle(batch: list[Msg], done: Done) -> None:
        for msg in batch:
            n = cast(FakeMsg, msg).n
            if n == 0:
                await release.wait()  # the slow one
            handled.append(n)
            done()

    loop = _loop(sub, handle, batch=1, room=room)
    loop.start()
    # 1 and 2 are fetched and finished through the other place while 0 is still in hand.
    await _until(lambda: handled == [1, 2])
    release.set()
    await _until(lambda: sorted(handled) == [0, 1, 2])
    await loop.stop()


async def test_a_loop_that_must_not_overlap_hands_one_batch_at_a_time() -> None:
    sub = FakeSub(*[FakeMsg(i) for i in range(6)])
    in_hand, most = 0, 0

    async def handle(batch: list[Msg], done: Done) -> None:
        nonlocal in_hand, most
        in_hand += 1
        most = max(most, in_hand)
        await asyncio.sleep(0.01)
        in_hand -= 1  # done() never called: the places are freed when it returns

    loop = _loop(sub, handle, batch=2, overlap=False)
    loop.start()
    await _until(lambda: not sub.items)
    await loop.stop()
    assert most == 1


async def test_places_a_handler_did_not_report_are_freed_when_it_returns() -> None:
    room = Room(2)
    sub = FakeSub(*[FakeMsg(i) for i in range(6)])
    handled: list[int] = []

    async def handle(batch: list[Msg], done: Done) -> None:
        handled.extend(cast(FakeMsg, m).n for m in batch)

    loop = _loop(sub, handle, batch=2, room=room)
    loop.start()
    await _until(lambda: len(handled) == 6)
    await loop.stop()
    assert await room.take_free(2) == 2  # every place back


async def test_a_failed_batch_is_reported_and_its_unsettled_messages_come_back() -> None:
    msgs = [FakeMsg(i) for i in range(3)]
    sub = FakeSub(*msgs)
    seen = Seen()

    async def handle(batch: list[Msg], done: Done) -> None:
        await cast(FakeMsg, batch[0]).ack()
        done()
        raise RuntimeError("a bug")

    loop = _loop(sub, handle, batch=3, hooks=[seen], retry_after=1.0)
    loop.start()
    await _until(lambda: bool(seen.batch_failures))
    await loop.stop()
    assert seen.batch_failures == [(3, "a bug")]
    assert [(m.settled, m.nak_delay) for m in msgs] == [("ack", None), ("nak", 1.0), ("nak", 1.0)]


async def test_without_retry_after_a_failed_batch_is_left_for_ack_wait() -> None:
    msgs = [FakeMsg(0)]

    async def handle(batch: list[Msg], done: Done) -> None:
        raise RuntimeError("a bug")

    seen = Seen()
    loop = _loop(FakeSub(*msgs), handle, batch=1, hooks=[seen])
    loop.start()
    await _until(lambda: bool(seen.batch_failures))
    await loop.stop()
    assert msgs[0].settled is None


async def test_failed_fetches_back_off_doubling_then_start_over() -> None:
    sub = FakeSub(ConnectionError(), ConnectionError(), FakeMsg(0), ConnectionError())
    seen = Seen()
    handled: list[int] = []

    async def handle(batch: list[Msg], done: Done) -> None:
        handled.extend(cast(FakeMsg, m).n for m in batch)

    loop = _loop(sub, handle, batch=1, hooks=[seen])
    loop.start()
    await _until(lambda: len(seen.fetch_failures) == 3, seconds=5)
    await loop.stop()
    assert handled == [0]
    assert seen.fetch_failures == [
        ("ConnectionError", 0.25),
        ("ConnectionError", 0.5),
        ("ConnectionError", 0.25),  # a fetch went through in between
    ]


async def test_on_idle_ends_a_drained_loop() -> None:
    asked = 0

    async def drained() -> bool:
        nonlocal asked
        asked += 1
        return asked == 2

    async def handle(batch: list[Msg], done: Done) -> None:
        pass

    loop = _loop(FakeSub(), handle, batch=1, on_idle=drained)
    await asyncio.wait_for(loop.run(), 3)
    assert asked == 2


async def test_stopping_finishes_the_batches_in_hand() -> None:
    sub = FakeSub(FakeMsg(0))
    finished: list[int] = []
    started = asyncio.Event()

    async def handle(batch: list[Msg], done: Done) -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.append(len(batch))

    loop = _loop(sub, handle, batch=1)
    loop.start()
    await started.wait()
    await loop.stop()
    assert finished == [1]


async def test_a_shared_room_hands_a_waiting_loop_the_next_place() -> None:
    room = Room(2)
    assert await room.take_free(5) == 2
    waiting = asyncio.create_task(room.take())
    await asyncio.sleep(0)
    room.give()
    # The freed place goes to the loop that waits, not to a batch that wants more.
    assert await room.take_free(1) == 0
    await asyncio.wait_for(waiting, 1)
    room.give(2)
    assert await room.take_free(2) == 2


def test_log_and_metrics_hooks_say_what_went_wrong_and_count() -> None:
    metrics = HubMetrics()
    count, logs = CountPulls(metrics), LogPulls()
    with capture_logs() as captured:
        for hook in (count, logs):
            hook.fetched("RECEIPTS", 3)
            hook.fetch_failed("RECEIPTS", ConnectionError("gone"), 0.5)
            hook.batch_failed("RECEIPTS", 3, RuntimeError("bug"))
    assert [(e["event"], e["loop"]) for e in captured] == [
        ("fetch_failed", "RECEIPTS"),
        ("batch_failed", "RECEIPTS"),
    ]
    sample = metrics.registry.get_sample_value
    assert sample("enlace_pulled_total", {"loop": "RECEIPTS"}) == 3
    assert sample("enlace_pull_failures_total", {"loop": "RECEIPTS", "stage": "fetch"}) == 1
    assert sample("enlace_pull_failures_total", {"loop": "RECEIPTS", "stage": "batch"}) == 1


@pytest.mark.parametrize("batch", [1, 3])
async def test_each_fetch_is_reported_with_its_size(batch: int) -> None:
    sub = FakeSub(*[FakeMsg(i) for i in range(3)])
    seen = Seen()

    async def handle(msgs: list[Msg], done: Done) -> None:
        pass

    loop = _loop(sub, handle, batch=batch, hooks=[seen])
    loop.start()
    await _until(lambda: sum(seen.counts) == 3)
    await loop.stop()
    assert max(seen.counts) == batch
