"""GT's ingress stream at its limit (its quota, 50 messages, while the hub is paused): the
publisher is told ``ingress_full`` for what does not fit, and everything stored is
delivered once the hub goes on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.harness import fault_up, scaled
from tests.faults.tally import RECOVER_WITHIN, assert_sound, record, settle
from tests.faults.traffic import publish, signed

pytestmark = [pytest.mark.faults, pytest.mark.integration]

QUOTA = 50


async def test_gt_ingress_stream_at_its_limit(tmp_path: Path) -> None:
    quota = {"ENLACE_STREAMS__INGRESS_MAX_MSGS_PER_PARTY": str(QUOTA)}
    with fault_up(tmp_path, quota) as fault:
        batch = signed(fault, scaled(200))
        hub = fault.running.process.pid
        os.kill(hub, signal.SIGSTOP)  # the hub takes nothing: GT's backlog reaches its quota
        try:
            sent = await publish(fault, batch, rate=500)
        finally:
            os.kill(hub, signal.SIGCONT)
        resumed = time.monotonic()
        verdicts = await settle(fault, sent, RECOVER_WITHIN)
        name = f"INGRESS_GT at its limit ({QUOTA} messages; hub paused)"
        row = record(fault, name, sent, verdicts, resumed)
    assert set(sent.refused.values()) == {"ingress_full"}
    assert len(sent.stored) == QUOTA
    assert_sound(row)
