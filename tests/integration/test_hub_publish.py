"""``enlace publish`` and ``adapters.client`` against a running hub on the demo deployment."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from adapters.client import EnlaceClient
from hub.app import HubApp, create_app
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.governance import load_governance, load_signer
from hub.server.process import NatsServer
from schemas.common import PARTIES
from tests.integration.conftest import start_nats_server
from tests.integration.hubkit import stream_msgs

pytestmark = pytest.mark.integration

ENLACE = [sys.executable, "-c", "from hub.cli import main; main()"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = start_nats_server(tmp_path_factory.mktemp("nats"))
    yield srv
    srv.stop()


@pytest.fixture
async def hub(demo: Deployment, server: NatsServer) -> AsyncIterator[HubApp]:
    gov = load_governance(demo)
    app = create_app(HubSettings(nats_url=server.url), gov, load_signer(demo, gov))
    await app.start()
    yield app
    await app.stop()


def publish_cli(
    demo: Deployment, server: NatsServer, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENLACE, "--home", str(demo.home), "publish", *args, "--nats-url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run_cli(
    demo: Deployment, server: NatsServer, *args: str
) -> subprocess.CompletedProcess[str]:
    # The hub runs on this event loop: the CLI must run beside it, not block it.
    return await asyncio.to_thread(publish_cli, demo, server, *args)


async def test_publish_gang_movement_from_gt_reaches_every_other_party_in_full(
    demo: Deployment, server: NatsServer, hub: HubApp
) -> None:
    sample = demo.samples_dir / "gang_movement.json"
    done = await run_cli(demo, server, str(sample), "--poc", "gt-gangs", "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "accepted"
    got = {r["country"]: r["view"] for r in result["outcome"]["recipients"]}
    assert got == {cc: "full" for cc in PARTIES if cc != "GT"}
    nc = await nats.connect(server.url)
    try:
        deliveries = [
            m
            for m in await stream_msgs(nc.jetstream(), "DELIVERY", "enlace.out.>")
            if (m.headers or {})["Nats-Msg-Id"].startswith(result["message_id"] + ":")
        ]
    finally:
        await nc.close()
    assert sorted(m.subject.split(".")[2] for m in deliveries) == sorted(got)
    assert all(m.data == sample.read_bytes() for m in deliveries)


async def test_publish_unsigned_stdin_signs_with_the_pocs_key(
    demo: Deployment, server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    message: dict[str, Any] = json.loads((demo.samples_dir / "gang_movement.json").read_bytes())
    message["id"] = "01" + message["id"][2:-4] + "ZZZZ"
    unsigned = tmp_path / "m.json"
    unsigned.write_text(json.dumps(message))
    done = await run_cli(demo, server, str(unsigned), "--poc", "gt-gangs")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"accepted {message['id']} → ")


async def test_the_poc_defaults_to_the_senders_and_must_match_when_given(
    demo: Deployment, server: NatsServer, hub: HubApp
) -> None:
    sample = demo.samples_dir / "border_alert.json"
    sender = json.loads(sample.read_bytes())["sender"]["poc"]
    wrong = await run_cli(demo, server, str(sample), "--poc", "gt-gangs")
    assert wrong.returncode == 1
    assert f"sender.poc is {sender!r}, not 'gt-gangs'" in wrong.stderr

    done = await run_cli(demo, server, str(sample))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("accepted ")


async def test_a_rejected_message_exits_3_with_its_reason(
    demo: Deployment, server: NatsServer, hub: HubApp, tmp_path: Path
) -> None:
    sample = demo.samples_dir / "gang_movement.json"
    tampered = tmp_path / "t.json"
    original = json.loads(sample.read_bytes())["id"].encode()
    tampered.write_bytes(
        sample.read_bytes().replace(original, original[:-4] + b"TTTT")  # another id
    )
    (tmp_path / "t.json.jws").write_text((demo.samples_dir / "gang_movement.json.jws").read_text())
    done = await run_cli(demo, server, str(tampered), "--poc", "gt-gangs")

    assert done.returncode == 3
    assert "bad_signature" in done.stdout


async def test_client_no_wait_returns_after_the_jetstream_ack(
    demo: Deployment, server: NatsServer, hub: HubApp
) -> None:
    raw = (demo.samples_dir / "disaster_alert.json").read_bytes()
    jws = (demo.samples_dir / "disaster_alert.json.jws").read_text().strip()
    nc = await nats.connect(server.url)
    try:
        client = EnlaceClient(nc)
        first = await client.publish(raw, jws, wait=False)
        again = await client.publish(raw, jws)
    finally:
        await nc.close()

    assert (first.status, first.stream_seq > 0) == ("published", True)
    assert again.duplicate  # JetStream de-duplicates the same id within its window
