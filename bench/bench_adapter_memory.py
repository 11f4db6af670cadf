"""Resident memory of the demo's nine sinks: a process each, against one process for all.

``enlace init --demo`` configures one folder sink per party. Before: each country's sinks
in an ``enlace adapter run --country CC`` process of its own, on the runner's own loop
(``--engine loop``), as ``enlace up`` ran them — nine for the demo. Now: all nine in the
one FastStream app ``enlace up`` runs (``enlace adapter run --all``: a broker per
country, a subscriber per sink, one event loop). The sum of the processes' resident
memory (VmRSS) is printed once every sink is consuming.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats

from adapters.config import load_adapters_config
from adapters.testing import fresh_adapter_streams
from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.jetstream.consumers import ensure_sink_consumers
from hub.server.process import NatsServer, NatsServerConfig, free_port, terminate

ENLACE = str(Path(sys.executable).parent / "enlace")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _consuming(logs: list[Path], sinks: int) -> bool:
    return sum(p.read_text().count("consuming") for p in logs if p.exists()) >= sinks


def _measure(home: Path, url: str, commands: list[list[str]], sinks: int) -> float:
    """Start ``commands``, wait until ``sinks`` runners consume, return their RSS in MB."""
    logs = [home / f"adapter-{i}.log" for i in range(len(commands))]
    procs = []
    for command, log in zip(commands, logs, strict=True):
        with log.open("wb") as out:
            argv = [ENLACE, "--home", str(home), "adapter", "run", *command, "--nats-url", url]
            procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 120
        while not _consuming(logs, sinks) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # settled: first fetches made
        return sum(_rss_mb(p.pid) for p in procs)
    finally:
        for proc in procs:
            terminate(proc, 10)


async def _streams(url: str, home: Path) -> list[str]:
    countries = list(load_adapters_config(home).countries)
    nc = await nats.connect(url)
    js = nc.jetstream()
    await fresh_adapter_streams(js)
    await ensure_sink_consumers(js, {cc: ["folder"] for cc in countries})
    await nc.drain()
    return countries


def main() -> None:
    """Print the resident memory of the demo's nine sinks, nine processes against one."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "demo"
        init_demo(Deployment(home))
        config = NatsServerConfig(store_dir=root / "js", port=free_port())
        server = NatsServer(config, root / "nats-server.conf")
        server.start()
        try:
            countries = asyncio.run(_streams(server.url, home))
            each = [["--country", cc, "--engine", "loop"] for cc in countries]
            apart = _measure(home, server.url, each, 9)
            together = _measure(home, server.url, [["--all"]], 9)
        finally:
            server.stop()
    print(f"demo's {len(countries)} sinks, a runner process each: {apart:6.0f} MB resident")
    print(f"demo's {len(countries)} sinks, one FastStream app:   {together:6.0f} MB resident")
    print(f"one process ÷ a process each: {together / apart:.2f} (goal < 0.33)")


if __name__ == "__main__":
    main()
