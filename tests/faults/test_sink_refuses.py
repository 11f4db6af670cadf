"""US's inbox refuses every write for 40 s: deliveries wait (or are retried) and all land
once it takes writes again; none is given up on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.harness import fault_up, lasting, scaled
from tests.faults.refusing import refusing_writes
from tests.faults.scenario import run_row
from tests.faults.tally import assert_sound

pytestmark = [pytest.mark.faults, pytest.mark.integration]

REFUSING = lasting(40.0)


async def test_the_sink_folder_refuses_writes_for_40_s(tmp_path: Path) -> None:
    with fault_up(tmp_path) as fault:

        async def refuse() -> str:
            with refusing_writes(fault.inbox) as how:
                await asyncio.sleep(REFUSING)
            return f"inbox made unwritable with {how}"

        name = f"US's sink folder refuses writes {REFUSING:g} s"
        row = await run_row(fault, name, scaled(400), 2 * REFUSING, refuse)
    assert_sound(row)
