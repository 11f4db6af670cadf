"""Sink throughput: deliveries/s from DELIVERY into each file sink, receipts included.

Each delivery is verified (Ed25519), written durably (fsync), receipted (a signed,
persisted JetStream publish) and acked — in order, a fetched batch at a time. The backlog
is published first, so this is the catch-up rate after an outage. Each sink is measured
on the runner's own loop (``SinkRunner.drain``, before) and in the FastStream app
(:mod:`adapters.app`, what ``enlace adapter run`` runs now), in one run, on one server,
each with a backlog of its own (GT's and SV's); goal: the app ≥ 0.9× the loop.

Then, side by side on one server, :data:`RUNS` times (a server each): the hub's own rate
(``bench_hub``'s end to end run: signed messages in, two recipients each, from the first
publish to the last outcome) and a folder sink draining what the hub delivered to one
recipient (in the FastStream app, from its first batch in hand to its last ack as the
server timed it: neither start-up is counted). Each message is one delivery to that
recipient, so the ratio (deliveries/s ÷ hub msgs/s) says whether a country's sink keeps
up with the hub; the goal (≥ 1.0) is judged on the median of the runs' ratios, each
printed: on a shared machine one run says little.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from adapters.app import AdapterApp
from adapters.base import SinkContext
from adapters.registry import build_sink, sink_names
from adapters.runner import RunnerSettings, SinkRunner, consumer_name
from adapters.service import RunningAdapter
from adapters.testing import fresh_adapter_streams, publish_delivery, receipt_signer
from bench.bench_hub import _governance, hub_end_to_end
from hub.jetstream.consumers import ensure_sink_consumers
from hub.logging import configure_logging
from hub.server.process import NatsServer, NatsServerConfig, free_port
from schemas.common import PARTIES
from schemas.testing import TestDirectory, make_directory

DELIVERIES = 500
HUB_N = 1500
T = TypeVar("T")

RUNS = 3
"""Side-by-side runs (hub, then sink, each on a server of its own): the verdict is their
median's."""
POLL = 0.1
"""Seconds between looks at a draining sink's consumer (each look costs the sink's process
and the server a request)."""


def _runner(js: JetStreamContext, td: TestDirectory, root: Path, cc: str, sink: str) -> _Timed:
    context = SinkContext(country=cc, state_dir=root / "state", base_dir=root)
    options = {"path": f"{sink}-{cc}-out" + (".jsonl" if sink == "jsonl" else "")}
    return _Timed(
        js,
        build_sink(sink, options, context),
        lambda: td.directory,
        receipt_signer(td, cc),
        RunnerSettings(cc, sink),
        rng=random.Random(1),
    )


class _Timed(SinkRunner):
    """A runner that notes when it is first handed a batch: its clock starts there, so
    that neither the app's start-up nor the bench's own set-up is counted."""

    first: float | None = None

    async def settle(self, msgs: list[Msg], *, overlap: bool = False) -> None:
        if self.first is None and msgs:
            self.first = time.time()
        await super().settle(msgs, overlap=overlap)


async def _timed(
    runner: _Timed, consume: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> tuple[float, float]:
    """Deliveries/s of ``consume`` (until its event is set) through ``runner``'s backlog,
    from the first batch in hand to the last ack as the server timed it (its consumer's
    ack floor), and this process's CPU milliseconds per delivery (less swayed by a busy
    machine than the rate). The consumer is polled every :data:`POLL` seconds to see
    that nothing is pending nor unacked: the poll sets no time, and is rare enough that
    the sink it watches does not pay for it."""
    backlog = (await runner.js.consumer_info("DELIVERY", runner.consumer)).num_pending or 0
    stop = asyncio.Event()
    cpu = time.process_time()
    running = asyncio.create_task(consume(stop))
    while True:
        await asyncio.sleep(POLL)
        info = await runner.js.consumer_info("DELIVERY", runner.consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
    cpu = time.process_time() - cpu
    stop.set()
    await running
    last_ack = info.ack_floor.last_active if info.ack_floor else None
    if runner.first is None or last_ack is None:
        raise RuntimeError(f"{runner.consumer}: nothing was delivered")
    return backlog / (last_ack.timestamp() - runner.first), 1000 * cpu / max(backlog, 1)


async def _drain(runner: _Timed) -> tuple[float, float]:
    """Deliveries/s of ``runner``'s own loop through its whole backlog."""
    await runner.start()
    rate = await _timed(runner, runner.run)
    await runner.stop()
    return rate


async def _app_drain(url: str, make: Callable[[JetStreamContext], _Timed]) -> tuple[float, float]:
    """Deliveries/s of a runner ``make`` makes, as the FastStream app's subscriber (on a
    connection of its own, which the app closes), through its backlog."""
    nc = await nats.connect(url)
    runner = make(nc.jetstream())
    await runner.sink.open()
    await runner.prepare()
    app = AdapterApp()
    app.add(RunningAdapter(nc, [runner]))
    rate = await _timed(runner, app.run)
    await runner.sink.close()
    return rate


async def _run(url: str, root: Path, sink_name: str) -> tuple[float, float]:
    """Deliveries/s of ``sink_name`` on the runner's loop and in the app: each twice, in
    the order loop, app, app, loop (on GT's, SV's, HN's and US's backlogs), so that neither
    gains from going first or last on a machine whose load drifts; the means."""
    order = [("GT", "loop"), ("SV", "app"), ("HN", "app"), ("US", "loop")]
    td = make_directory(parties=("GT", "SV", "HN", "US"), themes=("gangs",))
    nc = await nats.connect(url)
    js = nc.jetstream()
    await fresh_adapter_streams(js)
    # The hub makes every party's consumer of every installed sink, as in production.
    await ensure_sink_consumers(js, {cc: sink_names() for cc in PARTIES})
    for _ in range(DELIVERIES):
        for cc, _way in order:
            await publish_delivery(js, td, recipient=cc)
    rates: dict[str, list[tuple[float, float]]] = {"loop": [], "app": []}
    for cc, way in order:
        if way == "loop":
            rates[way].append(await _drain(_runner(js, td, root, cc, sink_name)))
        else:
            rates[way].append(
                await _app_drain(url, partial(_runner, td=td, root=root, cc=cc, sink=sink_name))
            )
    await nc.drain()
    loop, app = (sum(r for r, _ in rates[w]) / len(rates[w]) for w in ("loop", "app"))
    for label, way in (("sink runner loop", "loop"), ("FastStream app  ", "app")):
        each = " and ".join(f"{r:,.0f}" for r, _ in rates[way])
        cpu = " and ".join(f"{c:.2f}" for _, c in rates[way])
        print(
            f"{label} {sink_name:<7} {DELIVERIES} deliveries: {each} deliveries/s, "
            f"CPU {cpu} ms each"
        )
    return loop, app


async def side_by_side(url: str, root: Path) -> tuple[float, float]:
    """The hub's msgs/s, then a folder sink's deliveries/s for its busiest recipient."""
    hub = await hub_end_to_end(url, HUB_N)
    td, _, _ = _governance()
    nc = await nats.connect(url)
    js = nc.jetstream()
    codes = [party.code for party in td.directory.parties]
    # Made after the run: a consumer delivers from the start of DELIVERY all the same.
    await ensure_sink_consumers(js, {cc: ["folder"] for cc in codes})
    pending = {
        cc: (await js.consumer_info("DELIVERY", consumer_name(cc, "folder"))).num_pending
        for cc in codes
    }
    country = max(pending, key=lambda cc: pending[cc])
    rate, _ = await _app_drain(url, lambda js: _runner(js, td, root, country, "folder"))
    await nc.drain()
    return hub.throughput, rate


async def _on_own_server(part: Callable[[str, Path], Coroutine[Any, Any, T]]) -> T:
    """``part`` on a nats-server of its own, in a folder of its own (a hub's receipt
    recorder would read another part's receipts)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = NatsServerConfig(store_dir=root / "js", port=free_port())
        server = NatsServer(config, root / "nats-server.conf")
        server.start()
        try:
            return await part(server.url, root)
        finally:
            server.stop()


async def _sinks(url: str, root: Path) -> None:
    for sink_name in ("jsonl", "folder"):
        loop, app = await _run(url, root, sink_name)
        verdict = "met" if app >= 0.9 * loop else "NOT met"
        print(f"{sink_name}: app ÷ loop {app / loop:.2f} (goal ≥ 0.9: {verdict})")


async def main() -> None:
    """Print deliveries/s into the jsonl and folder sinks, the runner's loop against the
    FastStream app, and, :data:`RUNS` times, a folder sink's rate (the app) against the
    hub's in one run, with the median of their ratios."""
    configure_logging(json_logs=True, level="warning")  # as bench_hub: per-message lines cost
    await _on_own_server(_sinks)
    ratios = []
    for run in range(1, RUNS + 1):
        hub, sink = await _on_own_server(side_by_side)
        ratios.append(sink / hub)
        print(
            f"side by side, run {run} of {RUNS}: hub {hub:,.0f} msgs/s (2 recipients per "
            f"message), folder sink {sink:,.0f} deliveries/s (one recipient): "
            f"sink ÷ hub {sink / hub:.2f}",
            flush=True,
        )
    median = statistics.median(ratios)
    verdict = "met" if median >= 1.0 else "NOT met"
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"sink ÷ hub: {each}; median {median:.2f} (goal ≥ 1.0: {verdict})")


if __name__ == "__main__":
    asyncio.run(main())
