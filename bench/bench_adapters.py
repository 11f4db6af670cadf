"""Sink throughput: deliveries/s from DELIVERY into each file sink, receipts included.

Each delivery is verified (Ed25519), written durably (fsync), receipted (a signed,
persisted JetStream publish) and acked — in order, a fetched batch at a time. The backlog
is published first, so this is the catch-up rate after an outage. Each sink is measured
on the runner's own loop (``SinkRunner.drain``, before) and in the FastStream app
(:mod:`adapters.app`, what ``enlace adapter run`` runs now), in one run, on one server,
each with a backlog of its own (GT's and SV's); goal: the app ≥ 0.9× the loop.

Then, side by side in one run on one server: the hub's own rate (``bench_hub``'s end to
end run: signed messages in, two recipients each) and a folder sink draining what the hub
delivered to one recipient. Their ratio (deliveries/s ÷ hub msgs/s) says whether a
country's sink keeps up with the hub (goal ≥ 1.0).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import nats
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


def _runner(js: JetStreamContext, td: TestDirectory, root: Path, cc: str, sink: str) -> SinkRunner:
    context = SinkContext(country=cc, state_dir=root / "state", base_dir=root)
    options = {"path": f"{sink}-{cc}-out" + (".jsonl" if sink == "jsonl" else "")}
    return SinkRunner(
        js,
        build_sink(sink, options, context),
        lambda: td.directory,
        receipt_signer(td, cc),
        RunnerSettings(cc, sink),
        rng=random.Random(1),
    )


async def _timed(
    runner: SinkRunner, consume: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> tuple[float, float]:
    """Deliveries/s of ``consume`` (until its event is set) through ``runner``'s backlog,
    timed until the consumer has nothing pending nor unacked (polled every 10 ms), and this
    process's CPU milliseconds per delivery (less swayed by a busy machine than the rate)."""
    backlog = (await runner.js.consumer_info("DELIVERY", runner.consumer)).num_pending or 0
    stop = asyncio.Event()
    start, cpu = time.perf_counter(), time.process_time()
    running = asyncio.create_task(consume(stop))
    while True:
        info = await runner.js.consumer_info("DELIVERY", runner.consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.01)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    stop.set()
    await running
    return backlog / took, 1000 * cpu / max(backlog, 1)


async def _drain(runner: SinkRunner) -> tuple[float, float]:
    """Deliveries/s of ``runner``'s own loop through its whole backlog."""
    await runner.start()
    rate = await _timed(runner, runner.run)
    await runner.stop()
    return rate


async def _app_drain(
    url: str, make: Callable[[JetStreamContext], SinkRunner]
) -> tuple[float, float]:
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


async def main() -> None:
    """Print deliveries/s into the jsonl and folder sinks, the runner's loop against the
    FastStream app, and a folder sink's rate (the app) against the hub's in one run."""
    configure_logging(json_logs=True, level="warning")  # as bench_hub: per-message lines cost
    for part in ("sinks", "side by side"):
        # A server each: the hub's receipt recorder would read the first part's receipts.
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            config = NatsServerConfig(store_dir=root / "js", port=free_port())
            server = NatsServer(config, root / "nats-server.conf")
            server.start()
            try:
                if part == "sinks":
                    for sink_name in ("jsonl", "folder"):
                        loop, app = await _run(server.url, root, sink_name)
                        verdict = "met" if app >= 0.9 * loop else "NOT met"
                        print(f"{sink_name}: app ÷ loop {app / loop:.2f} (goal ≥ 0.9: {verdict})")
                else:
                    hub, sink = await side_by_side(server.url, root)
            finally:
                server.stop()
    print(f"hub, 2 recipients per message:       {hub:>9,.0f} msgs/s")
    print(f"folder sink, one recipient, same run: {sink:>9,.0f} deliveries/s")
    verdict = "met" if sink >= hub else "NOT met"
    print(f"sink ÷ hub: {sink / hub:.2f} (goal ≥ 1.0: {verdict})")


if __name__ == "__main__":
    asyncio.run(main())
