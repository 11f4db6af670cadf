"""kill -9 of US's sink adapter mid-stream: ``enlace up`` starts it again, and it
finishes what the dead one had taken without writing any message twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.faults.harness import fault_up, scaled
from tests.faults.scenario import run_row
from tests.faults.tally import assert_sound

pytestmark = [pytest.mark.faults, pytest.mark.integration]


async def test_kill_9_of_the_sink_adapter(tmp_path: Path) -> None:
    with fault_up(tmp_path) as fault:

        async def kill() -> None:
            os.kill(fault.pid_of("adapter"), signal.SIGKILL)

        row = await run_row(fault, "kill -9 of US's sink adapter", scaled(400), 4, kill)
    assert_sound(row)
