"""The hub end to end against raw JetStream, on one embedded nats-server, in one run.

Every message comes from a publisher in a process of its own (``bench/publisher.py``),
like a point of contact; the measured side runs in this process.

1. raw JetStream: the publisher publishes 2 KiB messages with awaited acks (64 in
   flight) while this process pull-consumes and acks them: msgs/s until the last ack
   (1–3 run back to back, ``ROUNDS`` times: each ratio of the summary is the median of
   its rounds', each round's hub against that round's floor and raw);
2. the floor: the hub's JetStream writes alone (the id's KV claim holding the routing
   record with ``seen_ids: bucket``, two deliveries, the outcome, the ack) with the
   hub's concurrency and none of its Python (``bench/hub_floor.py``): the ceiling
   storage sets for the hub on this machine; then the same with each recipient's
   deliveries in a stream of its own (a what-if for the design: JetStream syncs one
   stream's writes one after the other, and DELIVERY is the one written twice per
   message);
3. the hub (2 workers, audit on): signed 2 KiB messages, 2 recipients each (one full
   view, one redacted view with the hub's countersignature): msgs/s from the first
   publish until the last outcome (deliveries, notice, audit and seen id persisted,
   INGRESS acked), the CPU each process spent per message, and the synced writes made
   per message (each stream's messages stored during the run ÷ messages: a count the
   machine's load does not blur);
4. latency at 25 %, 50 % and 75 % of the capacity (3) measured in the same run:
   publish → outcome, p50/p99 (a fixed rate would mean another load on every machine);
5. the hub as 2 processes of one worker each;
6. a profile of the hub in a profiled run of (3): where the time goes;
7. the fan-out: the same messages to the eight other parties (two full views, six
   redacted, each countersigned), on a server of its own: what a report to the whole
   exchange costs (:func:`hub.testing.fanout_governance`);
8. a summary: each goal met or NOT met — hub ≥ 0.85× its floor, floor ≥ 0.6× raw, the
   hub process's CPU ≤ 0.6 ms per message, p99 < 50 ms at half load.

``sync_interval: always``: every acknowledged write is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import functools
import io
import multiprocessing
import multiprocessing.process
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from bench.hub_floor import floor_writes, hub_floor
from bench.publisher import Item, start_publisher
from bench.summary import HubRun, Round, cpu_line, summary
from bench.writes import per_message, stored_writes, writes_line
from hub.app import HubApp, create_app
from hub.audit import AuditWriter, CheckpointSigner
from hub.audit.inflight import DEPTH
from hub.config import HubSettings
from hub.governance import Governance, HubSigner
from hub.jetstream import pull
from hub.jetstream.streams import ensure_audit_streams
from hub.logging import configure_logging
from hub.pipeline.audit_hook import AuditLogHook
from hub.server.process import NatsServer, NatsServerConfig, free_port
from hub.testing import FANOUT_FULL, FANOUT_RECIPIENTS, fanout_governance, governance
from hub.up import heap
from hub.up.loop import run as run_loop
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, outcome_filter
from schemas.testing import TestDirectory, signed_message

RAW_N = 4000
HUB_N = 3000
PROFILE_N = 1000
LOADS = (0.25, 0.5, 0.75)  # shares of the measured capacity offered for latency
LOAD_SECONDS = 4
ROUNDS = 3
"""Raw JetStream, the floor and the hub are measured back to back this many times, and
each ratio is the median of its rounds': the disk's speed drifts between minutes more
than within one round (raw JetStream 615–2,654 msgs/s on one machine in one day)."""
SIZE = 2048
BATCH = int(os.environ.get("BENCH_BATCH", "64"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
AUDIT_DEPTH = int(os.environ.get("BENCH_AUDIT_DEPTH", str(DEPTH)))  # audit batches in flight


def fetch_as_before() -> None:
    """``BENCH_ALWAYS_FETCH_REST=1``: the hub's pull loop makes its second fetch even when
    nothing is pending, as before it read ``num_pending`` (for A/B runs; bench only)."""
    if os.environ.get("BENCH_ALWAYS_FETCH_REST") == "1":
        vars(pull)["_more_behind"] = lambda msg: True


async def raw_jetstream(url: str) -> float:
    """Publish (another process) with awaited acks + pull consume and ack; returns msgs/s."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="RAW", subjects=["raw.>"]))
    sub = await js.pull_subscribe(
        "raw.>", durable="raw", stream="RAW", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    )
    body = b"x" * SIZE
    items = [(f"raw-{i}", f"raw.{i % 9}", body, {HDR_MSG_ID: f"raw-{i}"}) for i in range(RAW_N)]
    publisher = start_publisher(url, items)
    await asyncio.to_thread(publisher.ready.wait, 60)
    publisher.go.set()
    done = 0
    while done < RAW_N:
        with contextlib.suppress(TimeoutError):
            for msg in await sub.fetch(256, timeout=0.5):
                await msg.ack()
                done += 1
    ended = time.perf_counter()
    started = (await asyncio.to_thread(publisher.result)).started
    await js.delete_stream("RAW")  # the next round starts afresh (ids, de-duplication)
    await nc.close()
    return RAW_N / (ended - started)


@dataclass
class _Hub:
    """One hub (app + audit writer) in this process."""

    nc: NatsClient
    writer: AuditWriter
    app: HubApp

    @classmethod
    async def start(cls, url: str, gov: Governance, signer: HubSigner, workers: int) -> _Hub:
        nc = await nats.connect(url)
        settings = HubSettings(nats_url=url, workers=workers, fetch_batch=BATCH)
        await ensure_audit_streams(nc.jetstream(), settings)
        writer = await AuditWriter.open(
            nc.jetstream(), CheckpointSigner(signer.key, signer.kid), "hub", depth=AUDIT_DEPTH
        )
        app = create_app(
            settings,
            gov,
            signer,
            audit=AuditLogHook(writer),
        )
        await app.start()
        heap.settle()  # as `enlace up` does once the hub has started
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

    run_loop(serve(), use_uvloop=HubSettings().uvloop)  # the loop `enlace up` runs on


async def hub_end_to_end(
    url: str,
    n: int,
    *,
    rate: float = 0.0,
    processes: int = 0,
    profile: cProfile.Profile | None = None,
    server_pid: int | None = None,
    instrument: Callable[[_Hub], None] | None = None,
    fanout: bool = False,
) -> HubRun:
    """The hub handling ``n`` signed messages from a publisher process.

    Args:
        url: the nats-server.
        n: how many messages the publisher sends.
        rate: messages per second the publisher offers (0: as fast as acks come; > 0 to
            measure latency).
        processes: run the hub in that many forked processes of one worker each (0: in
            this process with ``WORKERS`` workers).
        profile: run the in-process hub under this profiler.
        server_pid: the nats-server's process, whose CPU per message is reported too.
        instrument: called with the in-process hub before the publisher starts
            (``bench/steps.py`` times each step there).
        fanout: each message goes to the eight other parties (``fanout_governance``),
            not to two.

    Returns:
        What the publisher saw, and each process's CPU per message.
    """
    td, gov, signer = _governance(fanout)
    children = [_fork_hub(url, gov, signer, 1) for _ in range(processes)]
    hub = None if children else await _Hub.start(url, gov, signer, WORKERS)
    if hub is not None and instrument is not None:
        instrument(hub)
    for child in children:
        child.ready.wait(30)
    publisher = start_publisher(url, _signed(td, n), rate=rate, outcomes=outcome_filter("GT"))
    try:
        await asyncio.to_thread(publisher.ready.wait, 60)
        pids = {"nats-server": server_pid} | {
            f"hub process {i}": c.process.pid for i, c in enumerate(children)
        }
        before = time.process_time(), {who: _cpu_seconds(pid) for who, pid in pids.items()}
        stored = await stored_writes(url)
        if profile is not None:
            profile.enable()
        publisher.go.set()
        published = await asyncio.to_thread(publisher.result)
        if profile is not None:
            profile.disable()
        cpu = (
            {} if children else {"this process (hub)": (time.process_time() - before[0]) * 1000 / n}
        )
        cpu |= {who: (_cpu_seconds(pid) - before[1][who]) * 1000 / n for who, pid in pids.items()}
        after = await stored_writes(url)
        writes = per_message(stored, after, n)
    finally:
        if hub is not None:
            await hub.stop()
        for child in children:
            child.stop.set()
            child.process.join(30)
    return HubRun(published, cpu, writes)


@functools.cache
def _governance(fanout: bool = False) -> tuple[TestDirectory, Governance, HubSigner]:
    """One governance (one hub key) for every run of a kind: each run's audit writer then
    resumes from the previous run's checkpoint instead of re-reading the log (the fan-out
    runs, another hub key, on a server of their own)."""
    return fanout_governance() if fanout else governance()


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _signed(td: TestDirectory, n: int) -> list[Item]:
    """``n`` signed gang movements from GT, padded to about 2 KiB."""
    out: list[Item] = []
    for _ in range(n):
        message, raw, _ = signed_message(td)
        message["payload"]["summary"] = "s" * max(0, min(1000, SIZE - len(raw) + 200))
        raw, jws = td.sign(message)
        mid = message["id"]
        headers = {HDR_SIGNATURE: jws, HDR_MSG_ID: mid}
        out.append((mid, "enlace.in.GT.gangs.gang_movement", raw, headers))
    return out


# Where a function's own time goes, by the first pattern its file or name matches.
_PARTS = (
    ("idle: waiting for the network (epoll)", ("poll' of 'select.epoll",)),
    ("socket send", ("'send' of '_socket",)),
    ("Ed25519 verify (libsodium) + sign (OpenSSL)", ("ed25519", "crypto_sign", "/nacl/")),
    ("nats-py client (publish, request, parse)", ("/nats/",)),
    ("asyncio machinery", ("/asyncio/", "_contextvars")),
    ("JSON encode/decode", ("/json/",)),
    ("pydantic validation", ("pydantic",)),
    ("audit log (entries, batches)", ("/hub/audit/", "/hub/pipeline/audit_hook")),
    ("hub pipeline + policy", ("/hub/",)),
    ("schemas (envelope, JWS, directory, pycountry)", ("/schemas/", "pycountry")),
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


@contextlib.contextmanager
def bench_server() -> Iterator[NatsServer]:
    """A fresh embedded nats-server in a temporary directory, stopped after; the bench's
    logging (warning) and the hub's fetch as the bench asks (``fetch_as_before``)."""
    # Production logging: JSON lines; per-message "accepted" lines at info cost CPU too,
    # so the bench runs at warning like a busy deployment would (see the README).
    configure_logging(json_logs=True, level="warning")
    fetch_as_before()
    with tempfile.TemporaryDirectory() as tmp:
        config = NatsServerConfig(store_dir=Path(tmp) / "js", port=free_port())
        server = NatsServer(config, Path(tmp) / "nats.conf")
        server.start()
        try:
            yield server
        finally:
            server.stop()


async def _round(url: str, server_pid: int | None, number: int) -> Round:
    """One round of raw JetStream, the floor and the hub at full load, printed."""
    print(f"round {number} of {ROUNDS}:")
    raw = await raw_jetstream(url)
    print(f"  raw JetStream (publish awaited ×64 + pull/ack), 2 KiB: {raw:,.0f} msgs/s")
    claim = HubSettings().seen_ids == "bucket"
    floor = await hub_floor(url, HUB_N, b"x" * SIZE, WORKERS * BATCH, claim=claim)
    print(f"  floor: the hub's writes alone ({floor_writes(claim)}): {floor:,.0f} msgs/s")
    split = await hub_floor(url, HUB_N, b"x" * SIZE, WORKERS * BATCH, claim=claim, split=True)
    print(f"  floor, split (what-if: each recipient's deliveries a stream): {split:,.0f} msgs/s")
    hub = await hub_end_to_end(url, HUB_N, server_pid=server_pid)
    print(f"  hub, {WORKERS} workers, 2 recipients, audit on: {hub.throughput:,.0f} msgs/s")
    print(f"    CPU per message ({os.cpu_count()} cores): {cpu_line(hub)}")
    print(f"    synced writes per message: {writes_line(hub.writes)}")
    return Round(raw, floor, hub, split)


async def main() -> None:
    """Print raw JetStream, the floor, the hub, its latency, its profile and the summary."""
    with bench_server() as server:
        pid = server.process.pid if server.process else None
        rounds = [await _round(server.url, pid, i + 1) for i in range(ROUNDS)]
        hub = sorted(rounds, key=lambda r: r.hub.throughput)[len(rounds) // 2].hub
        paced: dict[float, HubRun] = {}
        for load in LOADS:
            rate = hub.throughput * load
            n = max(int(rate * LOAD_SECONDS), 50)
            paced[load] = await hub_end_to_end(server.url, n, rate=rate)
            p50, p99 = paced[load].latency_ms()
            print(
                f"publish → outcome at {load:.0%} of capacity ({rate:,.0f} msgs/s offered): "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
            print(f"  synced writes per message: {writes_line(paced[load].writes)}")
        two = await hub_end_to_end(server.url, HUB_N, processes=2, server_pid=pid)
        print(f"hub end to end, 2 processes × 1 worker: {two.throughput:,.0f} msgs/s")
        print(f"  CPU per message: {cpu_line(two)}")
        profile = cProfile.Profile()
        profiled = await hub_end_to_end(server.url, PROFILE_N, profile=profile)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(18)
        print(f"profile of the hub during a run ({profiled.throughput:,.0f} msgs/s profiled):")
        print(text.getvalue())
        print(_breakdown(pstats.Stats(profile), PROFILE_N))
    with bench_server() as server:  # its own audit log: another governance, another hub key
        pid = server.process.pid if server.process else None
        fan = await hub_end_to_end(server.url, HUB_N, server_pid=pid, fanout=True)
    views = f"{len(FANOUT_FULL)} full, {FANOUT_RECIPIENTS - len(FANOUT_FULL)} redacted"
    print(f"hub, {FANOUT_RECIPIENTS} recipients ({views}): {fan.throughput:,.0f} msgs/s")
    print(f"  CPU per message: {cpu_line(fan)}")
    print(f"  synced writes per message: {writes_line(fan.writes)}")
    print(summary(rounds, paced, two, WORKERS, fan))
