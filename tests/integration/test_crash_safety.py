"""Nothing lost, nothing doubled: kill -9 the hub, or restart nats-server, mid-stream.

5,000 signed firearm trace requests from GT (the demo agreements route each to US only)
are published while a hub process works; the hub is killed with SIGKILL (or the server
is killed and restarted) part-way, a hub is started again, and every message must end up
delivered exactly once to US, with INGRESS fully acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from hub.config import HubSettings
from hub.deployment import Deployment
from hub.init_deployment import init_demo
from hub.keystore import KeyStore
from hub.natsserver import NatsServer, NatsServerConfig
from hub.streams import ensure_streams
from schemas.common import new_message_id
from schemas.govdoc import rfc3339
from schemas.jws import sign_detached
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE
from schemas.trust import load_directory, load_trust_root
from tests.integration.conftest import start_nats_server

pytestmark = pytest.mark.integration

COUNT = 5000
SUBJECT = "enlace.in.GT.small_arms.firearm_trace_request"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("demo"))
    init_demo(dep)
    return dep


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = start_nats_server(tmp_path / "nats")
    yield srv
    srv.stop()


def start_hub(demo: Deployment, url: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, ENLACE_WORKERS="2", ENLACE_ACK_WAIT="2s", ENLACE_LOG_FORMAT="json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.hub_process", str(demo.home), url],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    return proc


def signed_batch(demo: Deployment) -> list[tuple[str, bytes, str]]:
    directory = load_directory(demo.directory, load_trust_root(demo.trust_root))
    kid, key = KeyStore(demo.keys_dir).current_poc_key(directory, "gt-small-arms")
    template = json.loads((demo.samples_dir / "firearm_trace_request.json").read_bytes())
    out = []
    for _ in range(COUNT):
        message = dict(template, id=new_message_id(), issued_at=rfc3339(datetime.now(UTC)))
        raw = json.dumps(message).encode()
        out.append((message["id"], raw, sign_detached(raw, key, kid)))
    return out


async def publish_all(js: JetStreamContext, batch: list[tuple[str, bytes, str]]) -> None:
    for start in range(0, len(batch), 250):
        await asyncio.gather(
            *(
                js.publish(SUBJECT, raw, headers={HDR_SIGNATURE: jws, HDR_MSG_ID: mid})
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
    info = await js.consumer_info("INGRESS", "hub")
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
    await ensure_streams(js, HubSettings(nats_url=server.url))
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
    await ensure_streams(js, HubSettings(nats_url=server.url))
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
