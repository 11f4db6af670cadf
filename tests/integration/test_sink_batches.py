"""Sinks that keep up: a fetched batch written at once, and nothing lost or doubled for it.

Every sink that can (folder, jsonl, postgres: :class:`~adapters.base.BatchSink`) gets the
fresh deliveries of a fetched batch in one call; a batch that fails is written again one
delivery at a time, so one bad delivery neither loses nor duplicates the others, and a
batch redelivered whole is written once. One country's sink that blocks does not hold up
another's, and a batch held longer than the consumer's ``ack_wait`` is not redelivered
(the runner keeps its deadline pushed out). Real nats-server, crypto, files and PostgreSQL;
:class:`Batches` wraps a real sink to fail or crash on cue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from adapters.base import BatchSink, DeliveryResult, Sink, SinkContext
from adapters.config import RetrySettings
from adapters.delivery import Delivery
from adapters.errors import PermanentSinkError
from adapters.receipting import ReceiptPublisher, ToReceipt
from adapters.registry import build_sink
from adapters.runner import Processed, RunnerSettings, SinkRunner, consumer_name, fetch_batch
from hub.jetstream.consumers import ensure_consumer, sink_consumer_config
from hub.server.process import NatsServer
from schemas.receipts import ReceiptStatus
from schemas.subjects import HDR_MSG_ID, deadletter_stream
from schemas.testing import TestDirectory, make_directory
from tests.integration.sink_backends import Backend
from tests.integration.sinkkit import (
    WrappedSink,
    fresh_streams,
    publish_delivery,
    read_receipts,
    receipt_signer,
)

pytestmark = pytest.mark.integration

COUNTRY = "GT"


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "SV", "US"), themes=("gangs",))


@dataclass
class Batches(WrappedSink):
    """Wraps a real batch sink: counts its batches, refuses ``bad`` (having written the rest
    of its batch), crashes once after a batch is durable, or waits before each write."""

    bad: str | None = None
    crash_once: bool = False
    wait: float = 0.0
    gate: asyncio.Event | None = None
    batches: list[int] = field(default_factory=list)
    singles: int = 0

    async def _hold(self) -> None:
        await asyncio.sleep(self.wait)
        if self.gate is not None:
            await self.gate.wait()

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        self.singles += 1
        await self._hold()
        if delivery.message_id == self.bad:
            raise PermanentSinkError("the national system refused it", reason="refused_test")
        return await self.inner.deliver(delivery)

    async def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        self.batches.append(len(deliveries))
        await self._hold()
        good = [d for d in deliveries if d.message_id != self.bad]
        assert isinstance(self.inner, BatchSink)
        results = await self.inner.deliver_batch(good)
        if len(good) < len(deliveries):
            raise PermanentSinkError("one of the batch was refused", reason="refused_test")
        if self.crash_once:
            self.crash_once = False
            raise RuntimeError("power cut after the batch was durable, before any receipt")
        return results


async def _nothing() -> None:
    pass


@dataclass
class Receipts:
    """Stands for a runner's receipt publisher: ``before`` is awaited (and may raise)
    before each batch of receipts is stored, ``after`` once it is; ``stored`` counts the
    receipts of each."""

    inner: ReceiptPublisher
    before: Callable[[], Awaitable[None]] = _nothing
    after: Callable[[], Awaitable[None]] = _nothing
    stored: list[int] = field(default_factory=list)

    async def publish_all(self, receipts: Sequence[ToReceipt]) -> None:
        await self.before()
        await self.inner.publish_all(receipts)
        self.stored.append(len(receipts))
        await self.after()


def runner_for(
    js: JetStreamContext, td: TestDirectory, sink: Sink, sink_name: str, country: str = COUNTRY
) -> SinkRunner:
    settings = RunnerSettings(
        country=country,
        sink_name=sink_name,
        retry=RetrySettings(max_attempts=2, backoff_base=0.01, backoff_max=0.02),
        fetch_timeout=0.3,
    )
    return SinkRunner(
        js, sink, lambda: td.directory, receipt_signer(td, country), settings, rng=random.Random(3)
    )


def batch_sink(backend: Backend) -> BatchSink:
    sink = backend.make()
    if not isinstance(sink, BatchSink):
        # One HTTP request, or one call of an integrator's function, per delivery.
        assert backend.name in ("webhook", "python")
        pytest.skip(f"the {backend.name} sink writes each delivery on its own")
    return sink


async def drained(js: JetStreamContext, sink_name: str, country: str = COUNTRY) -> None:
    info = await js.consumer_info("DELIVERY", consumer_name(country, sink_name))
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def dead_letter_ids(js: JetStreamContext) -> list[str]:
    stream = deadletter_stream(COUNTRY)
    info = await js.stream_info(stream)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
        msg = await js.get_msg(stream, seq)
        ids.append((msg.headers or {})[HDR_MSG_ID].split(":")[1])
    return ids


async def test_a_fetched_batch_is_written_in_one_call(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    sink = Batches(batch_sink(backend))
    sent = [await publish_delivery(js, td) for _ in range(6)]
    runner = runner_for(js, td, sink, backend.name)
    await runner.start()
    assert await runner.drain() == 6
    await runner.stop()

    assert sink.batches == [6] and sink.singles == 0
    assert sorted(backend.written()) == sorted(s.message_id for s in sent)
    receipts = await read_receipts(js, td)
    assert [r.message_id for r in receipts] == [s.message_id for s in sent]
    assert all(r.status is ReceiptStatus.DELIVERED for r in receipts)
    await drained(js, backend.name)


async def test_one_bad_delivery_of_a_batch_loses_and_doubles_nothing(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    sent = [await publish_delivery(js, td) for _ in range(5)]
    bad = sent[2].message_id
    sink = Batches(batch_sink(backend), bad=bad)
    runner = runner_for(js, td, sink, backend.name)
    await runner.start()
    await runner.drain()
    await runner.stop()

    # The batch failed after writing four: each was then delivered on its own, once.
    assert sink.batches == [5] and sink.singles == 1  # only the bad one reached deliver()
    good = sorted(s.message_id for s in sent if s.message_id != bad)
    assert sorted(backend.written()) == good
    assert await dead_letter_ids(js) == [bad]
    receipts = {r.message_id: r for r in await read_receipts(js, td)}
    assert sorted(receipts) == sorted(s.message_id for s in sent)  # one each, no more
    assert receipts[bad].status is ReceiptStatus.DEAD_LETTERED
    assert receipts[bad].reason == "refused_test"
    assert all(receipts[m].status is ReceiptStatus.DELIVERED for m in good)
    await drained(js, backend.name)


async def test_a_batch_redelivered_whole_is_written_once(
    js: JetStreamContext, td: TestDirectory, backend: Backend
) -> None:
    sent = [await publish_delivery(js, td) for _ in range(4)]
    sink = Batches(batch_sink(backend), crash_once=True)
    runner = runner_for(js, td, sink, backend.name)
    await runner.start()
    await runner.drain()  # crashes after the batch, is redelivered, finds it all written
    await runner.stop()

    assert len(sink.batches) == 2
    assert sorted(backend.written()) == sorted(s.message_id for s in sent)
    receipts = await read_receipts(js, td)
    assert sorted(r.message_id for r in receipts) == sorted(s.message_id for s in sent)
    await drained(js, backend.name)


def folder(tmp_path: Path, country: str) -> Sink:
    context = SinkContext(country=country, state_dir=tmp_path / country, base_dir=tmp_path)
    return build_sink("folder", {"path": f"inbox-{country}"}, context)


def inbox(tmp_path: Path, country: str) -> list[str]:
    return sorted(p.stem for p in (tmp_path / f"inbox-{country}").glob("*.json"))


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (a bound, not a timing assertion: a stuck runner fails)."""
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail("not within 30 s")


async def test_a_blocked_sink_of_one_country_does_not_hold_up_another(
    js: JetStreamContext, td: TestDirectory, tmp_path: Path
) -> None:
    gate = asyncio.Event()
    stuck = Batches(folder(tmp_path, "GT"), gate=gate)
    for_gt = [await publish_delivery(js, td, recipient="GT") for _ in range(3)]
    for_sv = [await publish_delivery(js, td, recipient="SV", sender="GT") for _ in range(3)]
    runners = [
        runner_for(js, td, stuck, "folder", "GT"),
        runner_for(js, td, folder(tmp_path, "SV"), "folder", "SV"),
    ]
    stop = asyncio.Event()
    for runner in runners:
        await runner.start()
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    try:
        await until(lambda: inbox(tmp_path, "SV") == sorted(s.message_id for s in for_sv))
        assert stuck.batches and inbox(tmp_path, "GT") == []  # GT's write is still blocked
        gate.set()
        await until(lambda: inbox(tmp_path, "GT") == sorted(s.message_id for s in for_gt))
    finally:
        gate.set()
        stop.set()
        await asyncio.gather(*tasks)
        for runner in runners:
            await runner.stop()


async def test_a_batch_held_past_ack_wait_is_not_redelivered(
    js: JetStreamContext, td: TestDirectory, tmp_path: Path
) -> None:
    # The hub's consumer, with an ack_wait shorter than the sink takes to write.
    short = dataclasses.replace(sink_consumer_config(COUNTRY, "folder"), ack_wait=1.0)
    await ensure_consumer(js, "DELIVERY", short)
    sink = Batches(folder(tmp_path, COUNTRY), wait=2.5)
    sent = [await publish_delivery(js, td) for _ in range(2)]
    runner = runner_for(js, td, sink, "folder")
    await runner.start()
    # Someone else pulls from the consumer while the batch is held (a second adapter of
    # the sink, say): past ack_wait, the server would hand it the held deliveries.
    other = await js.pull_subscribe_bind(durable=runner.consumer, stream="DELIVERY")

    async def pull_while_held() -> list[str]:
        await until(lambda: bool(sink.batches))
        try:
            return [m.subject for m in await other.fetch(2, timeout=2.5)]
        except TimeoutError:
            return []

    stolen, handled = await asyncio.gather(pull_while_held(), runner.drain())
    await other.unsubscribe()
    await runner.stop()

    assert stolen == []  # the runner's in-progress kept the held deliveries its own
    assert handled == 2 and sink.batches == [2]
    info = await js.consumer_info("DELIVERY", consumer_name(COUNTRY, "folder"))
    assert info.num_redelivered == 0
    assert inbox(tmp_path, COUNTRY) == sorted(s.message_id for s in sent)
    await drained(js, "folder")


async def test_receipts_and_acks_finish_behind_the_next_batch(
    js: JetStreamContext, td: TestDirectory, tmp_path: Path
) -> None:
    # The app's way (overlap): a batch is written, then its receipts and acks finish
    # while the next batch is fetched and written; nothing is acked before its receipt.
    sent = [await publish_delivery(js, td) for _ in range(6)]
    runner = runner_for(js, td, Batches(folder(tmp_path, COUNTRY)), "folder")
    runner.settings = dataclasses.replace(runner.settings, fetch_batch=3)
    first_may_store = asyncio.Event()

    async def held() -> None:
        if not receipts.stored:
            await first_may_store.wait()  # the first batch's receipts held back

    receipts = Receipts(runner.receipts, held)
    runner.receipts = receipts  # type: ignore[assignment]
    await runner.start()
    first = await fetch_batch(runner._sub, 3, 1.0)  # type: ignore[arg-type]
    await runner.settle(first, overlap=True)  # written; receipts held behind
    assert inbox(tmp_path, COUNTRY) == sorted(s.message_id for s in sent[:3])
    info = await js.consumer_info("DELIVERY", consumer_name(COUNTRY, "folder"))
    assert info.num_ack_pending == 3  # not acked: its receipts are not stored
    second = await fetch_batch(runner._sub, 3, 1.0)  # type: ignore[arg-type]
    settling = asyncio.create_task(runner.settle(second, overlap=True))
    await until(lambda: len(inbox(tmp_path, COUNTRY)) == 6)  # written beside the first
    first_may_store.set()
    await settling
    await runner.stop()  # waits for the batch behind
    assert receipts.stored == [3, 3]
    assert [r.message_id for r in await read_receipts(js, td)] == [s.message_id for s in sent]
    await drained(js, "folder")


async def test_a_batch_behind_whose_receipts_fail_comes_again_and_is_receipted(
    js: JetStreamContext, td: TestDirectory, tmp_path: Path
) -> None:
    sent = [await publish_delivery(js, td) for _ in range(4)]
    sink = Batches(folder(tmp_path, COUNTRY))
    runner = runner_for(js, td, sink, "folder")
    failed: list[bool] = []

    async def failing_once() -> None:
        if not failed:
            failed.append(True)
            raise TimeoutError("RECEIPTS did not answer")

    runner.receipts = Receipts(runner.receipts, failing_once)  # type: ignore[assignment]
    await runner.start()
    msgs = await fetch_batch(runner._sub, 4, 1.0)  # type: ignore[arg-type]
    await runner.settle(msgs, overlap=True)
    await runner.flush()  # its receipts failed: nak'ed, nothing acked
    assert failed == [True] and await read_receipts(js, td) == []
    assert await runner.drain() == 4  # back, found written, receipted now
    await runner.stop()
    assert sink.batches == [4, 4]
    assert inbox(tmp_path, COUNTRY) == sorted(s.message_id for s in sent)
    receipts = await read_receipts(js, td)
    assert sorted(r.message_id for r in receipts) == sorted(s.message_id for s in sent)
    await drained(js, "folder")


async def test_a_slow_ack_does_not_fail_a_batch_whose_receipts_are_stored(
    server: NatsServer, td: TestDirectory, tmp_path: Path
) -> None:
    # The server freezes (SIGSTOP) once the batch's receipts are stored, for longer than
    # the runner waits for the answers to its acks: they are late, not lost. nats-py's
    # default wait (1 s) failed such a batch (nak'ed, redelivered) on a loaded cluster.
    nc = await nats.connect(server.url)
    try:
        await _slow_acks(server, nc.jetstream(), td, tmp_path)
    finally:
        await nc.close()


async def _slow_acks(
    server: NatsServer, js: JetStreamContext, td: TestDirectory, tmp_path: Path
) -> None:
    await fresh_streams(js)
    # The hub's consumer with a short ack_wait: the runner awaits its acks' answers 1 s.
    short = dataclasses.replace(sink_consumer_config(COUNTRY, "folder"), ack_wait=2.0)
    await ensure_consumer(js, "DELIVERY", short)
    sent = [await publish_delivery(js, td) for _ in range(3)]
    runner = runner_for(js, td, Batches(folder(tmp_path, COUNTRY)), "folder")
    pid = server.pid
    assert pid is not None

    async def freeze() -> None:
        os.kill(pid, signal.SIGSTOP)

    runner.receipts = Receipts(runner.receipts, after=freeze)  # type: ignore[assignment]
    await runner.start()
    msgs: list[Msg] = []
    while len(msgs) < 3:  # one batch of the three, however loaded the machine
        msgs += await fetch_batch(runner._sub, 3 - len(msgs), 1.0)  # type: ignore[arg-type]
    try:
        outcomes = await runner.handle_batch(msgs)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert outcomes == [Processed.DELIVERED] * 3  # done, not failed
    assert runner.acks_unanswered == 3  # late: the server was frozen

    for _ in range(100):  # the frozen server applies the acks once it runs again
        if not (await js.consumer_info("DELIVERY", runner.consumer)).num_ack_pending:
            break
        await asyncio.sleep(0.05)
    assert await runner.drain() == 0  # nothing nak'ed, nothing comes again
    await runner.stop()
    info = await js.consumer_info("DELIVERY", runner.consumer)
    assert (info.num_redelivered, info.num_ack_pending, info.num_pending) == (0, 0, 0)
    assert inbox(tmp_path, COUNTRY) == sorted(s.message_id for s in sent)
    assert [r.message_id for r in await read_receipts(js, td)] == [s.message_id for s in sent]
