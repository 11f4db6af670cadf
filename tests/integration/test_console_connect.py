"""The console's NATS connection: a start with no server is a clear error within seconds,
and once connected it reconnects for ever, as the hub does.

Before: ``enlace console`` with no server waited ~2 minutes (nats-py's 60 first tries,
2 s apart), then uvicorn printed a traceback and "Application startup failed"; and a
connected console gave up for good after an outage of 60 reconnects.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import nats.errors
import pytest

from hub.cli.exit_codes import ExitCode
from hub.cli.up_console import ConsoleBeside
from hub.config import HubSettings
from hub.console import ConsoleSettings, bind_console, create_console
from hub.deployment import Deployment
from hub.server.connection_errors import connect_lasting
from hub.server.process import NatsServer, free_port


def _nobody() -> str:
    return f"nats://127.0.0.1:{free_port()}"  # nothing listens: every connect is refused


def test_enlace_console_without_a_server_says_so_and_exits_unavailable(demo: Deployment) -> None:
    nobody = _nobody()
    command = ["console", "--port", str(free_port()), "--nats-url", nobody]
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--home", str(demo.home), *command],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == ExitCode.UNAVAILABLE, done.stderr
    assert f"cannot reach NATS at {nobody}" in done.stderr
    assert "enlace up" in done.stderr
    assert "Traceback" not in done.stderr and "startup failed" not in done.stderr
    assert "enlace console: http" not in done.stdout  # it never served


def test_enlace_console_says_where_it_serves_once_connected(
    demo: Deployment, server: NatsServer
) -> None:
    command = ["console", "--port", str(free_port()), "--nats-url", server.url]
    with subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--home", str(demo.home), *command],
        stdout=subprocess.PIPE,
        text=True,
    ) as console:
        try:
            assert console.stdout is not None
            line = console.stdout.readline()
            assert line.startswith("enlace console: http://127.0.0.1:") and server.url in line
        finally:
            console.terminate()
        assert console.wait(30) in (0, -15)


async def test_the_console_beside_up_says_why_it_is_off_when_the_server_is_gone(
    tmp_path: Path,
) -> None:
    console = ConsoleBeside(Deployment(tmp_path), HubSettings(nats_url=_nobody()))
    assert console.problem is None
    console.start()
    for _ in range(300):
        if console.problem is not None:
            break
        await asyncio.sleep(0.1)
    assert console.problem is not None and "cannot reach NATS" in console.problem
    await console.stop()


async def test_a_first_connect_is_bounded_then_the_connection_reconnects_for_ever(
    server: NatsServer,
) -> None:
    with pytest.raises(nats.errors.NoServersError):
        await connect_lasting([_nobody()], "enlace-test", 3, {})
    nc = await connect_lasting([server.url], "enlace-test", 3, {})
    try:
        assert nc.is_connected and nc.options["max_reconnect_attempts"] == -1
    finally:
        await nc.close()


async def test_a_served_console_reconnects_for_ever(demo: Deployment, server: NatsServer) -> None:
    settings = ConsoleSettings(port=free_port())
    app = create_console(settings, demo, server.url, {})
    bound = bind_console(app, settings)
    task = asyncio.create_task(bound.serve())
    try:
        while not bound.server.started:
            assert not task.done()
            await asyncio.sleep(0.02)
        nc = app.state.console.nc_or_fail()
        assert nc.is_connected and nc.options["max_reconnect_attempts"] == -1
    finally:
        bound.stop()
        await task
