"""The hub's NATS login on a real server: it runs the exchange but cannot erase the audit log.

(Per-country refusals are in ``test_hub_permissions.py``.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NatsClient

from hub.audit import AuditReader, CheckpointSigner, kinds
from hub.deployment import Deployment
from hub.server.logins import (
    HUB_USER,
    OPERATOR_USER,
    authorization_block,
    ensure_credentials,
    load_user,
)
from hub.server.process import NatsServer
from tests.integration.auditkit import open_audit_writer
from tests.integration.conftest import start_nats_server
from tests.integration.test_hub_permissions import Errors

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("dep"))
    ensure_credentials(dep, ["GT", "HN"])
    return dep


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[NatsServer]:
    srv = start_nats_server(deployment.home / "nats", authorization=authorization_block(deployment))
    yield srv
    srv.stop()


@pytest.fixture
async def hub(
    deployment: Deployment, server: NatsServer
) -> AsyncIterator[tuple[NatsClient, Errors]]:
    errors = Errors()
    nc = await nats.connect(
        server.url,
        error_cb=errors.record,
        max_reconnect_attempts=1,
        **load_user(deployment, HUB_USER).connect_options(),
    )
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "hub-k1")
    writer = await open_audit_writer(nc.jetstream(), signer, "enlace-test")
    await writer.append([kinds.hub_event("start", "enlace-test")])
    await writer.close()
    yield nc, errors
    await nc.close()


async def _audit_messages(nc: NatsClient) -> int:
    return (await nc.jetstream().stream_info("AUDIT")).state.messages


@pytest.mark.parametrize("action", ["delete_stream", "purge_stream", "delete_msg"])
async def test_the_hub_cannot_erase_the_audit_log(
    hub: tuple[NatsClient, Errors], action: str
) -> None:
    nc, errors = hub
    before = await _audit_messages(nc)
    js = nc.jetstream(timeout=1)

    async def call() -> object:
        if action == "delete_stream":
            return await js.delete_stream("AUDIT")
        if action == "purge_stream":
            return await js.purge_stream("AUDIT")
        return await js.delete_msg("AUDIT", 1)

    # A refused publish gets no reply: the request times out and the server says why.
    with pytest.raises(Exception):  # noqa: B017 (timeout or API error, both mean refused)
        await call()
    assert await errors.wait_for("permissions violation")
    assert await _audit_messages(nc) == before >= 1


async def test_the_hub_may_still_manage_its_other_streams(
    hub: tuple[NatsClient, Errors],
) -> None:
    nc, errors = hub
    js = nc.jetstream(timeout=3)
    await js.add_stream(name="SCRATCH", subjects=["enlace.scratch"])
    await js.publish("enlace.scratch", b"x")
    await js.purge_stream("SCRATCH")
    assert await js.delete_stream("SCRATCH")
    assert not errors.seen


async def test_the_operator_login_reads_the_audit_log_and_nothing_else(
    deployment: Deployment, server: NatsServer, hub: tuple[NatsClient, Errors]
) -> None:
    errors = Errors()
    nc = await nats.connect(
        server.url,
        error_cb=errors.record,
        max_reconnect_attempts=1,
        **load_user(deployment, OPERATOR_USER).connect_options(),
    )
    try:
        entries = await AuditReader(nc.jetstream(timeout=3)).read_all()
        assert entries
        assert not errors.seen
        await nc.publish("enlace.in.GT.gangs.gang_movement", b"{}")
        await nc.flush()
        assert await errors.wait_for("permissions violation")
    finally:
        await nc.close()
