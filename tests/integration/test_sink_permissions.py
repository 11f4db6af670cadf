"""A sink runner works with only its country's NATS permissions (as `enlace up` runs it).

The server gets the deployment's real authorization block (``hub.server.logins``); the hub's
login creates the streams and publishes a countersigned view for GT; GT's runner, logged
in as GT, delivers it, publishes its receipt and dead-letters a tampered one and one its
folder refuses; replaying them as GT delivers the latter and removes its dead letter, and
`adapter status` counts GT's dead letters. It cannot read SV's deliveries.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from adapters.base import SinkContext
from adapters.config import RetrySettings
from adapters.deployment import AdapterHome, DirectoryFile
from adapters.keys import party_signer
from adapters.registry import build_sink
from adapters.runner import RunnerSettings, SinkRunner, consumer_name
from adapters.service import adapter_status
from hub.admin.init import init_deployment
from hub.deployment import Deployment
from hub.server.logins import authorization_block, load_user
from hub.server.process import NatsServer
from schemas.trust import accept_directory
from tests.integration.conftest import start_nats_server
from tests.integration.sinkkit import fresh_streams, read_receipts
from tests.integration.test_adapter_cli import publish_view

pytestmark = pytest.mark.integration

BLOCKED = "01JD00000000000000000000CC"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    init_deployment(Deployment(home), ["GT", "SV"])
    accept_directory(Deployment(home))
    return home


@pytest.fixture
def secured(home: Path, tmp_path: Path) -> Iterator[NatsServer]:
    consumers = {"GT": [consumer_name("GT", "folder")], "SV": [consumer_name("SV", "folder")]}
    block = authorization_block(Deployment(home), consumers)
    server = start_nats_server(tmp_path / "nats", authorization=block)
    yield server
    server.stop()


async def test_runner_with_country_permissions(home: Path, secured: NatsServer) -> None:
    deployment = Deployment(home)
    hub_nc = await nats.connect(secured.url, **load_user(deployment, "hub").connect_options())
    hub_js = hub_nc.jetstream()
    await fresh_streams(hub_js)
    await publish_view(hub_js, home, "01JD00000000000000000000AA", tamper=False)
    await publish_view(hub_js, home, "01JD00000000000000000000BB", tamper=True)
    await publish_view(hub_js, home, BLOCKED, tamper=False)
    # A directory where the sink writes CC's signature file: the write fails (not retried,
    # max_attempts=1) and CC is dead-lettered until the folder is fixed.
    blocker = home / "inbox" / "GT" / f"{BLOCKED}.json.jws"
    blocker.mkdir(parents=True)

    gt_nc = await nats.connect(secured.url, **load_user(deployment, "GT").connect_options())
    paths = AdapterHome(home)
    directory = DirectoryFile(paths)
    context = SinkContext(country="GT", state_dir=home / "state", base_dir=home)
    runner = SinkRunner(
        gt_nc.jetstream(),
        build_sink("folder", {"path": "inbox/GT"}, context),
        directory,
        party_signer(directory(), paths.keys_dir, "GT"),
        RunnerSettings("GT", "folder", RetrySettings(max_attempts=1), fetch_timeout=0.5),
        rng=random.Random(1),
    )
    await runner.start()
    assert await runner.drain() == 3
    await runner.stop()
    assert (home / "inbox" / "GT" / "01JD00000000000000000000AA.json").is_file()

    # GT's login published the batch's three receipts (one RECEIPTS message) itself.
    receipts = await read_receipts(hub_js, directory())
    letters = await hub_js.stream_info("DEADLETTER_GT")
    assert (len(receipts), letters.state.messages) == (3, 2)
    gt_js = gt_nc.jetstream(timeout=2)
    status = await adapter_status(gt_js, "GT", "folder")
    assert status["dead_letters"] == 2  # GT's login reads its own dead-letter stream

    # Replaying as GT once the folder is fixed: CC is delivered and its dead letter
    # removed; the tampered one fails again and stays.
    blocker.rmdir()
    replay = SinkRunner(
        gt_js,
        build_sink("folder", {"path": "inbox/GT"}, context),
        directory,
        party_signer(directory(), paths.keys_dir, "GT"),
        RunnerSettings("GT", "folder", RetrySettings(), fetch_timeout=0.5),
    )
    report = await replay.replay_dead_letters()
    await replay.sink.close()
    assert sorted(str(outcome) for _, outcome in report) == ["bad_signature", "delivered"]
    assert (home / "inbox" / "GT" / f"{BLOCKED}.json").is_file()
    letters = await hub_js.stream_info("DEADLETTER_GT")
    assert letters.state.messages == 1
    status = await adapter_status(gt_js, "GT", "folder")
    assert status["dead_letters"] == 1

    # GT cannot bind to SV's consumer: the server refuses the consumer API call.
    spy = SinkRunner(
        gt_nc.jetstream(),
        build_sink("folder", {"path": "spy"}, context),
        directory,
        party_signer(directory(), paths.keys_dir, "GT"),
        RunnerSettings("SV", "folder", RetrySettings(), fetch_timeout=0.5),
    )
    with pytest.raises((NotFoundError, nats.errors.Error, TimeoutError)):
        await spy.start()
    await gt_nc.close()
    await hub_nc.close()
