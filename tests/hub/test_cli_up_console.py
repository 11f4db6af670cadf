"""The console beside ``enlace up`` never holds up its exit.

Seen in CI: the embedded server was killed 35 ms after ``ready``, while the console's
start was still connecting to it; nats-py tries a first connection again every 2 s, 60
times, and ``enlace up`` waited for the console through all of it (its supervisor had
long given up and logged ``stopped``), past the test's 180 s guard.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.cli import up_console
from hub.cli.up_console import ConsoleBeside
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.server.process import free_port


async def test_a_console_still_connecting_to_a_dead_server_is_stopped_in_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up_console, "STOP_SECONDS", 1.0)
    nobody = f"nats://127.0.0.1:{free_port()}"  # nothing listens: every connect is refused
    console = ConsoleBeside(Deployment(tmp_path), HubSettings(nats_url=nobody))
    assert console.problem is None and console.url is not None
    console.start()
    started = time.monotonic()
    await console.stop()
    assert time.monotonic() - started < 5  # was ~120 s: nats-py's 60 tries, 2 s apart
