"""Attacks on the kept outcomes, through GT's login, on a real server with the logins.

GT tries to read HN's outcome by id (through HN's stream and through its own), to read
HN's stream by sequence, to hear HN's outcomes live, to make a consumer on HN's outcomes,
and to purge or delete from its own. The server refuses each; HN's outcome and GT's stay.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client as NatsClient

from adapters.client import EnlaceClient
from adapters.errors import OutcomeNotPermitted
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.jetstream.streams import ensure_streams
from hub.server.logins import HUB_USER, authorization_block, ensure_credentials
from hub.server.process import NatsServer
from schemas.outcomes import Outcome
from schemas.subjects import outcome_subject
from tests.integration.conftest import start_nats_server
from tests.integration.hubkit import PARTIES
from tests.integration.test_hub_permissions import Errors, login

pytestmark = pytest.mark.integration

HN_ID = "01JDZ8Y5J3M8X7Q2C4V6B9N0HN"
GT_ID = "01JDZ8Y5J3M8X7Q2C4V6B9N0GT"


def _outcome(message_id: str) -> Outcome:
    return Outcome.from_json(
        json.dumps({"message_id": message_id, "status": "accepted", "at": "2026-12-06T01:00:00Z"})
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("dep"))
    ensure_credentials(dep, PARTIES)
    return dep


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[NatsServer]:
    srv = start_nats_server(deployment.home / "nats", authorization=authorization_block(deployment))
    yield srv
    srv.stop()


@pytest.fixture
async def hub_nc(deployment: Deployment, server: NatsServer) -> AsyncIterator[NatsClient]:
    """The hub's login, with the streams and an outcome kept for HN and one for GT."""
    nc = await login(deployment, server, HUB_USER, Errors())
    js = nc.jetstream()
    await ensure_streams(js, HubSettings(nats_url=server.url), PARTIES)
    for cc, message_id in (("HN", HN_ID), ("GT", GT_ID)):
        await js.publish(outcome_subject(cc, message_id), _outcome(message_id).to_json())
    yield nc
    await nc.close()


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
async def test_gt_is_refused(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient, attack: str
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
    js = hub_nc.jetstream()
    hn_kept = await js.get_last_msg("OUTCOMES_HN", outcome_subject("HN", HN_ID), direct=True)
    assert Outcome.from_json(hn_kept.data or b"") == _outcome(HN_ID)
    assert [c.name for c in await js.consumers_info("OUTCOMES_HN")] == []
    assert [c.name for c in await js.consumers_info("OUTCOMES_GT")] == []


async def test_gt_cannot_hear_hns_outcomes_nor_read_them_through_the_client(
    deployment: Deployment, server: NatsServer, hub_nc: NatsClient
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
