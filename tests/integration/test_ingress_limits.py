"""Limits that protect the others, on a real nats-server through each country's own login.

Each country has its own ingress stream and quota: one that floods the hub is refused
clearly while the others' messages are still taken and delivered, and it may publish again
once the hub has worked through its backlog. A message over the size limit that the server
lets through reaches the hub and is refused there: notice, quarantine copy, audit entry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from adapters.client import EnlaceClient
from adapters.errors import IngressFull
from adapters.sources.folder_watch import FolderWatcher
from adapters.sources.prepare import ClientPublisher
from hub.app import create_app
from hub.audit import AuditReader, CheckpointSigner, EntryKind, parse_entry
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.jetstream.streams import ensure_streams
from hub.pipeline.audit_hook import AuditLogHook
from hub.server.logins import HUB_USER, authorization_block, ensure_credentials, load_user
from hub.server.process import NatsServer
from schemas.errors import MessageTooLarge
from schemas.limits import wire_limit
from schemas.subjects import HDR_MSG_ID, HDR_SIGNATURE, ingress_subject
from tests.adapters.gatewaykit import gang_message, source_setup
from tests.integration.auditkit import open_audit_writer
from tests.integration.conftest import start_nats_server
from tests.integration.hubkit import (
    PARTIES,
    governance,
    publish_signed,
    signed_message,
    stream_msgs,
)

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()
MAX_BYTES = 16 * 1024  # a small size limit: an oversized message is quick to make


@pytest.fixture
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("dep"))
    ensure_credentials(dep, PARTIES)
    return dep


@pytest.fixture
def server(deployment: Deployment) -> Iterator[NatsServer]:
    block = authorization_block(deployment, {})
    srv = start_nats_server(deployment.home / "nats-test", authorization=block)
    srv.config.max_payload = wire_limit(MAX_BYTES)  # as `enlace up` sets it
    srv.stop()
    srv.start()
    yield srv
    srv.stop()


async def login(dep: Deployment, server: NatsServer, user: str) -> NatsClient:
    return await nats.connect(
        server.url, max_reconnect_attempts=0, **load_user(dep, user).connect_options()
    )


@pytest.fixture
async def hub_nc(deployment: Deployment, server: NatsServer) -> AsyncIterator[NatsClient]:
    nc = await login(deployment, server, HUB_USER)
    yield nc
    await nc.close()


async def drained(nc: NatsClient, stream: str, seconds: float = 20.0) -> None:
    """Wait until the hub has finished every message of ``stream`` (a work queue)."""
    js = nc.jetstream()
    for _ in range(int(seconds / 0.05)):
        if (await js.stream_info(stream)).state.messages == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{stream} still holds messages after {seconds} s")


def settings(server: NatsServer, **streams: Any) -> HubSettings:
    return HubSettings(nats_url=server.url, max_message_bytes=MAX_BYTES, streams=streams)


async def test_a_flooding_country_is_refused_while_the_others_get_through(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    limits = settings(server, ingress_max_msgs_per_party=3)
    # The hub is behind (here: not running): GT's unprocessed messages pile up.
    await ensure_streams(hub_nc.jetstream(), limits, PARTIES)
    gt = await login(deployment, server, "GT")
    sv = await login(deployment, server, "SV")
    try:
        gt_client = EnlaceClient(gt, MAX_BYTES, limits.streams.ingress_quota)
        sent = [signed_message(TD, "GT") for _ in range(3)]
        for _, raw, jws in sent:
            await gt_client.publish(raw, jws, wait=False)
        flood, raw, jws = signed_message(TD, "GT")
        with pytest.raises(IngressFull) as refused:
            await gt_client.publish(raw, jws, wait=False)
        # SV's message is taken although GT's stream is full…
        sv_message, sv_raw, sv_jws = signed_message(TD, "SV")
        sv_stored = await EnlaceClient(sv, MAX_BYTES).publish(sv_raw, sv_jws, wait=False)

        app = create_app(
            limits, GOV, SIGNER, connect_options=load_user(deployment, HUB_USER).connect_options()
        )
        await app.start()
        try:
            # …and delivered (SV → GT) once the hub runs; GT's backlog is worked through,
            # and GT may publish again: the same message it was refused.
            await drained(hub_nc, "INGRESS_GT")
            again = await gt_client.publish(raw, jws, wait=True, wait_seconds=20)
        finally:
            await app.stop()
        js = hub_nc.jetstream()
        to_gt = await stream_msgs(js, "DELIVERY", "enlace.out.GT.>")
        to_sv = await stream_msgs(js, "DELIVERY", "enlace.out.SV.>")
    finally:
        await gt.close()
        await sv.close()

    err = refused.value
    assert (err.code, err.country, err.stream) == ("ingress_full", "GT", "INGRESS_GT")
    assert "GT's ingress quota is full" in err.description
    assert "3 messages in flight" in err.description
    assert "try again later" in err.description
    assert flood["id"] in err.description  # which message was not published
    assert not sv_stored.duplicate
    assert [m.headers[HDR_MSG_ID] for m in to_gt if m.headers] == [f"{sv_message['id']}:GT"]
    assert again.status == "accepted"
    assert {m.headers[HDR_MSG_ID] for m in to_sv if m.headers} == {
        f"{m['id']}:SV" for m, _, _ in [*sent, (flood, raw, jws)]
    }


async def test_the_byte_quota_refuses_the_flooder_only(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    _, raw, jws = signed_message(TD, "GT")
    limits = settings(server, ingress_max_bytes_per_party=3 * len(raw))
    await ensure_streams(hub_nc.jetstream(), limits, PARTIES)
    gt = await login(deployment, server, "GT")
    hn = await login(deployment, server, "HN")
    try:
        gt_client = EnlaceClient(gt, MAX_BYTES, limits.streams.ingress_quota)
        with pytest.raises(IngressFull) as refused:
            for _ in range(10):
                _, raw, jws = signed_message(TD, "GT")
                await gt_client.publish(raw, jws, wait=False)
        _, hn_raw, hn_jws = signed_message(TD, "HN")
        hn_stored = await EnlaceClient(hn, MAX_BYTES).publish(hn_raw, hn_jws, wait=False)
    finally:
        await gt.close()
        await hn.close()

    assert refused.value.detail == "maximum bytes exceeded"
    assert f"{3 * len(raw)} bytes" in refused.value.description
    assert hn_stored.stream_seq == 1


async def test_an_oversized_message_gets_a_notice_a_quarantine_copy_and_an_audit_entry(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    """Over the hub's limit, within the server's: published raw, past the client's check."""
    limits = settings(server)
    message, _, _ = signed_message(TD, "GT")
    message["payload"] = {"padding": "x" * MAX_BYTES}
    raw = json.dumps(message).encode()
    assert MAX_BYTES < len(raw) < wire_limit(MAX_BYTES) - 1024
    subject = ingress_subject("GT", "gangs", "gang_movement")
    js = hub_nc.jetstream()
    writer = await open_audit_writer(js, CheckpointSigner(SIGNER.key, SIGNER.kid), "enlace-test")
    app = create_app(
        limits,
        GOV,
        SIGNER,
        connect_options=load_user(deployment, HUB_USER).connect_options(),
        audit=AuditLogHook(writer),
    )
    await app.start()
    gt = await login(deployment, server, "GT")
    try:
        notices = await gt.subscribe("enlace.rejected.GT")
        await gt.jetstream().publish(
            subject, raw, headers={HDR_SIGNATURE: "x", HDR_MSG_ID: message["id"]}
        )
        notice = json.loads((await notices.next_msg(timeout=10)).data)
        with pytest.raises(MessageTooLarge):  # the client refuses it before sending
            await EnlaceClient(gt, MAX_BYTES).publish(raw, "x", wait=False)
    finally:
        await gt.close()
        await app.stop()
        await writer.close()
    copies = await stream_msgs(js, "QUARANTINE", "enlace.quarantine.GT")
    entries = [parse_entry(e) for e in await AuditReader(js).read_all()]

    assert (notice["message_id"], notice["reason"]) == (message["id"], "too_large")
    assert f"the limit is {MAX_BYTES} bytes" in notice["description"]
    assert [m.data for m in copies] == [raw]
    assert any(
        (e.kind, e.reason, e.country, e.size) == (EntryKind.REJECTED, "too_large", "GT", len(raw))
        for e in entries
    )


async def test_beyond_the_servers_limit_the_client_refuses_with_the_same_reason(
    deployment: Deployment, server: NatsServer
) -> None:
    """What the server would refuse never reaches JetStream: the client says so first."""
    _, raw, jws = signed_message(TD, "GT")
    big = raw + b" " * wire_limit(MAX_BYTES)  # the client is told a larger body limit
    gt = await login(deployment, server, "GT")
    try:
        with pytest.raises(MessageTooLarge) as refused:
            await EnlaceClient(gt, 10 * wire_limit(MAX_BYTES)).publish(big, jws, wait=False)
        assert gt.is_connected  # refused here, not by the server dropping the connection
    finally:
        await gt.close()

    assert refused.value.code == "too_large"
    assert refused.value.limit == wire_limit(MAX_BYTES)


async def test_what_the_old_single_ingress_left_unprocessed_is_processed_once_after_upgrade(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    js = hub_nc.jetstream()
    # An earlier version's INGRESS (all of enlace.in.>) and its hub consumer…
    await js.add_stream(StreamConfig(name="INGRESS", subjects=["enlace.in.>"]))
    await js.add_consumer(
        "INGRESS",
        ConsumerConfig(
            durable_name="hub", ack_policy=AckPolicy.EXPLICIT, filter_subject="enlace.in.>"
        ),
    )
    old = [signed_message(TD, "GT") for _ in range(3)]
    for message, raw, jws in old:
        await publish_signed(js, message, raw, jws)
    # …which had handled the first one when it stopped.
    sub = await js.pull_subscribe_bind("hub", stream="INGRESS")
    [handled] = await sub.fetch(1, timeout=5)
    await handled.ack_sync()
    await sub.unsubscribe()

    app = create_app(
        settings(server),
        GOV,
        SIGNER,
        connect_options=load_user(deployment, HUB_USER).connect_options(),
    )
    await app.start()
    try:
        new, raw, jws = signed_message(TD, "GT")
        gt = await login(deployment, server, "GT")
        try:
            after = await EnlaceClient(gt, MAX_BYTES).publish(raw, jws, wait_seconds=20)
        finally:
            await gt.close()
        for _ in range(200):  # the old stream is deleted once drained
            if "INGRESS" not in [i.config.name for i in await js.streams_info()]:
                break
            await asyncio.sleep(0.05)
    finally:
        await app.stop()
    to_sv = await stream_msgs(js, "DELIVERY", "enlace.out.SV.>")
    streams = [i.config.name for i in await js.streams_info()]

    assert after.subject.startswith("enlace.in.GT.") and after.status == "accepted"
    delivered = [m.headers[HDR_MSG_ID] for m in to_sv if m.headers]
    assert sorted(delivered) == sorted(f"{m['id']}:SV" for m, _, _ in [*old[1:], (new, raw, jws)])
    assert "INGRESS" not in streams
    assert "INGRESS_GT" in streams


async def test_the_watched_folder_keeps_a_file_while_the_quota_is_full(
    tmp_path: Path, deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    setup = source_setup(tmp_path)
    limits = settings(server, ingress_max_msgs_per_party=1)
    await ensure_streams(hub_nc.jetstream(), limits, PARTIES)
    folder = tmp_path / "outbox"
    folder.mkdir()
    gt = await login(deployment, server, "GT")
    try:
        client = EnlaceClient(gt, MAX_BYTES, limits.streams.ingress_quota)
        _, raw, jws = signed_message(setup.td, "GT")
        await client.publish(raw, jws, wait=False)  # the hub is behind: GT's quota is used
        (folder / "a.json").write_text(json.dumps(gang_message()))
        watcher = FolderWatcher(
            folder, setup.poc, lambda: setup.td.directory, setup.keys_dir, ClientPublisher(client)
        )
        result = await watcher.scan()
    finally:
        await gt.close()

    assert (result.sent, result.failed) == ([], [])  # not refused: tried again later
    assert (folder / "a.json").is_file()
    assert not (folder / "failed" / "a.json").exists()
