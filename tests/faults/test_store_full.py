"""The store's disk full for 20 s: the JetStream folder's file system runs out of space
mid-stream, then has room again. What the exchange stored is delivered; what it could not
store is refused (the publisher retries it) — never accepted and then lost. nats-server
keeps a stream whose store failed a write failed until it restarts: ``enlace up`` restarts
it once the disk has room (hub.up.store_watch)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.diskfull import tmpfs
from tests.faults.harness import SCALE, fault_up, lasting, scaled
from tests.faults.scenario import run_row
from tests.faults.tally import assert_sound

pytestmark = [
    pytest.mark.faults,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    # While nats-server stalls (below) the row takes minutes: make faults runs it.
    pytest.mark.skipif(SCALE <= 1, reason="make faults runs this row (minutes while it fails)"),
]

FULL = lasting(20.0)
RECOVER_AFTER_FULL = 60.0  # no ack_wait to outlast: a sink's write did not fail


async def test_the_stores_disk_full_for_20_s(tmp_path: Path) -> None:
    with fault_up(tmp_path, start=False) as fault, tmpfs(fault.dep.nats_dir / "jetstream") as disk:
        fault.start()

        async def fill() -> str:
            size = disk.fill_up()
            await asyncio.sleep(FULL)
            disk.resize("16g")
            return f"tmpfs shrunk to {size // 1024} KiB"

        row = await run_row(
            fault, f"store's disk full {FULL:g} s", scaled(400), 10, fill, RECOVER_AFTER_FULL
        )
    assert_sound(row)
