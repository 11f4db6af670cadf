"""One dead-letter stream per party, and the move from the shared DEADLETTER of before."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from hub.config import HubSettings
from hub.errors import ConfigError
from hub.jetstream.streams import ensure_streams
from hub.server.process import NatsServer

pytestmark = pytest.mark.integration

SETTINGS = HubSettings(nats_url="nats://unused")


@pytest.fixture
def nats_server(server: NatsServer) -> NatsServer:
    """A server of each test's own, so streams start empty: deleting a stream and at once
    re-creating it now and then fails inside nats-server ("error creating store")."""
    return server


async def test_each_party_gets_its_own_dead_letter_stream(nc: NatsClient) -> None:
    js = nc.jetstream()
    names = await ensure_streams(js, SETTINGS, ["GT", "SV"])
    assert {"DEADLETTER_GT", "DEADLETTER_SV"} <= set(names)
    ack = await js.publish("enlace.deadletter.GT", b"letter")
    assert ack.stream == "DEADLETTER_GT"


async def test_letters_of_the_shared_stream_move_to_their_countrys_stream(
    nc: NatsClient,
) -> None:
    js = nc.jetstream()
    await js.add_stream(name="DEADLETTER", subjects=["enlace.deadletter.>"])
    await js.publish("enlace.deadletter.GT", b"gt", headers={"Nats-Msg-Id": "dl:a:folder"})
    replayed = await js.publish("enlace.deadletter.GT", b"gone")
    await js.publish("enlace.deadletter.SV", b"sv", headers={"Enlace-Reason": "sink_storage"})
    await js.delete_msg("DEADLETTER", replayed.seq)

    await ensure_streams(js, SETTINGS, ["GT", "SV"])

    with pytest.raises(NotFoundError):
        await js.stream_info("DEADLETTER")
    gt = await js.get_msg("DEADLETTER_GT", 1)
    sv = await js.get_msg("DEADLETTER_SV", 1)
    assert (gt.data, (gt.headers or {}).get("Nats-Msg-Id")) == (b"gt", "dl:a:folder")
    assert (sv.data, (sv.headers or {}).get("Enlace-Reason")) == (b"sv", "sink_storage")
    assert (await js.stream_info("DEADLETTER_GT")).state.messages == 1


async def test_a_letter_of_a_party_not_in_the_directory_stops_the_move(nc: NatsClient) -> None:
    js = nc.jetstream()
    await js.add_stream(name="DEADLETTER", subjects=["enlace.deadletter.>"])
    await js.publish("enlace.deadletter.SV", b"sv")
    with pytest.raises(ConfigError, match=r"enlace\.deadletter\.SV"):
        await ensure_streams(js, SETTINGS, ["GT"])
    # Nothing removed: the operator decides.
    assert (await js.stream_info("DEADLETTER")).state.messages == 1
