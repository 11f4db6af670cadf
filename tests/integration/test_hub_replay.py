"""Replay: the same signed message again, after JetStream's de-duplication window, is refused."""

from __future__ import annotations

import asyncio

import nats
import pytest

from adapters.client import EnlaceClient
from hub.natsserver import NatsServer
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
