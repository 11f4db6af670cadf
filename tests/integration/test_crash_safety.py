"""Nothing lost, nothing doubled: kill -9 the hub, or restart nats-server, mid-stream.

5,000 signed firearm trace requests from GT (the demo agreements route each to US only)
are published while a hub process works; the hub is killed with SIGKILL (or the server
is killed and restarted) part-way, a hub is started again, and every message must end up
delivered exactly once to US, with INGRESS fully acknowledged. With two ``enlace up`` hubs
on the one durable consumer, one killed and restarted, the audit log their writers share
must also verify as one linear log that records every message.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from hub.audit import AuditReader, EntryKind, parse_entry
from hub.audit.entries import REDELIVERED
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.jetstream.streams import ensure_streams
from hub.server.process import NatsServer, NatsServerConfig
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE
from tests.integration.demokit import (
    ENLACE,
    TRACE_SUBJECT,
    signed_trace_requests,
    up_command,
    wait_ready,
)

pytestmark = pytest.mark.integration

COUNT = 5000
CRASH_PARTIES = ("GT", "US")  # GT publishes (TRACE_SUBJECT) into its own INGRESS_GT


def start_hub(
    demo: Deployment, url: str, log: Path, *, up: bool = False
) -> subprocess.Popen[bytes]:
    """A hub process on ``url``: the bare hub app, or with ``up`` the hub as ``enlace up``
    runs it beside others (its own audit writer and receipt recorder, no adapters)."""
    env = dict(os.environ, ENLACE_WORKERS="2", ENLACE_ACK_WAIT="2s", ENLACE_LOG_FORMAT="json")
    command = [sys.executable, "-m", "tests.integration.hub_process", str(demo.home), url]
    if up:
        command = up_command(demo, url)
    proc = subprocess.Popen(
        command,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    return proc


def signed_batch(demo: Deployment) -> list[tuple[str, bytes, str]]:
    return signed_trace_requests(demo, COUNT)


async def publish_all(js: JetStreamContext, batch: list[tuple[str, bytes, str]]) -> None:
    for start in range(0, len(batch), 250):
        await asyncio.gather(
            *(
                js.publish(TRACE_SUBJECT, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: mid})
                for mid, raw, jws in batch[start : start + 250]
            )
        )


async def delivered(js: JetStreamContext) -> int:
    info = await js.stream_info("DELIVERY")
    return int(info.state.messages)


async def wait_for(
    js: JetStreamContext,
    at_least: int,
    seconds: float = 90.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> int:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            count = await delivered(js)
        except Exception:  # the server is restarting: ask again
            count = -1
        if count >= at_least:
            return count
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"hub exited with {proc.returncode}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {count} deliveries of {at_least} after {seconds} s")
        await asyncio.sleep(0.05)


async def assert_exactly_once(nc: NatsClient, ids: set[str]) -> None:
    js = nc.jetstream()
    names = [i.config.name or "" for i in await js.streams_info()]
    ingress = [name for name in names if name.startswith("INGRESS_")]
    assert ingress  # one per country
    for name in ingress:
        info = await js.consumer_info(name, "hub")
        assert info.num_pending == 0 and info.num_ack_pending == 0
    sub = await js.pull_subscribe(
        "enlace.out.>", stream="DELIVERY", config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    seen: Counter[str] = Counter()
    subjects: set[str] = set()
    while True:
        try:
            msgs = await sub.fetch(1000, timeout=1)
        except TimeoutError:  # nats-py raises asyncio.TimeoutError = TimeoutError
            break
        for m in msgs:
            seen[(m.headers or {})[HDR_MSG_ID]] += 1
            subjects.add(m.subject)
    await sub.unsubscribe()
    assert subjects == {"enlace.out.US.small_arms.firearm_trace_request"}
    assert set(seen) == {f"{mid}:US" for mid in ids}  # none lost
    assert max(seen.values()) == 1  # none doubled


async def test_kill_9_of_the_hub_mid_stream_loses_and_doubles_nothing(
    demo: Deployment, server: NatsServer, tmp_path: Path
) -> None:
    batch = signed_batch(demo)
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await ensure_streams(js, HubSettings(nats_url=server.url), CRASH_PARTIES)
    hub = start_hub(demo, server.url, tmp_path / "hub1.log")
    try:
        publishing = asyncio.create_task(publish_all(js, batch))
        await wait_for(js, 800, proc=hub)
        hub.send_signal(signal.SIGKILL)  # in flight: fetched, partly delivered, unacked
        hub.wait()
        await publishing
        assert await delivered(js) < COUNT
        hub = start_hub(demo, server.url, tmp_path / "hub2.log")
        await wait_for(js, COUNT, proc=hub)
        await asyncio.sleep(3)  # let redeliveries (ack_wait 2 s) come and go
        await assert_exactly_once(nc, {mid for mid, _, _ in batch})
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(30)
        await nc.close()
    assert hub.returncode == 0  # and a clean stop on SIGTERM


async def test_nats_server_restart_mid_stream_loses_and_doubles_nothing(
    demo: Deployment, server: NatsServer, tmp_path: Path
) -> None:
    batch = signed_batch(demo)
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_streams(js, HubSettings(nats_url=server.url), CRASH_PARTIES)
    hub = start_hub(demo, server.url, tmp_path / "hub.log")
    try:
        await publish_all(js, batch)
        await wait_for(js, 800, proc=hub)
        server.kill()
        restarted = NatsServer(
            NatsServerConfig(store_dir=server.config.store_dir, port=server.config.port),
            server.config_path,
        )
        restarted.start()
        server.process = restarted.process  # the fixture stops whichever runs
        await wait_for(js, COUNT, seconds=120, proc=hub)
        await asyncio.sleep(3)
        await assert_exactly_once(nc, {mid for mid, _, _ in batch})
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(30)
        await nc.close()


# -- several hub processes on one durable consumer, one of them killed -------------------------


def accepted_in(log: Path) -> int:
    """How many messages a hub process logged as accepted (its share of the work)."""
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and json.loads(line).get("event") == "accepted":
            count += 1
    return count


def audit_verify(demo: Deployment, url: str) -> dict[str, Any]:
    """``enlace audit verify --json`` as an operator runs it (the deployment's hub keys)."""
    result = subprocess.run(
        [ENLACE, "--home", str(demo.home), "audit", "verify", "--nats-url", url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


async def test_two_hub_processes_one_killed_deliver_and_audit_every_message_once(
    demo: Deployment, server: NatsServer, tmp_path: Path
) -> None:
    """Two ``enlace up`` hubs share the ``hub`` consumer; one is killed with -9 mid-stream.

    The other goes on alone, then the killed one is started again. Every message reaches
    US exactly once, INGRESS is fully acknowledged, and the three audit writers (one per
    process start) left one linear Merkle log that verifies and records every message; a
    decision redone after the crash may be on the record twice, never zero times.
    """
    batch = signed_batch(demo)
    ids = {mid for mid, _, _ in batch}
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await ensure_streams(js, HubSettings(nats_url=server.url), CRASH_PARTIES)
    logs = {name: tmp_path / f"hub-{name}.log" for name in ("a", "b", "a-again")}
    hub_a = start_hub(demo, server.url, logs["a"], up=True)
    hub_b = start_hub(demo, server.url, logs["b"], up=True)
    running = [hub_a, hub_b]
    try:
        await wait_ready(hub_a, logs["a"])
        await wait_ready(hub_b, logs["b"])
        publishing = asyncio.create_task(publish_all(js, batch))
        await wait_for(js, 800, proc=hub_b)
        hub_a.send_signal(signal.SIGKILL)  # in flight: fetched, partly delivered, unacked
        hub_a.wait()
        running.remove(hub_a)
        killed_at = await delivered(js)
        assert killed_at < COUNT
        # Both processes took messages from the one durable consumer before the kill.
        assert accepted_in(logs["a"]) > 0 and accepted_in(logs["b"]) > 0
        await wait_for(js, min(COUNT, killed_at + 1000), proc=hub_b)  # B goes on alone
        hub_a = start_hub(demo, server.url, logs["a-again"], up=True)
        running.append(hub_a)
        await wait_ready(hub_a, logs["a-again"])
        await publishing
        await wait_for(js, COUNT, proc=hub_b)
        await asyncio.sleep(3)  # let redeliveries (ack_wait 2 s) come and go
        await assert_exactly_once(nc, ids)
    finally:
        for hub in running:
            hub.send_signal(signal.SIGTERM)
        for hub in running:
            hub.wait(30)
    try:
        assert [hub.returncode for hub in running] == [0, 0]  # clean stops on SIGTERM
        report = await asyncio.to_thread(audit_verify, demo, server.url)
        assert report["ok"], report["problem"]
        entries = [parse_entry(raw) for raw in await AuditReader(js).read_all()]
    finally:
        await nc.close()
    assert report["size"] == len(entries)
    assert report["covered"] == len(entries)  # the clean stops signed final checkpoints
    kinds = Counter(e.kind for e in entries)
    assert kinds[EntryKind.HUB_START] == 3 and kinds[EntryKind.HUB_STOP] == 2
    assert kinds[EntryKind.REJECTED] == 0  # a redelivery is finished, never refused as a replay
    received = Counter(e.message_id for e in entries if e.kind is EntryKind.RECEIVED)
    routed = Counter(
        e.message_id for e in entries if e.kind is EntryKind.ROUTED and e.recipient == "US"
    )
    assert set(received) == ids and set(routed) == ids  # each decision on record at least once
    # A decision on record twice is a redelivery and says so: of n entries of one id, at
    # least n - 1 are marked. Which one is unmarked is not fixed: under load a slow hub's
    # first handling can be stored after the redelivery's (ack_wait is 2 s here), and the
    # first one may be marked too (the hub can die after claiming the id and before its
    # entries are stored).
    marked = Counter(
        e.message_id for e in entries if e.kind is EntryKind.RECEIVED and e.detail == REDELIVERED
    )
    for message_id, times in received.items():
        assert marked[message_id] >= times - 1, (message_id, times, marked[message_id])
