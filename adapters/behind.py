"""The batch behind: a sink's receipts and acks of one batch, finishing beside the next.

A sink's batch is fetched, checked, written (durably) and its dead letters stored; then
its receipts are stored (one RECEIPTS message) and its deliveries acked. In the adapter
app (:meth:`adapters.runner.SinkRunner.settle` with ``overlap``) that last part of batch
N runs while batch N + 1 is fetched, checked and written: the sink's files keep their
stream order (N is written before N + 1 is fetched) and nothing is acked before its
receipt is stored, but a batch no longer waits for the server's synced write of the
batch before it. One batch at most is behind: the next one waits for it before it goes
behind in turn, so the two fill the consumer's window (``max_ack_pending``, two
batches) and never more.

A batch behind whose receipts are not stored is nak'ed by its own work, as a failed
batch is: its deliveries come again, find their files written, and are receipted then.
Once its receipts are stored, an ack the server is slow to answer does not fail it
(:meth:`adapters.runner.SinkRunner.handle_batch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Behind"]


class Behind:
    """At most one batch's receipts and acks in flight beside the next batch's work."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def hand(self, work: Callable[[], Awaitable[None]]) -> None:
        """Wait for the batch behind (if any), then start ``work`` (which handles its own
        failures: it must not raise) and return at once."""
        await self.flush()
        self._task = asyncio.ensure_future(work())

    async def flush(self) -> None:
        """Wait until no batch is behind."""
        while self._task is not None:
            task = self._task
            await task  # every flush waits for it, however many there are
            if self._task is task:
                self._task = None
