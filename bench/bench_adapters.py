"""Sink runner throughput: deliveries/s from DELIVERY into each file sink, receipts included.

Each delivery is verified (Ed25519), written durably (fsync), receipted (a signed,
persisted JetStream publish) and acked — in order, a fetched batch at a time, as the runner
does. The backlog is published first, so this is the catch-up rate after an outage.

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
from pathlib import Path

import nats
from nats.js import JetStreamContext

from adapters.base import SinkContext
from adapters.registry import build_sink, sink_names
from adapters.runner import RunnerSettings, SinkRunner, consumer_name
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


async def _drain(runner: SinkRunner) -> float:
    """Deliveries/s of ``runner`` through its whole backlog."""
    await runner.start()
    start = time.perf_counter()
    done = await runner.drain()
    took = time.perf_counter() - start
    await runner.stop()
    return done / took


async def _run(url: str, root: Path, sink_name: str) -> None:
    td = make_directory(parties=("GT", "SV"), themes=("gangs",))
    nc = await nats.connect(url)
    js = nc.jetstream()
    await fresh_adapter_streams(js)
    # The hub makes every party's consumer of every installed sink, as in production.
    await ensure_sink_consumers(js, {cc: sink_names() for cc in PARTIES})
    for _ in range(DELIVERIES):
        await publish_delivery(js, td)
    rate = await _drain(_runner(js, td, root, "GT", sink_name))
    await nc.drain()
    print(f"sink runner, {sink_name:<8} {DELIVERIES} deliveries {rate:>9,.0f} deliveries/s")


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
    rate = await _drain(_runner(js, td, root, country, "folder"))
    await nc.drain()
    return hub.throughput, rate


async def main() -> None:
    """Print deliveries/s of the sink runner into the jsonl and folder sinks, and a folder
    sink's rate against the hub's in one run."""
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
                        await _run(server.url, root, sink_name)
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
