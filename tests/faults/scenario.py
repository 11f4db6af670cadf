"""One fault, the usual way: GT publishes at a steady rate; once a quarter of the messages
reached US, the fault is made and ended; then every message's fate is counted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from tests.faults.harness import FaultUp
from tests.faults.table import Row
from tests.faults.tally import RECOVER_WITHIN, audit_end, record, settle
from tests.faults.traffic import Sent, publish, publish_elsewhere, signed
from tests.integration.upkit import WAIT, wait_for

__all__ = ["Fault", "NotRecovered", "run_row"]

Fault = Callable[[], Awaitable[str | None]]
"""Makes the fault and returns once it has ended, with a note for the table (or None);
raises :class:`NotRecovered` when the exchange did not come back from it."""

_AFTER_NO_RECOVERY = 5.0


class NotRecovered(AssertionError):
    """The exchange did not recover from the fault (the message says how): the row is
    recorded as it stands, then the test fails."""


async def run_row(
    fault: FaultUp,
    name: str,
    count: int,
    spread: float,
    make: Fault,
    recover_within: float = RECOVER_WITHIN,
    batch: list[tuple[str, bytes, str]] | None = None,
    quarter_within: float = WAIT,
    elsewhere: bool = False,
) -> Row:
    """Publish ``count`` messages evenly over ``spread`` seconds, ``make`` the fault a
    quarter of the way through the deliveries, and record the row.

    Args:
        fault: the running deployment.
        name: the fault as the table says it.
        count: how many messages GT sends.
        spread: over how many seconds (the same at every scale: more messages, faster).
        make: the fault (see :data:`Fault`).
        recover_within: how long to wait after it for every accepted message to land.
        batch: the ``count`` signed messages to send (GT's trace requests to US if none).
        quarter_within: how long a quarter of the messages may take to reach US.
        elsewhere: publish from a process of its own (:func:`publish_elsewhere`).
    """
    batch = signed(fault, count) if batch is None else batch
    sender = publish_elsewhere if elsewhere else publish
    since = await audit_end(fault) + 1  # this row's decisions come after what is logged
    # A quarter of this row's messages: the deployment may have taken an earlier row's.
    quarter = len(fault.writes.first) + max(1, count // 4)
    publishing = asyncio.create_task(sender(fault, batch, count / spread))
    await asyncio.to_thread(
        wait_for, lambda: len(fault.writes.first) >= quarter, "deliveries", quarter_within
    )
    try:
        note = await make()
    except NotRecovered as failure:
        publishing.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await publishing  # cut short: how it ended does not matter any more
        # What the publisher had sent when it stopped: the rest never left it.
        sent = Sent(ids=[mid for mid, _, _ in batch])
        verdicts = await settle(fault, sent, _AFTER_NO_RECOVERY, since)
        record(fault, name, sent, verdicts, time.monotonic(), str(failure))
        raise
    ended = time.monotonic()
    sent = await publishing
    verdicts = await settle(fault, sent, recover_within, since)
    return record(fault, name, sent, verdicts, ended, note or "")
