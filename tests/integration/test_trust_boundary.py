"""The attacks of issue 12 on consumers and the audit streams, through each login, on a real server.

A country tried to re-point another country's sink consumer and the hub's receipt consumer
(nats-server takes a create of an existing durable as an update); the hub's own login
tried to shrink the audit streams with a stream update. Each must be refused by the
server, and whatever only the hub's login could still change is mended or refused, on the
record, when the hub starts.

The kept outcomes (issue 13): GT tries to read HN's outcome by id (through HN's stream and
through its own), to read HN's stream by sequence, to hear HN's outcomes live, to make a
consumer on HN's outcomes or its own, and to purge, delete from or shorten its own. The
server refuses each; HN's outcome and GT's stay.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from adapters.client import EnlaceClient
from adapters.errors import OutcomeNotPermitted
from hub.app import HubApp, create_app
from hub.audit import AuditReader, AuditWriter, CheckpointSigner, kinds
from hub.audit.entries import AuditEntry, EntryKind, parse_entry
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.errors import ConsumerTampered
from hub.jetstream.consumers import ensure_sink_consumers, sink_consumer_config
from hub.jetstream.streams import (
    RECEIPTS_CONSUMER,
    ensure_hub_consumer,
    ensure_receipts_consumer,
    ensure_streams,
)
from hub.server.logins import HUB_USER, authorization_block, ensure_credentials, load_user
from hub.server.process import NatsServer
from schemas.outcomes import Outcome
from schemas.subjects import ingress_stream, outcome_subject
from tests.integration.auditkit import open_audit_writer
from tests.integration.conftest import start_nats_server, tls_for
from tests.integration.hubkit import PARTIES, governance
from tests.integration.test_hub_permissions import Errors, login

pytestmark = pytest.mark.integration

SINKS = {"GT": ["folder"], "HN": ["folder"]}


@pytest.fixture
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("dep"))
    ensure_credentials(dep, PARTIES)
    return dep


@pytest.fixture
def server(deployment: Deployment) -> Iterator[NatsServer]:
    consumers = {cc: [f"sink-{cc}-{n}" for n in names] for cc, names in SINKS.items()}
    srv = start_nats_server(
        deployment.home / "nats",
        authorization=authorization_block(deployment, consumers),
        tls=tls_for(deployment),
    )
    yield srv
    srv.stop()


@pytest.fixture
async def hub_nc(deployment: Deployment, server: NatsServer) -> AsyncIterator[NatsClient]:
    """The hub's login, with the streams and every consumer made as the hub makes them."""
    nc = await login(deployment, server, HUB_USER, Errors())
    js = nc.jetstream()
    settings = HubSettings(nats_url=server.url)
    await ensure_streams(js, settings, PARTIES)
    for cc in PARTIES:  # each country's ingress stream has the hub's consumer
        await ensure_hub_consumer(js, settings, ingress_stream(cc))
    await ensure_receipts_consumer(js, settings)
    await ensure_sink_consumers(js, SINKS)
    yield nc
    await nc.close()


def _create_request(stream: str, name: str, filter_subject: str) -> bytes:
    config = {"durable_name": name, "name": name, "filter_subject": filter_subject}
    return json.dumps(
        {"stream_name": stream, "config": {**config, "ack_policy": "explicit"}}
    ).encode()


@pytest.mark.parametrize(
    ("stream", "consumer", "filter_subject"),
    [
        ("DELIVERY", "sink-HN-folder", "enlace.out.GT.>"),  # HN's sink made to read GT's
        ("RECEIPTS", RECEIPTS_CONSUMER, "enlace.receipt.GT"),  # the hub's receipts silenced
        ("DELIVERY", "sink-GT-folder", "enlace.out.GT.>"),  # even its own: the hub's to make
    ],
)
async def test_a_country_cannot_repoint_a_consumer(
    deployment: Deployment,
    server: NatsServer,
    hub_nc: NatsClient,
    stream: str,
    consumer: str,
    filter_subject: str,
) -> None:
    before = await hub_nc.jetstream().consumer_info(stream, consumer)
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        subject = f"$JS.API.CONSUMER.CREATE.{stream}.{consumer}.{filter_subject}"
        with pytest.raises(nats.errors.Error):  # no answer: the server dropped the request
            await gt.request(subject, _create_request(stream, consumer, filter_subject), timeout=1)
        assert await errors.wait_for(f'publish to "{subject.lower()}"')
    finally:
        await gt.close()
    after = await hub_nc.jetstream().consumer_info(stream, consumer)
    assert after.config.filter_subject == before.config.filter_subject


async def test_hns_deliveries_still_reach_hn_after_gts_attempt(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    gt = await login(deployment, server, "GT", Errors())
    subject = "$JS.API.CONSUMER.CREATE.DELIVERY.sink-HN-folder.enlace.out.GT.>"
    await gt.publish(subject, _create_request("DELIVERY", "sink-HN-folder", "enlace.out.GT.>"))
    await gt.flush()
    await gt.close()
    hub_js = hub_nc.jetstream()
    await hub_js.publish("enlace.out.GT.gangs.gang_movement", b"for GT only")
    await hub_js.publish("enlace.out.HN.gangs.gang_movement", b"for HN")
    hn = await login(deployment, server, "HN", Errors())
    try:
        sub = await hn.jetstream().pull_subscribe_bind(durable="sink-HN-folder", stream="DELIVERY")
        msgs = await sub.fetch(10, timeout=2)
        for msg in msgs:
            await msg.ack()
    finally:
        await hn.close()
    assert [m.data for m in msgs] == [b"for HN"]


@pytest.mark.parametrize(
    ("stream", "weaker"),
    [("AUDIT", {"max_msgs": 1}), ("AUDIT_CHECKPOINTS", {"max_age": 1_000_000_000})],
)
async def test_the_hubs_login_cannot_shrink_the_audit_streams(
    deployment: Deployment,
    server: NatsServer,
    hub_nc: NatsClient,
    stream: str,
    weaker: dict[str, int],
) -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    writer = await open_audit_writer(hub_nc.jetstream(), signer, "enlace-test")
    await writer.append([kinds.hub_event("start", "hub") for _ in range(4)])
    await writer.checkpoint()
    await writer.close()
    js = hub_nc.jetstream()
    before = (await js.stream_info(stream)).state.messages
    errors = Errors()
    attacker = await login(deployment, server, HUB_USER, errors)
    try:
        config = (await js.stream_info(stream)).config.as_dict() | weaker
        subject = f"$JS.API.STREAM.UPDATE.{stream}"
        with pytest.raises(nats.errors.Error):
            await attacker.request(subject, json.dumps(config).encode(), timeout=1)
        assert await errors.wait_for(f'publish to "{subject.lower()}"')
    finally:
        await attacker.close()
    info = await js.stream_info(stream)
    assert info.state.messages == before >= 1
    assert info.config.max_msgs == -1 and not info.config.max_age


async def _audited_hub(
    deployment: Deployment, server: NatsServer, js: JetStreamContext
) -> tuple[HubApp, AuditWriter]:
    """A hub app (not started) on the hub's login, recording to a fresh audit log."""
    _, gov, hub_signer = governance()
    writer = await open_audit_writer(js, CheckpointSigner(hub_signer.key, hub_signer.kid), "t")
    app = create_app(
        HubSettings(nats_url=server.url, workers=1),
        gov,
        hub_signer,
        connect_options=load_user(deployment, HUB_USER).connect_options(),
        audit_writer=writer,
        sinks=SINKS,
    )
    return app, writer


async def _audit_entries(nc: NatsClient) -> list[AuditEntry]:
    return [parse_entry(raw) for raw in await AuditReader(nc.jetstream()).read_all()]


async def test_a_consumer_changed_by_the_hubs_login_is_put_back_and_recorded(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    js = hub_nc.jetstream()
    tampered = sink_consumer_config("HN", "folder")
    tampered.filter_subject = "enlace.out.GT.>"
    tampered.max_ack_pending = 1
    await js.add_consumer("DELIVERY", tampered)  # only the hub's login still may
    app, writer = await _audited_hub(deployment, server, js)
    await app.start()
    await app.stop()
    await writer.close()
    info = await js.consumer_info("DELIVERY", "sink-HN-folder")
    assert info.config.filter_subject == "enlace.out.HN.>"
    assert info.config.max_ack_pending == sink_consumer_config("HN", "folder").max_ack_pending
    [entry] = [e for e in await _audit_entries(hub_nc) if e.kind is EntryKind.CONSUMER]
    assert (entry.version, entry.outcome) == ("sink-HN-folder", "repaired")
    assert entry.detail is not None and "enlace.out.GT.>" in entry.detail


async def test_a_consumer_changed_beyond_repair_stops_the_hub_on_the_record(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    js = hub_nc.jetstream()
    await js.delete_consumer("DELIVERY", "sink-HN-folder")
    skipping = sink_consumer_config("HN", "folder")
    skipping.deliver_policy = DeliverPolicy.NEW  # what was sent before would be skipped
    await js.add_consumer("DELIVERY", skipping)
    app, writer = await _audited_hub(deployment, server, js)
    with pytest.raises(ConsumerTampered, match="deliver_policy") as caught:
        await app.start()
    await app.stop()
    await writer.close()
    assert (caught.value.stream, caught.value.consumer) == ("DELIVERY", "sink-HN-folder")
    # Refused, not recreated: the operator decides.
    info = await js.consumer_info("DELIVERY", "sink-HN-folder")
    assert info.config.deliver_policy == DeliverPolicy.NEW
    [entry] = [e for e in await _audit_entries(hub_nc) if e.kind is EntryKind.CONSUMER]
    assert (entry.outcome, entry.detail) == ("refused", "consumer_tampered")


async def test_a_sink_runner_binds_only_to_a_consumer_the_hub_made(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
) -> None:
    """A sink of a country the hub was not told about cannot make its own consumer."""
    errors = Errors()
    sv = await login(deployment, server, "SV", errors)
    try:
        with pytest.raises(nats.errors.Error):
            await sv.jetstream(timeout=1).add_consumer(
                "DELIVERY",
                ConsumerConfig(
                    durable_name="sink-SV-folder",
                    filter_subject="enlace.out.SV.>",
                    ack_policy=AckPolicy.EXPLICIT,
                ),
            )
    finally:
        await sv.close()
    names = [c.name for c in await hub_nc.jetstream().consumers_info("DELIVERY")]
    assert "sink-SV-folder" not in names


# -- the kept outcomes ------------------------------------------------------------------------

HN_ID = "01JDZ8Y5J3M8X7Q2C4V6B9N0HN"
GT_ID = "01JDZ8Y5J3M8X7Q2C4V6B9N0GT"


def _outcome(message_id: str) -> Outcome:
    return Outcome.from_json(
        json.dumps({"message_id": message_id, "status": "accepted", "at": "2026-12-06T01:00:00Z"})
    )


@pytest.fixture
async def kept(hub_nc: NatsClient) -> NatsClient:
    """The hub's login, with an outcome kept for HN and one for GT."""
    for cc, message_id in (("HN", HN_ID), ("GT", GT_ID)):
        await hub_nc.jetstream().publish(
            outcome_subject(cc, message_id), _outcome(message_id).to_json()
        )
    return hub_nc


ATTACKS = {
    "HN's outcome by id": (
        f"$JS.API.DIRECT.GET.OUTCOMES_HN.enlace.outcome.HN.{HN_ID}",
        b"",
    ),
    "HN's outcome through GT's own stream": (
        f"$JS.API.DIRECT.GET.OUTCOMES_GT.enlace.outcome.HN.{HN_ID}",
        b"",
    ),
    "HN's stream by sequence": ("$JS.API.STREAM.MSG.GET.OUTCOMES_HN", b'{"seq": 1}'),
    "HN's stream, direct, by sequence": ("$JS.API.DIRECT.GET.OUTCOMES_HN", b'{"seq": 1}'),
    "HN's stream info": ("$JS.API.STREAM.INFO.OUTCOMES_HN", b""),
    "a consumer on HN's outcomes": (
        "$JS.API.CONSUMER.CREATE.OUTCOMES_HN",
        json.dumps(
            {"stream_name": "OUTCOMES_HN", "config": {"ack_policy": "none", "name": "spy"}}
        ).encode(),
    ),
    "a durable consumer on HN's outcomes": (
        "$JS.API.CONSUMER.CREATE.OUTCOMES_HN.spy.enlace.outcome.HN.>",
        json.dumps(
            {
                "stream_name": "OUTCOMES_HN",
                "config": {"durable_name": "spy", "ack_policy": "none"},
            }
        ).encode(),
    ),
    "a consumer on its own outcomes": (
        "$JS.API.CONSUMER.CREATE.OUTCOMES_GT",
        json.dumps(
            {"stream_name": "OUTCOMES_GT", "config": {"ack_policy": "none", "name": "own"}}
        ).encode(),
    ),
    "purging its own outcomes": ("$JS.API.STREAM.PURGE.OUTCOMES_GT", b""),
    "deleting its own outcome": ("$JS.API.STREAM.MSG.DELETE.OUTCOMES_GT", b'{"seq": 1}'),
    "deleting its own outcome stream": ("$JS.API.STREAM.DELETE.OUTCOMES_GT", b""),
    "shortening its own outcomes' age": (
        "$JS.API.STREAM.UPDATE.OUTCOMES_GT",
        json.dumps(
            {"name": "OUTCOMES_GT", "subjects": ["enlace.outcome.GT.>"], "max_age": 1}
        ).encode(),
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_gt_cannot_read_hns_outcomes_nor_remove_its_own(
    deployment: Deployment, server: NatsServer, kept: NatsClient, attack: str
) -> None:
    subject, body = ATTACKS[attack]
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        with pytest.raises(nats.errors.Error):  # no answer: the server dropped the request
            await gt.request(subject, body, timeout=1)
        assert await errors.wait_for(f'publish to "{subject.lower()}"')
        # What it went for is still there, for its owner.
        assert await EnlaceClient(gt).outcome(GT_ID, "GT") == _outcome(GT_ID)
    finally:
        await gt.close()
    js = kept.jetstream()
    hn_kept = await js.get_last_msg("OUTCOMES_HN", outcome_subject("HN", HN_ID), direct=True)
    assert Outcome.from_json(hn_kept.data or b"") == _outcome(HN_ID)
    assert [c.name for c in await js.consumers_info("OUTCOMES_HN")] == []
    assert [c.name for c in await js.consumers_info("OUTCOMES_GT")] == []


async def test_gt_cannot_hear_hns_outcomes_nor_read_them_through_the_client(
    deployment: Deployment, server: NatsServer, kept: NatsClient
) -> None:
    errors = Errors()
    gt = await login(deployment, server, "GT", errors)
    try:
        await gt.subscribe("enlace.outcome.HN.>")
        await gt.flush()
        assert await errors.wait_for('subscription to "enlace.outcome.hn.>"')
        with pytest.raises(OutcomeNotPermitted):
            await EnlaceClient(gt).outcome(HN_ID, "HN")
        assert await EnlaceClient(gt).outcome(HN_ID, "GT") is None  # not GT's message
    finally:
        await gt.close()
