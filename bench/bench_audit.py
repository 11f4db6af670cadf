"""Audit log cost: entries/s appended (persisted, sync always) with and without batching.

The pipeline awaits its audit entries before acking INGRESS, so this is on the message
path. Compares one publish per entry with the writer's coalesced batches, under
concurrent callers like the hub's workers; and offline verification speed. Also what a
starting writer costs on a long log: resumed from the state stored with the last
checkpoint, and reading the whole log (what a rotated key or an old log makes it do).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

import nats
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from hub.audit import AuditEntry, AuditReader, AuditWriter, CheckpointSigner, kinds, verify_log
from hub.audit.streams import AUDIT_STREAM, CHECKPOINT_STREAM
from hub.config import HubSettings
from hub.jetstream.streams import ensure_audit_streams
from hub.server.process import NatsServer, NatsServerConfig, free_port
from schemas.countersign import sha256_digest

ENTRIES = 3000
CALLERS = 64
OPEN_BATCHES = 2000  # the long log for the start-up measurement
OPEN_BATCH_SIZE = 10
OPEN_TAIL = 20  # batches written after the last checkpoint (a crash left them unsigned)


def _entry(i: int) -> AuditEntry:
    return kinds.routed(
        "01JB6X1Q8Y6Z3N4M5P7R8S9T0V", "SV", "gangs-2026", "gt-sv", "full", sha256_digest(b"%d" % i)
    )


async def _empty_log(url: str) -> tuple[NatsClient, JetStreamContext]:
    """A connection to the server with the audit streams made anew (a log starting empty)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    for stream in (AUDIT_STREAM, CHECKPOINT_STREAM):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
    await ensure_audit_streams(js, HubSettings(nats_url=url))
    return nc, js


async def _run(url: str, label: str, max_batch: int, callers: int, per_call: int) -> None:
    nc, js = await _empty_log(url)
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    writer = await AuditWriter.open(js, signer, "bench/audit", max_batch=max_batch)
    calls = ENTRIES // per_call
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(calls):
        queue.put_nowait(i)
    latencies: list[float] = []

    async def caller() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            start = time.perf_counter()
            await writer.append([_entry(i * per_call + j) for j in range(per_call)])
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - start
    await writer.close()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"{label:<46} {ENTRIES / elapsed:>9,.0f} entries/s  "
        f"p99 append {p99:6.1f} ms  ({await AuditReader(js).last_seq()} JetStream messages)"
    )
    if label.startswith("batched"):
        reader = AuditReader(js)
        entries, notes = await reader.read_all(), await reader.checkpoints()
        start = time.perf_counter()
        report = verify_log(entries, notes, [signer.verifier()])
        took = time.perf_counter() - start
        assert report.ok, report.problem
        label = "offline verify (parse + tree + checkpoints)"
        print(f"{label:<46} {len(entries) / took:>9,.0f} entries/s")
    await nc.drain()


async def _open_cost(url: str) -> None:
    nc, js = await _empty_log(url)
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    writer = await AuditWriter.open(js, signer, "bench/audit", checkpoint_every=10**9)
    for i in range(OPEN_BATCHES):  # one append at a time: one AUDIT message each
        if i == OPEN_BATCHES - OPEN_TAIL:
            await writer.checkpoint()
        await writer.append([_entry(i * OPEN_BATCH_SIZE + j) for j in range(OPEN_BATCH_SIZE)])
    size = writer.size
    for label, key in (
        ("resumed from the last checkpoint", signer),
        (
            "full read (checkpoint by another key)",
            CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k2"),
        ),
    ):
        start = time.perf_counter()
        opened = await AuditWriter.open(js, key, "bench/audit", checkpoint_seconds=3600)
        took = time.perf_counter() - start
        assert opened.size == size and opened.opened is not None
        print(
            f"{'open() ' + label:<46} {took * 1000:>9,.1f} ms       "
            f"({opened.opened.batches_read} of {await AuditReader(js).last_seq()} batches read, "
            f"{size:,} entries)"
        )
        await opened.close()
    await writer.close()
    await nc.drain()


async def main() -> None:
    """Print audit entries/s appended, with and without batching."""
    with tempfile.TemporaryDirectory() as tmp:
        config = NatsServerConfig(store_dir=Path(tmp) / "js", port=free_port())
        server = NatsServer(config, Path(tmp) / "nats.conf")
        server.start()
        try:
            await _run(server.url, "one publish per entry, 1 caller", 1, 1, 1)
            await _run(server.url, f"one publish per entry, {CALLERS} callers", 1, CALLERS, 1)
            await _run(server.url, f"batched, {CALLERS} callers x 1 entry", 1000, CALLERS, 1)
            await _run(server.url, f"batched, {CALLERS} callers x 3 entries", 1000, CALLERS, 3)
            await _open_cost(server.url)
        finally:
            server.stop()
