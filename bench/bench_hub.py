"""The hub end to end against raw JetStream, on one embedded nats-server, in one run.

1. raw JetStream: publish 2 KiB messages with awaited acks (64 in flight) while a pull
   consumer fetches and acks them: msgs/s until the last is acked;
2. the hub (2 workers, audit on): signed 2 KiB messages, 2 recipients each (one full view,
   one redacted view with the hub's countersignature): msgs/s from the first publish until
   the last outcome (deliveries, notice, audit and seen-id persisted, INGRESS acked);
3. latency at 500 msgs/s offered: publish → outcome, p50/p99;
4. a profile of the hub's own process time in a second, profiled run of (2): where the
   time goes (the profiler slows Python down, so (2) and (3) run without it);
5. a summary: each number against the issue's targets (hub ≥ half of raw JetStream with
   two workers; p99 < 50 ms at 500 msgs/s offered).

``sync_interval: always``: every acknowledged write is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import multiprocessing
import multiprocessing.process
import os
import pstats
import statistics
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from hub.app import HubApp, create_app
from hub.audit import AuditWriter, CheckpointSigner
from hub.config import HubSettings
from hub.logging import configure_logging
from hub.natsserver import NatsServer, NatsServerConfig, free_port
from hub.pipeline import Governance, HubSigner
from hub.pipeline_audit import AuditLogHook
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE
from tests.factories import TestDirectory
from tests.integration.hubkit import governance, signed_message

RAW_N = 3000
HUB_N = 2000
PROFILE_N = 1000
RATE = 500
RATE_SECONDS = 4
IN_FLIGHT = 64
SIZE = 2048
BATCH = int(os.environ.get("BENCH_BATCH", "64"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


async def _publish_window(nc: NatsClient, items: list[tuple[str, bytes, dict[str, str]]]) -> None:
    js = nc.jetstream()
    for start in range(0, len(items), IN_FLIGHT):
        await asyncio.gather(
            *(js.publish(s, b, headers=h) for s, b, h in items[start : start + IN_FLIGHT])
        )


async def raw_jetstream(url: str) -> float:
    """Publish with awaited acks + pull consume and ack, concurrently; returns msgs/s."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="RAW", subjects=["raw.>"]))
    sub = await js.pull_subscribe(
        "raw.>", durable="raw", stream="RAW", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    )
    body = b"x" * SIZE
    items = [(f"raw.{i % 9}", body, {HDR_MSG_ID: f"raw-{i}"}) for i in range(RAW_N)]
    done = 0

    async def consume() -> None:
        nonlocal done
        while done < RAW_N:
            with contextlib.suppress(TimeoutError):
                for msg in await sub.fetch(256, timeout=0.5):
                    await msg.ack()
                    done += 1

    started = time.perf_counter()
    await asyncio.gather(_publish_window(nc, items), consume())
    elapsed = time.perf_counter() - started
    await nc.close()
    return RAW_N / elapsed


class Outcomes:
    """When each message's outcome arrived (its deliveries and audit are persisted by then)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.target = 0
        self.reached = asyncio.Event()

    async def on(self, msg: Msg) -> None:
        self.at[json.loads(msg.data)["message_id"]] = time.perf_counter()
        if len(self.at) >= self.target:
            self.reached.set()

    async def wait(self, n: int, seconds: float = 120.0) -> None:
        self.target = n
        if len(self.at) < n:
            self.reached.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reached.wait(), seconds)


@dataclass
class _Hub:
    """One hub (app + audit writer) in this process."""

    nc: NatsClient
    writer: AuditWriter
    app: HubApp

    @classmethod
    async def start(cls, url: str, gov: Governance, signer: HubSigner, workers: int) -> _Hub:
        nc = await nats.connect(url)
        writer = await AuditWriter.open(
            nc.jetstream(), CheckpointSigner(signer.key, signer.kid), "hub"
        )
        app = create_app(
            HubSettings(nats_url=url, workers=workers, fetch_batch=BATCH),
            gov,
            signer,
            audit=AuditLogHook(writer),
        )
        await app.start()
        return cls(nc, writer, app)

    async def stop(self) -> None:
        await self.app.stop()
        await self.writer.close()
        await self.nc.close()


@dataclass
class _Child:
    process: multiprocessing.process.BaseProcess
    ready: EventType
    stop: EventType


def _fork_hub(url: str, gov: Governance, signer: HubSigner, workers: int) -> _Child:
    """A hub in a forked process (fork: the keys are not picklable, the child inherits them)."""
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    process = ctx.Process(target=_child_main, args=(url, gov, signer, workers, ready, stop))
    process.start()
    return _Child(process, ready, stop)


def _child_main(
    url: str, gov: Governance, signer: HubSigner, workers: int, ready: EventType, stop: EventType
) -> None:
    # Forked from inside the parent's running loop: Python 3.11 keeps that loop marked as
    # running in the child, so clear the mark before starting the child's own loop.
    asyncio.events._set_running_loop(None)

    async def serve() -> None:
        hub = await _Hub.start(url, gov, signer, workers)
        ready.set()
        await asyncio.to_thread(stop.wait)
        await hub.stop()

    asyncio.new_event_loop().run_until_complete(serve())


async def hub_end_to_end(
    url: str,
    n: int,
    profile: cProfile.Profile | None = None,
    paced: bool = True,
    processes: int = 0,
    cpu: dict[str, float] | None = None,
    server_pid: int | None = None,
) -> tuple[float, float, float]:
    """Hub msgs/s for ``n`` messages, then p50 and p99 latency (ms) at RATE msgs/s offered.

    The hub runs in this process with ``WORKERS`` workers, or with ``processes`` > 0 in
    that many forked processes of one worker each. With ``profile``, the throughput part
    runs under it (in-process hub only); with ``paced=False`` no latency part (p50 and
    p99 are then 0). With ``cpu`` (and ``server_pid``), the CPU time of this process and of
    nats-server during the throughput part is put there, in ms per message.
    """
    td, gov, signer = governance()
    children = [_fork_hub(url, gov, signer, 1) for _ in range(processes)]
    hub = None if children else await _Hub.start(url, gov, signer, WORKERS)
    for child in children:
        child.ready.wait(30)
    client = await nats.connect(url)
    outcomes = Outcomes()
    await client.subscribe("enlace.outcome.GT", cb=outcomes.on)
    try:
        batch = _signed(td, n)
        if profile is not None:
            profile.enable()
        started = time.perf_counter()
        cpu_before = (time.process_time(), _cpu_seconds(server_pid))
        kids_before = [_cpu_seconds(c.process.pid) for c in children]
        await _publish_window(
            client, [(s, raw, {HDR_SIGNATURE: jws, HDR_MSG_ID: mid}) for mid, s, raw, jws in batch]
        )
        await outcomes.wait(n)
        elapsed = time.perf_counter() - started
        if cpu is not None:
            cpu["this process (hub + bench client)"] = (time.process_time() - cpu_before[0]) / n
            cpu["nats-server"] = (_cpu_seconds(server_pid) - cpu_before[1]) / n
            for i, (c, before) in enumerate(zip(children, kids_before, strict=True)):
                cpu[f"hub process {i}"] = (_cpu_seconds(c.process.pid) - before) / n
        if profile is not None:
            profile.disable()
        throughput = len(outcomes.at) / elapsed
        if not paced:
            return throughput, 0.0, 0.0

        paced_batch = _signed(td, RATE * RATE_SECONDS)
        sent: dict[str, float] = {}
        js = client.jetstream()
        tasks = []
        t0 = time.perf_counter()
        for i, (mid, s, raw, jws) in enumerate(paced_batch):
            due = t0 + i / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[mid] = time.perf_counter()
            tasks.append(
                asyncio.create_task(
                    js.publish(s, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: mid})
                )
            )
        await asyncio.gather(*tasks)
        await outcomes.wait(n + len(paced_batch))
        lat = sorted((outcomes.at[m] - t) * 1000 for m, t in sent.items() if m in outcomes.at)
    finally:
        if hub is not None:
            await hub.stop()
        for child in children:
            child.stop.set()
            child.process.join(30)
        await client.close()
    p50 = statistics.median(lat)
    p99 = lat[int(len(lat) * 0.99) - 1]
    return throughput, p50, p99


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _signed(td: TestDirectory, n: int) -> list[tuple[str, str, bytes, str]]:
    """``n`` signed gang movements from GT, padded to about 2 KiB."""
    out = []
    for _ in range(n):
        message, raw, _ = signed_message(td)
        message["payload"]["summary"] = "s" * max(0, min(1000, SIZE - len(raw) + 200))
        raw, jws = td.sign(message)
        out.append((message["id"], "enlace.in.GT.gangs.gang_movement", raw, jws))
    return out


# Where a function's own time goes, by the first pattern its file or name matches.
_PARTS = (
    ("idle: waiting for the network (epoll)", ("poll' of 'select.epoll",)),
    ("socket send", ("'send' of '_socket",)),
    ("Ed25519 verify + sign", ("ed25519",)),
    ("nats-py client (publish, request, parse)", ("/nats/",)),
    ("asyncio machinery", ("/asyncio/", "_contextvars")),
    ("JSON encode/decode", ("/json/",)),
    ("pydantic validation", ("pydantic",)),
    ("audit log (entries, batches)", ("/hub/audit/", "pipeline_audit")),
    ("hub pipeline + policy", ("/hub/",)),
    ("schemas (envelope, JWS, directory, pycountry)", ("/schemas/", "pycountry")),
    ("bench's own publisher/listener", ("/bench/",)),
)


def _breakdown(stats: pstats.Stats, n: int) -> str:
    """The profiled run's own time grouped into parts, in ms per message."""
    totals: dict[str, float] = {}
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table untyped
    for (filename, _, name), (_, _, tottime, _, _) in table.items():
        where = f"{filename}:{name}"
        part = next(
            (p for p, keys in _PARTS if any(k in where for k in keys)),
            "builtins called from all of the above",
        )
        totals[part] = totals.get(part, 0.0) + tottime
    lines = ["where the time goes (profiled run, own time per message):"]
    for part, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {part:<46} {seconds / n * 1000:6.3f} ms")
    lines.append(f"  {'total':<46} {sum(totals.values()) / n * 1000:6.3f} ms")
    return "\n".join(lines)


def _summary(raw: float, hub: float, p50: float, p99: float, two: float, p99_two: float) -> str:
    """The final table: each result against the issue's target."""
    rows = [
        ("raw JetStream", f"{raw:,.0f} msgs/s", ""),
        (f"hub, {WORKERS} workers", f"{hub:,.0f} msgs/s", ""),
        ("hub / raw", f"{hub / raw:.2f}", "met" if hub / raw >= 0.5 else "NOT met (≥ 0.50)"),
        (f"p50 at {RATE} msgs/s", f"{p50:.1f} ms", ""),
        (f"p99 at {RATE} msgs/s", f"{p99:.1f} ms", "met" if p99 < 50 else "NOT met (< 50 ms)"),
        ("hub, 2 processes × 1", f"{two:,.0f} msgs/s", ""),
        ("  its ratio / p99", f"{two / raw:.2f} / {p99_two:.0f} ms", ""),
    ]
    lines = [f"{'summary':<22} {'result':>14}  target"]
    lines += [f"{name:<22} {value:>14}  {target}" for name, value, target in rows]
    return "\n".join(lines)


async def main() -> None:
    # Production logging: JSON lines; per-message "accepted" lines at info cost CPU too,
    # so the bench runs at warning like a busy deployment would (see the README).
    configure_logging(json_logs=True, level="warning")
    with tempfile.TemporaryDirectory() as tmp:
        config = NatsServerConfig(store_dir=Path(tmp) / "js", port=free_port())
        server = NatsServer(config, Path(tmp) / "nats.conf")
        server.start()
        try:
            raw = await raw_jetstream(server.url)
            print(
                f"raw JetStream (publish awaited ×{IN_FLIGHT} + pull/ack), 2 KiB: {raw:,.0f} msgs/s"
            )
            cpu: dict[str, float] = {}
            pid = server.process.pid if server.process else None
            hub, p50, p99 = await hub_end_to_end(server.url, HUB_N, cpu=cpu, server_pid=pid)
            print(f"hub end to end, {WORKERS} workers, 2 recipients, audit on: {hub:,.0f} msgs/s")
            print(
                f"latency publish → outcome at {RATE} msgs/s offered: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
            print(
                f"CPU per message during that run ({os.cpu_count()} cores): "
                + ", ".join(f"{who} {seconds * 1000:.2f} ms" for who, seconds in cpu.items())
            )
            two, p50_two, p99_two = await hub_end_to_end(server.url, HUB_N, processes=2)
            print(
                f"hub end to end, 2 processes × 1 worker: {two:,.0f} msgs/s; "
                f"at {RATE} msgs/s p50 {p50_two:.1f} ms, p99 {p99_two:.1f} ms"
            )
            profile = cProfile.Profile()
            profiled, _, _ = await hub_end_to_end(server.url, PROFILE_N, profile, paced=False)
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(18)
            print(f"profile of the process during a hub run ({profiled:,.0f} msgs/s profiled):")
            print(text.getvalue())
            print(_breakdown(pstats.Stats(profile), PROFILE_N))
            print(_summary(raw, hub, p50, p99, two, p99_two))
        finally:
            server.stop()
