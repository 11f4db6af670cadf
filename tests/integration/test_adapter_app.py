"""The adapter process on FastStream (:mod:`adapters.app`) on a real nats-server.

Several countries' sinks in one app (an integrator's Python handler among them), a broker
(a connection) per country: every delivery is written once, in stream order, receipted,
then acked — also when the deliveries come one by one, so that a fetch's deadline runs
out with part of a batch in hand (FastStream's own batch loop drops that part unacked:
redelivered later, out of order). A stop lets the batch in hand finish, also when the
server is away. Real crypto, files and JetStream; no mocks.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from adapters.app import AdapterApp
from adapters.base import DeliveryResult, Sink, SinkContext
from adapters.config import RetrySettings
from adapters.delivery import Delivery
from adapters.registry import build_sink
from adapters.runner import RunnerSettings, SinkRunner, consumer_name
from adapters.service import RunningAdapter
from hub.server.process import NatsServer
from schemas.receipts import ReceiptStatus
from schemas.testing import TestDirectory, make_directory
from tests.integration import python_handler
from tests.integration.sinkkit import (
    WrappedSink,
    fresh_streams,
    publish_delivery,
    read_receipts,
    receipt_signer,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "SV", "US"), themes=("gangs",))


@dataclass
class Gated(WrappedSink):
    """A real jsonl sink whose batches wait for ``gate``; ``entered`` is set at the first."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        return (await self.deliver_batch([delivery]))[0]

    async def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        self.entered.set()
        await self.gate.wait()
        inner = self.inner
        assert hasattr(inner, "deliver_batch")
        results: list[DeliveryResult] = await inner.deliver_batch(deliveries)
        return results


def jsonl_runner(
    js: JetStreamContext,
    td: TestDirectory,
    root: Path,
    country: str,
    kind: str,
    wrap: Callable[[Sink], Sink],
) -> SinkRunner:
    context = SinkContext(country=country, state_dir=root / country, base_dir=root)
    options = {"path": f"{kind}-{country}" + (".jsonl" if kind == "jsonl" else "")}
    if kind == "python":  # an integrator's own handler
        options = {"handler": "tests.integration.python_handler:deliver"}
    settings = RunnerSettings(
        country, kind, RetrySettings(max_attempts=2, backoff_base=0.01), fetch_timeout=0.3
    )
    sink = wrap(build_sink(kind, options, context))
    return SinkRunner(js, sink, lambda: td.directory, receipt_signer(td, country), settings)


async def app_of(
    url: str,
    td: TestDirectory,
    root: Path,
    sinks: dict[str, list[str]],
    wrap: Callable[[Sink], Sink] = lambda sink: sink,
) -> AdapterApp:
    """An app with a connection (a broker) per country for its ``sinks`` (kinds), open."""
    app = AdapterApp()
    for country, kinds in sinks.items():
        nc = NatsClient()
        await nc.connect(url)
        runners = [jsonl_runner(nc.jetstream(), td, root, country, kind, wrap) for kind in kinds]
        for runner in runners:
            await runner.sink.open()
            await runner.prepare()
        app.add(RunningAdapter(nc, runners))
    return app


def url_of(nc: NatsClient) -> str:
    assert nc.connected_url is not None
    return nc.connected_url.geturl()


def written_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


async def settled(js: JetStreamContext, pairs: list[tuple[str, str]]) -> None:
    """Wait until every (country, sink) consumer has nothing pending nor unacked."""
    for _ in range(300):
        infos = [await js.consumer_info("DELIVERY", consumer_name(*p)) for p in pairs]
        if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not settled: {[(i.name, i.num_pending) for i in infos]}")


async def test_every_delivery_once_in_stream_order_also_one_by_one(
    js: JetStreamContext, nc: NatsClient, td: TestDirectory, tmp_path: Path
) -> None:
    sent: list[tuple[str, str]] = []  # (recipient, message id), as published

    async def publish(cc: str) -> None:
        sent.append((cc, (await publish_delivery(js, td, recipient=cc)).message_id))

    for cc in ("GT", "SV") * 20:
        await publish(cc)
    sinks = {"GT": ["jsonl", "folder", "python"], "SV": ["jsonl"]}
    python_handler.RECEIVED.clear()
    app = await app_of(url_of(nc), td, tmp_path, sinks)
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    rng = random.Random(5)
    for _ in range(40):  # one at a time: fetches end with part of a batch in hand
        await publish(rng.choice(("GT", "SV")))
        await asyncio.sleep(rng.uniform(0, 0.08))
    pairs = [("GT", "jsonl"), ("GT", "folder"), ("GT", "python"), ("SV", "jsonl")]
    await settled(js, pairs)
    stop.set()
    await running
    await app.close()

    for cc in ("GT", "SV"):
        expected = [mid for to, mid in sent if to == cc]
        assert written_ids(tmp_path / f"jsonl-{cc}.jsonl") == expected  # once each, in order
    handed_over = [d.message_id for d in python_handler.RECEIVED]
    assert handed_over == [mid for to, mid in sent if to == "GT"]
    folder = {p.name.split(".")[0] for p in (tmp_path / "folder-GT").glob("*.json")}
    assert folder == {mid for to, mid in sent if to == "GT"}
    for pair in pairs:  # nothing was dropped unacked and came back later
        assert (await js.consumer_info("DELIVERY", consumer_name(*pair))).num_redelivered == 0
    receipts = [(r.message_id, r.recipient, r.sink) for r in await read_receipts(js, td)]
    sinks_of = {"GT": ("jsonl", "folder", "python"), "SV": ("jsonl",)}
    expected_receipts = [(mid, to, sink) for to, mid in sent for sink in sinks_of[to]]
    assert sorted(receipts) == sorted(expected_receipts)


async def test_a_stop_lets_the_batch_in_hand_finish(
    js: JetStreamContext, nc: NatsClient, td: TestDirectory, tmp_path: Path
) -> None:
    gated: list[Gated] = []

    def wrap(sink: Sink) -> Sink:
        gated.append(Gated(sink))
        return gated[-1]

    sent = [await publish_delivery(js, td) for _ in range(5)]
    app = await app_of(url_of(nc), td, tmp_path, {"GT": ["jsonl"]}, wrap)
    (sink,) = gated
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    await asyncio.wait_for(sink.entered.wait(), 10)
    stop.set()  # while the batch is in the sink's hands
    await asyncio.sleep(0.3)
    assert not running.done()  # it waits for the batch
    sink.gate.set()
    await asyncio.wait_for(running, 10)
    await app.close()
    assert written_ids(tmp_path / "jsonl-GT.jsonl") == [s.message_id for s in sent]
    statuses = [r.status for r in await read_receipts(js, td)]
    assert statuses == [ReceiptStatus.DELIVERED] * 5
    info = await js.consumer_info("DELIVERY", consumer_name("GT", "jsonl"))
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_it_stops_while_the_server_is_away(
    server: NatsServer, td: TestDirectory, tmp_path: Path
) -> None:
    nc = NatsClient()
    await nc.connect(server.url)
    await fresh_streams(nc.jetstream())
    await nc.drain()
    app = await app_of(server.url, td, tmp_path, {"GT": ["jsonl"], "SV": ["jsonl"]})
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    await asyncio.sleep(0.5)
    server.stop()  # the connections start reconnecting
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(running, 5)  # no error for a connection that cannot drain
    await app.close()
