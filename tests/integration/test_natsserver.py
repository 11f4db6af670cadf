from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from hub.errors import NatsServerError
from hub.server.process import NatsServer, NatsServerConfig

pytestmark = pytest.mark.integration


async def test_jetstream_publish_is_acknowledged(nc: NatsClient) -> None:
    js = nc.jetstream()
    await js.add_stream(name="T", subjects=["t.>"])
    ack = await js.publish("t.x", b"hello")
    assert ack.stream == "T"
    assert ack.seq == 1


def test_busy_port_is_a_clear_error(nats_server: NatsServer, tmp_path: Path) -> None:
    config = NatsServerConfig(store_dir=tmp_path / "js", port=nats_server.config.port)
    with pytest.raises(NatsServerError, match="busy"):
        NatsServer(config, tmp_path / "n.conf").start()


def test_config_keeps_acknowledged_writes_on_disk(tmp_path: Path) -> None:
    text = NatsServerConfig(store_dir=tmp_path).render()
    assert "sync_interval: always" in text
    assert '"127.0.0.1:4222"' in text
