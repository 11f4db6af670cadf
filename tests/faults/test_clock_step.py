"""The clock stepped forward by an hour for ``enlace up`` (its hub and its adapter; not the
nats-server, not the publisher), mid-stream, with Debian's libfaketime: messages issued by
the publisher's clock are an hour old to the hub, within its acceptance window, and every
one is delivered; the audit log still verifies.

libfaketime 0.9.10 steps CLOCK_MONOTONIC with the wall clock (its
FAKETIME_DONT_FAKE_MONOTONIC makes every sleep fail with EINVAL), so timers due within the
hour fire at once: a harsher step than a real wall-clock one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.harness import fault_up, scaled
from tests.faults.scenario import run_row
from tests.faults.tally import assert_sound

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")

pytestmark = [
    pytest.mark.faults,
    pytest.mark.integration,
    pytest.mark.skipif(
        not LIBFAKETIME.is_file(), reason="no libfaketime (make system-deps installs it)"
    ),
]


async def test_the_hubs_clock_stepped_forward_an_hour(tmp_path: Path) -> None:
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    clock = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1",  # read the offset at every call: the step is immediate
    }
    with fault_up(tmp_path, clock) as fault:

        async def step() -> str:
            offset.write_text("+3600\n")
            await asyncio.sleep(1)
            return "libfaketime, offset file +0 → +3600 s"

        row = await run_row(fault, "clock +1 h for enlace up", scaled(400), 8, step)
    assert_sound(row)
