"""kill -9 of the embedded nats-server mid-stream: ``enlace up`` starts it again, and the
hub, the adapter and the publisher carry on without losing or doubling anything."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.faults.harness import fault_up, scaled
from tests.faults.scenario import NotRecovered, run_row
from tests.faults.tally import assert_sound

pytestmark = [pytest.mark.faults, pytest.mark.integration]

RESTART_WITHIN = 15.0


async def test_kill_9_of_nats_server(tmp_path: Path) -> None:
    with fault_up(tmp_path) as fault:

        async def kill() -> str:
            server = fault.pid_of("nats-server")
            os.kill(server, signal.SIGKILL)
            again = await asyncio.to_thread(
                fault.wait_for_new, "nats-server", server, RESTART_WITHIN
            )
            if again is None:
                raise NotRecovered(f"no nats-server running {RESTART_WITHIN:g} s after the kill")
            return f"restarted as pid {again}"

        row = await run_row(fault, "kill -9 of nats-server", scaled(400), 8, kill)
    assert_sound(row)
