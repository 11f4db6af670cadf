"""NATS access per party, deny by default, on a real nats-server with the generated logins."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from adapters.service import connect
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.jetstream.consumers import ensure_sink_consumers
from hub.jetstream.streams import ensure_hub_consumer, ensure_streams
from hub.server.logins import (
    HUB_USER,
    authorization_block,
    ensure_credentials,
    legacy_credentials_path,
    load_user,
    seed_path,
    seeds_dir,
)
from hub.server.process import NatsServer
from schemas.subjects import ingress_stream
from tests.integration.conftest import start_nats_server

pytestmark = pytest.mark.integration

PARTIES = ("GT", "SV")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("dep"))
    ensure_credentials(dep, PARTIES)
    return dep


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[NatsServer]:
    block = authorization_block(deployment, {"GT": ["sink-GT-folder"]})
    srv = start_nats_server(deployment.home / "nats-test", authorization=block)
    yield srv
    srv.stop()


class Errors:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, err: Exception) -> None:
        self.seen.append(str(err))

    async def wait_for(self, text: str) -> bool:
        for _ in range(100):
            if any(text.lower() in e.lower() for e in self.seen):
                return True
            await asyncio.sleep(0.02)
        return False


async def login(dep: Deployment, server: NatsServer, user: str, errors: Errors) -> NatsClient:
    return await nats.connect(
        server.url,
        error_cb=errors.record,
        max_reconnect_attempts=0,
        **load_user(dep, user).connect_options(),
    )


@pytest.fixture
async def hub_nc(deployment: Deployment, server: NatsServer) -> AsyncIterator[NatsClient]:
    nc = await login(deployment, server, HUB_USER, Errors())
    js = nc.jetstream()
    settings = HubSettings(nats_url=server.url)
    await ensure_streams(js, settings, PARTIES)
    for cc in PARTIES:
        await ensure_hub_consumer(js, settings, ingress_stream(cc))
    await ensure_sink_consumers(js, {"GT": ["folder"]})  # the hub makes every consumer
    yield nc
    await nc.close()


async def test_anonymous_connections_are_refused(server: NatsServer) -> None:
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await nats.connect(server.url, max_reconnect_attempts=0, allow_reconnect=False)


async def test_a_country_publishes_on_its_own_subjects_and_gets_the_ack(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    gt = await login(deployment, server, "GT", Errors())
    try:
        ack = await gt.jetstream().publish("enlace.in.GT.gangs.gang_movement", b"{}")
    finally:
        await gt.close()
    assert ack.stream == "INGRESS_GT"


async def test_gt_credentials_on_another_countrys_subject_are_refused(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    before = (await hub_nc.jetstream().stream_info("INGRESS_SV")).state.messages
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        await gt.publish("enlace.in.SV.gangs.gang_movement", b"{}")
        await gt.flush()
        refused = await errors.wait_for("permissions violation")
    finally:
        await gt.close()
    assert refused
    assert (await hub_nc.jetstream().stream_info("INGRESS_SV")).state.messages == before


@pytest.mark.parametrize(
    "subject",
    [
        "enlace.out.SV.gangs.gang_movement",  # another country's deliveries
        "enlace.rejected.SV",  # another country's notices
        "enlace.in.>",  # what others publish
        "_INBOX.SV.>",  # another country's replies
    ],
)
async def test_gt_may_not_read_what_is_not_its_own(
    deployment: Deployment, server: NatsServer, subject: str
) -> None:
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        await gt.subscribe(subject)
        await gt.flush()
        refused = await errors.wait_for("permissions violation")
    finally:
        await gt.close()
    assert refused


async def test_only_the_hub_reads_ingress(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        with pytest.raises(Exception):  # noqa: B017 (a timeout or a permission error)
            # Not even its own ingress stream: the hub's consumer is the hub's.
            sub = await gt.jetstream().pull_subscribe_bind("hub", stream="INGRESS_GT")
            await sub.fetch(1, timeout=1)
    finally:
        await gt.close()
    assert await errors.wait_for("permissions violation")


async def test_a_country_reads_its_own_deliveries_through_its_sink_consumer(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    await hub_nc.jetstream().publish("enlace.out.GT.gangs.gang_movement", b"for GT")
    gt = await login(deployment, server, "GT", Errors())
    try:
        sub = await gt.jetstream().pull_subscribe_bind(durable="sink-GT-folder", stream="DELIVERY")
        msgs = await sub.fetch(1, timeout=5)
        await msgs[0].ack()
    finally:
        await gt.close()
    assert msgs[0].data == b"for GT"


async def test_a_country_may_not_make_a_consumer_on_others_deliveries(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        with pytest.raises(Exception):  # noqa: B017 (a timeout or a permission error)
            await gt.jetstream().pull_subscribe(
                "enlace.out.SV.>", durable="sink-GT-folder-2", stream="DELIVERY"
            )
    finally:
        await gt.close()


async def test_a_country_reads_and_deletes_its_own_dead_letters_and_no_others(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    hub_js = hub_nc.jetstream()
    theirs = await hub_js.publish("enlace.deadletter.SV", b"SV's dead letter")
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        js = gt.jetstream(timeout=2)
        ours = await js.publish("enlace.deadletter.GT", b"GT's dead letter")
        assert (await js.stream_info("DEADLETTER_GT")).state.messages == 1
        assert await js.delete_msg("DEADLETTER_GT", ours.seq)
        assert (await js.stream_info("DEADLETTER_GT")).state.messages == 0

        with pytest.raises(Exception):  # noqa: B017 (a timeout or a permission error)
            await js.stream_info("DEADLETTER_SV")
        with pytest.raises(Exception):  # noqa: B017 (a timeout or a permission error)
            await js.delete_msg("DEADLETTER_SV", theirs.seq)
    finally:
        await gt.close()
    assert await errors.wait_for("permissions violation")
    # SV's dead letter is still there.
    assert (await hub_js.stream_info("DEADLETTER_SV")).state.messages == 1


def test_the_seed_files_are_private(deployment: Deployment) -> None:
    assert seeds_dir(deployment).stat().st_mode & 0o777 == 0o700
    for name in (*PARTIES, HUB_USER):
        assert seed_path(deployment, name).stat().st_mode & 0o777 == 0o600


async def test_an_nkey_the_server_does_not_list_is_refused(
    server: NatsServer, tmp_path: Path
) -> None:
    stranger = Deployment(tmp_path)
    ensure_credentials(stranger, ["GT"])  # a GT login of another deployment
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await nats.connect(
            server.url,
            max_reconnect_attempts=0,
            allow_reconnect=False,
            **load_user(stranger, "GT").connect_options(),
        )


async def test_an_adapter_process_logs_in_with_the_seed_file_it_is_given(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `enlace up` gives a child: the seed file's path and the inbox prefix."""
    gt = load_user(deployment, "GT")
    monkeypatch.setenv("ENLACE_NATS_NKEY_SEED_FILE", str(gt.seed_file))
    monkeypatch.setenv("ENLACE_NATS_INBOX_PREFIX", gt.inbox_prefix)
    nc = await connect(server.url)
    try:
        ack = await nc.jetstream().publish("enlace.in.GT.gangs.gang_movement", b"{}")
    finally:
        await nc.close()
    assert ack.stream == "INGRESS_GT"


async def test_a_migrated_deployment_logs_in_with_nkeys(tmp_path: Path) -> None:
    """Password logins of an older Enlace become nkeys that a fresh server accepts."""
    dep = Deployment(tmp_path)
    dep.nats_dir.mkdir(parents=True)
    legacy_credentials_path(dep).write_text(json.dumps({"GT": "pw", HUB_USER: "pw"}))
    ensure_credentials(dep, [])
    srv = start_nats_server(tmp_path / "srv", authorization=authorization_block(dep))
    try:
        gt = await nats.connect(
            srv.url, max_reconnect_attempts=0, **load_user(dep, "GT").connect_options()
        )
        await gt.publish("enlace.in.GT.gangs.gang_movement", b"{}")
        await gt.flush()
        await gt.close()
    finally:
        srv.stop()
