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


@pytest.mark.xfail(
    strict=True,
    reason="the folder sink takes EPERM/EACCES/ENOSPC/EROFS as permanent "
    "(adapters/sinks/folder.py _PERMANENT_ERRNOS) and the runner dead-letters such a "
    "delivery at once (reason sink_storage): every delivery during the outage is lost to "
    "DEADLETTER_US instead of retried when the folder takes writes again",
)
async def test_the_sink_folder_refuses_writes_for_40_s(tmp_path: Path) -> None:
    with fault_up(tmp_path) as fault:

        async def refuse() -> str:
            with refusing_writes(fault.inbox) as how:
                await asyncio.sleep(REFUSING)
            return f"inbox made unwritable with {how}"

        name = f"US's sink folder refuses writes {REFUSING:g} s"
        row = await run_row(fault, name, scaled(400), 2 * REFUSING, refuse)
    assert_sound(row)
