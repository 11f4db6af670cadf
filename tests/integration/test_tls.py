"""TLS on a real nats-server: only clients that trust the deployment CA and speak TLS get in."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from adapters.connection import login_for
from hub.deployment import Deployment
from hub.server.logins import HUB_USER, authorization_block, load_user
from hub.server.process import NatsServer, NatsServerConfig, free_port
from hub.server.tls import init_tls, tls_files
from schemas.tls import client_context
from tests.integration.conftest import plain_text_answer


@pytest.fixture(scope="module")
def tls_server(demo: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """The demo's server as `enlace up` runs it: its logins, TLS with the deployment CA."""
    root = tmp_path_factory.mktemp("tls")
    config = NatsServerConfig(
        store_dir=root / "js",
        port=free_port(),
        authorization=authorization_block(demo),
        tls=tls_files(demo),
    )
    server = NatsServer(config, root / "nats-server.conf")
    server.start()
    yield server
    server.stop()


async def _connect(url: str, **options: object) -> NatsClient:
    return await nats.connect(
        servers=[url],
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        error_cb=_quiet,
        **options,
    )


async def _quiet(_: Exception) -> None:
    pass


async def test_the_hub_and_a_party_kit_login_verify_the_server_and_get_in(
    demo: Deployment, tls_server: NatsServer
) -> None:
    hub = await _connect(tls_server.url, **load_user(demo, HUB_USER).connect_options())
    assert hub.connected_url is not None
    await hub.flush()
    await hub.close()
    gt = login_for(demo.home, "GT")
    assert isinstance(gt.options["tls"], ssl.SSLContext)
    party = await _connect(tls_server.url, **gt.options)
    await party.flush()
    await party.close()


async def test_a_client_that_does_not_trust_the_deployment_ca_is_refused(
    demo: Deployment, tls_server: NatsServer, tmp_path: Path
) -> None:
    options = load_user(demo, HUB_USER).connect_options()
    other_ca = init_tls(Deployment(tmp_path), ("127.0.0.1",), "other").files.ca_cert
    for untrusting in (client_context(other_ca), ssl.create_default_context()):
        with pytest.raises(ssl.SSLCertVerificationError):
            await _connect(tls_server.url, **{**options, "tls": untrusting})


async def test_a_plain_text_client_is_refused(tls_server: NatsServer) -> None:
    info, answer = plain_text_answer(tls_server.config.host, tls_server.config.port)
    assert info["tls_required"] is True
    assert b"PONG" not in answer  # nothing was taken in clear; the server hangs up


async def test_a_server_certificate_for_other_names_is_refused(
    demo: Deployment, tls_server: NatsServer
) -> None:
    # The certificate names 127.0.0.1 and localhost; a client that asks for another
    # name (as a man in the middle's victim would) refuses it, CA or not.
    options = load_user(demo, HUB_USER).connect_options()
    with pytest.raises(ssl.SSLCertVerificationError):
        await _connect(tls_server.url, **options, tls_hostname="nats.elsewhere.example")
