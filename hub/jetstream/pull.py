"""The one pull loop: every durable consumer the hub reads from is fetched here.

A :class:`PullLoop` fetches from one bound pull subscription and hands each batch to its
handler. What every loop needs is written once, here:

- **fetching** as every Enlace consumer does (:mod:`schemas.pull`, shared with the
  adapters): one message first, with a long poll (``poll``), then at once whatever else
  is there — unless the first says nothing was behind it (``num_pending``, sent by
  JetStream with each message): then it goes alone, without a second request;
- **a bound on messages in hand** (:class:`Room`), which loops may share: a place is taken
  before each long poll, so a message that comes to a quiet stream is fetched at once; the
  rest of a batch takes only the places free with nobody waiting for them (a flooding
  stream does not jump the queue);
- **done callbacks**: the handler calls ``done()`` as each message is finished (acked, or
  left for redelivery), which frees its place for the next fetch; the places of what it
  did not report are freed when it returns, whatever happened;
- **overlap**: batches are handed over without waiting (the next fetch needs only a free
  place), or, for a handler that must see one batch at a time, awaited in turn;
- **failures**: a failed fetch (the server restarting, the connection lost: the client
  reconnects by itself) is retried after a back-off that doubles up to a cap; a handler
  that raises is reported and, when the loop says so (``retry_after``), the messages of
  its batch not yet settled are nak'ed to come back after that delay;
- **hooks** (:class:`PullHooks`) see every fetch and failure: logging (:class:`LogPulls`)
  and metrics (:class:`CountPulls`) in one place for every loop;
- **stopping**: no fetch after :meth:`PullLoop.stop`; the batches in hand are finished
  first (nothing half-handled).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from hub.metrics import HubMetrics
from schemas.pull import fetch_first_then_rest

__all__ = [
    "BatchHandler",
    "CountPulls",
    "Done",
    "LogPulls",
    "PullHooks",
    "PullLoop",
    "Room",
]

log = structlog.get_logger("enlace.hub.pull")

Done = Callable[[], None]
"""Called by a handler once per message it has finished."""

BatchHandler = Callable[[list[Msg], Done], Awaitable[None]]
"""Handles one fetched batch, calling ``done()`` as each message is finished."""

_BACKOFF_FIRST = 0.25  # seconds after a first failed fetch…
_BACKOFF_MOST = 2.0  # …doubling up to this


class Room:
    """The places for messages in hand, for one loop or shared by several.

    An :class:`asyncio.Semaphore` hands places out first come, first served, so a loop
    waiting for a place (a quiet stream's) gets the next one freed before a loop that
    wants more for its batch (a busy stream's).
    """

    def __init__(self, size: int) -> None:
        self._places = asyncio.Semaphore(size)

    async def take(self) -> None:
        """One place, waiting for it in turn."""
        await self._places.acquire()

    async def take_free(self, most: int) -> int:
        """Up to ``most`` places that are free and that nobody waits for; how many."""
        taken = 0
        while taken < most and not self._places.locked():
            await self._places.acquire()  # returns at once: not locked
            taken += 1
        return taken

    def give(self, count: int = 1) -> None:
        """Free ``count`` places (messages finished, or fewer fetched than taken)."""
        for _ in range(count):
            self._places.release()


class PullHooks:
    """What a pull loop reports; a hook overrides what it watches (each does nothing here)."""

    def fetched(self, loop: str, count: int) -> None:
        """``count`` messages were fetched (one batch) by ``loop``."""

    def fetch_failed(self, loop: str, error: Exception, retry_in: float) -> None:
        """A fetch failed other than by finding nothing.

        Args:
            loop: the loop's name (its stream).
            error: what the fetch raised.
            retry_in: seconds until the next fetch (the back-off).
        """

    def batch_failed(self, loop: str, count: int, error: Exception) -> None:
        """The handler raised on a batch (a bug: it should settle each message itself).

        Args:
            loop: the loop's name (its stream).
            count: how many messages the batch had.
            error: what the handler raised.
        """


class LogPulls(PullHooks):
    """Logs what goes wrong in a pull loop (nothing when all is well: that is per message)."""

    def fetch_failed(self, loop: str, error: Exception, retry_in: float) -> None:
        """Log ``fetch_failed`` (a warning: the client reconnects by itself).

        Args:
            loop: the loop's name (its stream).
            error: what the fetch raised.
            retry_in: seconds until the next fetch.
        """
        log.warning("fetch_failed", loop=loop, error=type(error).__name__, retry_in=retry_in)

    def batch_failed(self, loop: str, count: int, error: Exception) -> None:
        """Log ``batch_failed`` (an error: a bug in the handler).

        Args:
            loop: the loop's name (its stream).
            count: how many messages the batch had.
            error: what the handler raised.
        """
        log.error(
            "batch_failed",
            loop=loop,
            count=count,
            error=type(error).__name__,
            detail=str(error)[:300],
        )


class CountPulls(PullHooks):
    """Counts fetched messages and failures in the hub's metrics, by loop."""

    def __init__(self, metrics: HubMetrics) -> None:
        self._metrics = metrics

    def fetched(self, loop: str, count: int) -> None:
        """Count the messages fetched (``enlace_pulled_total``)."""
        self._metrics.pulled.labels(loop).inc(count)

    def fetch_failed(self, loop: str, error: Exception, retry_in: float) -> None:
        """Count a failed fetch (``enlace_pull_failures_total``, stage ``fetch``).

        Args:
            loop: the loop's name (its stream).
            error: what the fetch raised.
            retry_in: seconds until the next fetch.
        """
        self._metrics.pull_failures.labels(loop, "fetch").inc()

    def batch_failed(self, loop: str, count: int, error: Exception) -> None:
        """Count a failed batch (``enlace_pull_failures_total``, stage ``batch``).

        Args:
            loop: the loop's name (its stream).
            count: how many messages the batch had.
            error: what the handler raised.
        """
        self._metrics.pull_failures.labels(loop, "batch").inc()


def _more_behind(msg: Msg) -> bool:
    """Whether JetStream had more messages for the consumer behind ``msg`` when it sent it
    (``num_pending`` of its metadata; True when it cannot tell)."""
    try:
        return bool(msg.metadata.num_pending)
    except Exception:  # not a JetStream message (tests): fetch as before
        return True


class _InHand:
    """The places of one fetched batch: freed as its messages are done, the rest at the end."""

    def __init__(self, room: Room, count: int) -> None:
        self._room = room
        self._left = count

    def done(self) -> None:
        if self._left > 0:
            self._left -= 1
            self._room.give()

    def release(self) -> None:
        self._room.give(self._left)
        self._left = 0


class PullLoop:
    """Fetches from one bound pull subscription until stopped, handing batches over.

    ``start()`` runs it as a task; ``await stop()`` ends it once the batches in hand are
    finished. See the module docstring for what it does on the way.

    Args:
        sub: the subscription, bound to its durable consumer.
        handle: what to do with each batch (:data:`BatchHandler`).
        name: the loop's name in logs and metrics (its stream).
        batch: the most messages one fetch takes.
        room: the places for messages in hand, shared with other loops; by default a
            room of ``batch`` places of its own.
        overlap: fetch the next batch while the handler still works on the last one;
            False awaits each batch before the next fetch (one batch at a time).
        hooks: told about fetches and failures (logging, metrics).
        on_idle: called after a poll that found nothing; True ends the loop (a stream
            drained for good).
        retry_after: when the handler raises, nak the messages it did not settle with
            this delay in seconds; None leaves them for the consumer's ``ack_wait``.
        poll: the long poll of the first fetch, in seconds.
    """

    def __init__(
        self,
        sub: JetStreamContext.PullSubscription,
        handle: BatchHandler,
        *,
        name: str,
        batch: int,
        room: Room | None = None,
        overlap: bool = True,
        hooks: Sequence[PullHooks] = (),
        on_idle: Callable[[], Awaitable[bool]] | None = None,
        retry_after: float | None = None,
        poll: float = 0.5,
    ) -> None:
        self.name = name
        self._sub = sub
        self._handle = handle
        self._batch = batch
        self._room = room or Room(batch)
        self._overlap = overlap
        self._hooks = tuple(hooks)
        self._on_idle = on_idle
        self._retry_after = retry_after
        self._poll = poll
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backoff = _BACKOFF_FIRST

    def start(self) -> None:
        """Run the loop as a task of its own (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"pull-{self.name}")

    async def stop(self) -> None:
        """Fetch no more; return once every batch in hand is finished."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def run(self) -> None:
        """Fetch and hand over until stopped (or ``on_idle`` ends it), then finish."""
        in_hand: set[asyncio.Task[None]] = set()
        while not self._stopping.is_set():
            msgs = await self._fetch()
            if msgs is None:
                if self._stopping.is_set() or not await self._idle():
                    continue
                break
            if not msgs:
                continue
            if not self._overlap:
                await self._hand(msgs)
                continue
            task = asyncio.create_task(self._hand(msgs))
            in_hand.add(task)
            task.add_done_callback(in_hand.discard)
        # Messages in hand are always finished, even when stopping: nothing half-handled.
        if in_hand:
            await asyncio.gather(*in_hand, return_exceptions=True)

    async def _idle(self) -> bool:
        """Whether the loop ends after a poll that found nothing."""
        return self._on_idle is not None and await self._on_idle()

    async def _fetch(self) -> list[Msg] | None:
        """One batch (:func:`schemas.pull.fetch_first_then_rest`); None after a poll that
        found nothing, [] after a failure (already reported, backed off)."""
        room = self._room
        await room.take()
        taken = 0

        async def rest() -> int:
            nonlocal taken
            taken = await room.take_free(self._batch - 1)
            return taken

        try:
            fetched = await fetch_first_then_rest(self._sub, self._poll, rest, more=_more_behind)
        except TimeoutError:  # nats-py raises asyncio.TimeoutError = TimeoutError
            room.give()
            self._backoff = _BACKOFF_FIRST  # the server answered
            return None
        except Exception as exc:
            room.give()
            if not self._stopping.is_set():
                await self._failed(exc)
            return []
        self._backoff = _BACKOFF_FIRST
        msgs = fetched.msgs
        room.give(taken + 1 - len(msgs))
        if fetched.failure is not None:
            # The first message is in hand: it is handled; the next fetch backs off.
            self._report_fetch_failure(fetched.failure)
        for hook in self._hooks:
            hook.fetched(self.name, len(msgs))
        return msgs

    async def _failed(self, exc: Exception) -> None:
        delay = self._report_fetch_failure(exc)
        await asyncio.sleep(delay)

    def _report_fetch_failure(self, exc: Exception) -> float:
        delay = self._backoff
        self._backoff = min(_BACKOFF_MOST, self._backoff * 2)
        for hook in self._hooks:
            hook.fetch_failed(self.name, exc, delay)
        return delay

    async def _hand(self, msgs: list[Msg]) -> None:
        places = _InHand(self._room, len(msgs))
        try:
            await self._handle(msgs, places.done)
        except Exception as exc:
            for hook in self._hooks:
                hook.batch_failed(self.name, len(msgs), exc)
            if self._retry_after is not None:
                for msg in msgs:
                    # One already acked or nak'ed raises at once, sending nothing.
                    with contextlib.suppress(Exception):
                        await msg.nak(delay=self._retry_after)
        finally:
            places.release()
