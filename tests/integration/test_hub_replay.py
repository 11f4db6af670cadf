"""Replay: the same signed message again, after JetStream's de-duplication window, is refused."""

from __future__ import annotations

import asyncio

import nats
import pytest

from adapters.client import EnlaceClient
from hub.errors import DuplicateMessage
from hub.natsserver import NatsServer
from hub.replay import SeenIds
from hub.streams import ensure_kv
from tests.integration.hubkit import governance, hub_running, signed_message

pytestmark = pytest.mark.integration

TD, GOV, SIGNER = governance()


async def test_replay_after_the_dedup_window_is_refused_as_duplicate(server: NatsServer) -> None:
    window = {"ingress_duplicate_window": "1s"}
    async with hub_running(server.url, GOV, SIGNER, streams=window):
        nc = await nats.connect(server.url)
        try:
            client = EnlaceClient(nc)
            _, raw, jws = signed_message(TD)
            first = await client.publish(raw, jws)
            await asyncio.sleep(1.5)  # JetStream forgets the Nats-Msg-Id
            replay = await client.publish(raw, jws)
        finally:
            await nc.close()

    assert first.status == "accepted"
    assert not replay.duplicate  # JetStream let it in again…
    assert replay.outcome is not None
    assert (replay.status, replay.outcome["reason"]) == ("rejected", "duplicate")  # …the hub not


async def test_a_claim_is_released_only_by_the_message_that_made_it(server: NatsServer) -> None:
    nc = await nats.connect(server.url)
    try:
        seen = SeenIds(await ensure_kv(nc.jetstream(), "claims", 60, 1))
        assert await seen.claim("m-1", 5) is False  # new
        assert await seen.claim("m-1", 5) is True  # the same INGRESS message again
        with pytest.raises(DuplicateMessage):
            await seen.claim("m-1", 6)  # another message with that id: a replay
        assert await seen.release("m-1", 6) is False  # not its claim: kept
        assert await seen.accepted_at_seq("m-1") == 5
        assert await seen.release("m-1", 5) is True
        assert await seen.accepted_at_seq("m-1") is None
        assert await seen.claim("m-1", 7) is False  # may be sent again after a release
    finally:
        await nc.close()
