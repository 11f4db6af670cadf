"""``NatsServer.reload``: a running server takes new logins without a restart, or keeps its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import nats
import pytest

from hub.deployment import Deployment
from hub.errors import NatsServerError
from hub.server.logins import authorization_block, ensure_credentials, load_user
from hub.server.process import NatsServer
from tests.integration.conftest import start_nats_server

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    dep = Deployment(tmp_path / "dep")
    ensure_credentials(dep, ["GT"])
    return dep


@pytest.fixture
def server(deployment: Deployment, tmp_path: Path) -> Iterator[NatsServer]:
    srv = start_nats_server(tmp_path / "nats", authorization_block(deployment))
    yield srv
    srv.stop()


async def _connects(server: NatsServer, deployment: Deployment, name: str) -> bool:
    try:
        nc = await nats.connect(
            server.url,
            max_reconnect_attempts=0,
            allow_reconnect=False,
            **load_user(deployment, name).connect_options(),
        )
    except Exception:  # whatever nats-py raises for a refused login
        return False
    await nc.close()
    return True


async def test_a_new_login_works_after_reload_and_old_connections_stay(
    deployment: Deployment, server: NatsServer
) -> None:
    gt = await nats.connect(server.url, **load_user(deployment, "GT").connect_options())
    ensure_credentials(deployment, ["GT", "SV"])
    assert not await _connects(server, deployment, "SV")

    changed = server.reload(replace(server.config, authorization=authorization_block(deployment)))

    assert changed
    assert await _connects(server, deployment, "SV")
    assert gt.is_connected  # a reload drops no one
    await gt.close()
    assert server.config_path.stat().st_mode & 0o077 == 0


def test_the_same_config_is_not_reloaded(server: NatsServer) -> None:
    assert server.reload(server.config) is False


async def test_a_config_the_server_refuses_leaves_the_file_as_it_was(
    deployment: Deployment, server: NatsServer
) -> None:
    before = server.config_path.read_bytes()
    # The port cannot change while the server runs: nats-server refuses the reload.
    moved = replace(server.config, port=server.config.port + 1)
    with pytest.raises(NatsServerError, match="refused the new config"):
        server.reload(moved)
    assert server.config_path.read_bytes() == before
    assert await _connects(server, deployment, "GT")
