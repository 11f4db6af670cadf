"""``adapters.connection`` against a real nats-server that goes away under a connection."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from adapters.connection import close, connect
from hub.server.process import NatsServer

pytestmark = pytest.mark.integration


async def test_a_connection_the_server_left_keeps_trying_and_closes_when_asked(
    server: NatsServer,
) -> None:
    nc = await connect(server.url)
    with capture_logs() as logs:
        server.stop()
        for _ in range(200):  # an upper bound on a loaded machine, not a timing goal
            if any(e["event"] == "nats_reconnecting" for e in logs):
                break
            await asyncio.sleep(0.05)
        assert nc.is_reconnecting
        await close(nc)  # a drain would raise: the connection is reconnecting
    assert nc.is_closed
    tries = [e for e in logs if e["event"] == "nats_reconnecting"]
    assert tries and all(e["url"] == server.url and "reason" in e for e in tries)
