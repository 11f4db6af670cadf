"""SIGSTOP of nats-server for 20 s, then SIGCONT: the hub, the adapter and the publisher
wait it out, and nothing is lost or written twice."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.faults.harness import fault_up, lasting, scaled
from tests.faults.scenario import run_row
from tests.faults.tally import assert_sound

pytestmark = [pytest.mark.faults, pytest.mark.integration]

PAUSE = lasting(20.0)


async def test_sigstop_of_nats_server_for_20_s(tmp_path: Path) -> None:
    with fault_up(tmp_path) as fault:

        async def pause() -> None:
            server = fault.pid_of("nats-server")
            os.kill(server, signal.SIGSTOP)
            try:
                await asyncio.sleep(PAUSE)
            finally:
                os.kill(server, signal.SIGCONT)

        row = await run_row(fault, f"SIGSTOP of nats-server {PAUSE:g} s", scaled(400), 10, pause)
    assert_sound(row)
