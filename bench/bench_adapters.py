"""Sink runner throughput: deliveries/s from DELIVERY into each file sink, receipts included.

Each delivery is verified (Ed25519), written durably (fsync), receipted (a signed,
persisted JetStream publish) and acked — one at a time, in order, as the runner does.
The backlog is published first, so this is the catch-up rate after an outage.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import nats

from adapters.base import SinkContext
from adapters.registry import build_sink, sink_names
from adapters.runner import RunnerSettings, SinkRunner
from adapters.testing import fresh_adapter_streams, publish_delivery, receipt_signer
from hub.jetstream.consumers import ensure_sink_consumers
from hub.server.process import NatsServer, NatsServerConfig, free_port
from schemas.common import PARTIES
from schemas.testing import make_directory

DELIVERIES = 500


async def _run(url: str, root: Path, sink_name: str) -> None:
    td = make_directory(parties=("GT", "SV"), themes=("gangs",))
    nc = await nats.connect(url)
    js = nc.jetstream()
    await fresh_adapter_streams(js)
    # The hub makes every party's consumer of every installed sink, as in production.
    await ensure_sink_consumers(js, {cc: sink_names() for cc in PARTIES})
    for _ in range(DELIVERIES):
        await publish_delivery(js, td)
    context = SinkContext(country="GT", state_dir=root / "state", base_dir=root)
    options = {"path": f"{sink_name}-out" + (".jsonl" if sink_name == "jsonl" else "")}
    runner = SinkRunner(
        js,
        build_sink(sink_name, options, context),
        lambda: td.directory,
        receipt_signer(td, "GT"),
        RunnerSettings("GT", sink_name, fetch_batch=64, fetch_timeout=0.2),
        rng=random.Random(1),
    )
    await runner.start()
    start = time.perf_counter()
    done = await runner.drain()
    took = time.perf_counter() - start
    await runner.stop()
    await nc.drain()
    print(f"sink runner, {sink_name:<8} {DELIVERIES} deliveries {done / took:>9,.0f} deliveries/s")


async def main() -> None:
    """Print deliveries/s of the sink runner into the jsonl and folder sinks."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = NatsServerConfig(store_dir=root / "js", port=free_port())
        server = NatsServer(config, root / "nats-server.conf")
        server.start()
        try:
            for sink_name in ("jsonl", "folder"):
                await _run(server.url, root, sink_name)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
