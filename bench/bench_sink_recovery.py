"""Sink recovery after a NATS restart: how long a folder sink stalls, by the consumer's ack_wait.

A folder sink drains a backlog of deliveries; part-way, nats-server is killed (SIGKILL) and
started again on the same store. Deliveries fetched or acked just before the kill are lost
in flight: the server holds them as pending until ``ack_wait`` runs out, and with them the
consumer's ``max_ack_pending`` window. Printed per ack_wait: seconds from the restart until
the sink writes again at pace (a full fetch batch more on disk), and until the backlog is in.

The hub's consumer settings are measured; ``BENCH_RECOVERY_OLD=1`` also measures those of
before (``ack_wait`` 120 s, 32 pending; it then takes over two minutes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import nats

from adapters.base import SinkContext
from adapters.registry import build_sink
from adapters.runner import RunnerSettings, SinkRunner
from adapters.testing import fresh_adapter_streams, publish_delivery, receipt_signer
from hub.jetstream.consumers import (
    SINK_ACK_WAIT,
    SINK_MAX_ACK_PENDING,
    ensure_consumer,
    sink_consumer_config,
)
from hub.logging import configure_logging
from hub.server.process import NatsServer, NatsServerConfig, free_port
from schemas.testing import make_directory

DELIVERIES = 1500
KILL_AT = 300


def _count(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.json"))


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float) -> float:
    start = time.perf_counter()
    for _ in range(int(seconds / 0.05)):
        if await condition():
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Setting:
    """What the hub gives a sink's consumer, and the runner's batch."""

    name: str
    ack_wait: float
    max_ack_pending: int
    fetch_batch: int


BEFORE = Setting("before (120 s, 32 pending)", 120.0, 32, 32)
NOW = Setting(
    f"now ({SINK_ACK_WAIT:.0f} s + in-progress, {SINK_MAX_ACK_PENDING} pending)",
    SINK_ACK_WAIT,
    SINK_MAX_ACK_PENDING,
    RunnerSettings("GT", "folder").fetch_batch,
)


async def recovery(root: Path, setting: Setting) -> tuple[float, float]:
    """Seconds from the restart until the sink writes at pace again, and until every
    delivery is written, receipted and acked."""
    config = NatsServerConfig(store_dir=root / "js", port=free_port())
    server = NatsServer(config, root / "nats-server.conf")
    server.start()
    td = make_directory(parties=("GT", "SV"), themes=("gangs",))
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    try:
        await fresh_adapter_streams(js)
        wanted = dataclasses.replace(
            sink_consumer_config("GT", "folder"),
            ack_wait=setting.ack_wait,
            max_ack_pending=setting.max_ack_pending,
        )
        await ensure_consumer(js, "DELIVERY", wanted)
        for _ in range(DELIVERIES):
            await publish_delivery(js, td)
        folder = root / "inbox"
        context = SinkContext(country="GT", state_dir=root / "state", base_dir=root)
        runner = SinkRunner(
            js,
            build_sink("folder", {"path": "inbox"}, context),
            lambda: td.directory,
            receipt_signer(td, "GT"),
            RunnerSettings("GT", "folder", fetch_batch=setting.fetch_batch, fetch_timeout=0.5),
            rng=random.Random(1),
        )
        await runner.start()
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))

        async def written(count: int) -> bool:
            return _count(folder) >= count

        async def settled() -> bool:
            try:
                info = await js.consumer_info("DELIVERY", runner.consumer)
            except Exception:  # the server is restarting: ask again
                return False
            return bool(info.num_pending == 0 and info.num_ack_pending == 0)

        await _until(lambda: written(KILL_AT), 120)
        server.kill()
        server.start()
        at_restart = _count(folder)
        paced = await _until(lambda: written(at_restart + 2 * setting.fetch_batch), 300)
        done = await _until(settled, 300)
        stop.set()
        await task
        await runner.stop()
        return paced, paced + done
    finally:
        await nc.close()
        server.stop()


async def main() -> None:
    """Print the stall after a NATS restart for the hub's ack_wait (and 120 s if asked)."""
    configure_logging(json_logs=True, level="error")
    settings = [NOW] + ([BEFORE] if os.environ.get("BENCH_RECOVERY_OLD") else [])
    for setting in settings:
        with tempfile.TemporaryDirectory() as tmp:
            paced, done = await recovery(Path(tmp), setting)
        print(
            f"folder sink after a NATS restart, {setting.name}: writing at pace again after "
            f"{paced:5.1f} s; all {DELIVERIES} written, receipted and acked after {done:5.1f} s"
        )


if __name__ == "__main__":
    asyncio.run(main())
