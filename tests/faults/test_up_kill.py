"""kill -9 of ``enlace up`` mid-stream, then ``enlace up`` again as an operator would: it
starts cleanly (no orphan of the first holds its port) and delivers everything once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.faults.harness import fault_up, scaled
from tests.faults.scenario import NotRecovered, run_row
from tests.faults.tally import assert_sound

pytestmark = [pytest.mark.faults, pytest.mark.integration]


async def test_kill_9_of_enlace_up_then_up_again(tmp_path: Path) -> None:
    with fault_up(tmp_path) as fault:

        async def crash() -> str:
            first = fault.running.process
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
            left = sorted(fault.processes())
            try:
                await asyncio.to_thread(fault.start)
            except AssertionError as refused:
                said = str(refused).split(":")[0]  # "enlace up exited N"
                raise NotRecovered(f"{said}; orphans of the first: pids {left}") from None
            return "then enlace up again"

        row = await run_row(fault, "kill -9 of enlace up", scaled(400), 8, crash)
    assert_sound(row)
