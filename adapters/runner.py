"""The sink runner: one durable pull consumer per country and sink, from DELIVERY to a sink.

For each delivery on ``enlace.out.<cc>.>``, in stream order, one at a time:

1. parse and verify it (sender's signature for the full view, the hub's countersignature
   for a redacted one) — a delivery that fails is **never written** (:mod:`adapters.steps`);
2. write it through the sink, which is idempotent on the message id;
   — every fresh delivery of a fetched batch in one write where the sink's medium allows
   (:class:`~adapters.base.BatchSink`), one at a time if that write fails;
3. retry transient failures in place with exponential backoff and full jitter (in place
   keeps the order; the ack deadline is extended while waiting) (:mod:`adapters.retries`);
4. send permanent failures, tampered deliveries and deliveries over the retry limit to
   ``enlace.deadletter.<cc>`` (stream DEADLETTER_<cc>) with ``Enlace-Reason``
   (:mod:`adapters.deadletters`, which also replays them);
5. publish a receipt signed by the country's system key on ``enlace.receipt.<cc>``
   (``delivered``, or ``dead_lettered`` with the reason), the receipts of a fetched batch
   together in one RECEIPTS message, awaiting JetStream's ack (:mod:`adapters.receipting`);
6. only then ack the delivery. A crash anywhere before leads to a redelivery, which the
   sink's idempotency and the receipt's ``Nats-Msg-Id`` turn into a no-op.

This module holds the steps of a fetched batch (:meth:`SinkRunner.settle`) and the
adapters' only fetch (:func:`fetch_batch`, by :mod:`schemas.pull` as the hub's loop
fetches: they may not import the hub's ``hub.jetstream.pull``). ``enlace adapter run``
runs them as a FastStream application (:mod:`adapters.app`: a broker per country, a
subscriber per sink, whose handler is
:meth:`SinkRunner.settle` with ``overlap``: steps 5 and 6 of a batch finish while the next
batch is fetched, checked and written, :mod:`adapters.behind`); :meth:`SinkRunner.run` is
the same loop without FastStream, one batch at a time (tests and benchmarks).

Measured of FastStream 0.7.8's pull subscribers (with nats-py 2.16), and why
:mod:`adapters.app` fetches with :func:`fetch_batch`: bound by ``durable=`` to a
``JStream(name, declare=False)`` it makes no ``CONSUMER.CREATE`` (only ``CONSUMER.INFO``
and ``MSG.NEXT``: a country's login suffices), but its batch loop (``PullSub(batch=True)``)
catches ``nats.errors.TimeoutError`` only, while nats-py's ``fetch`` raises plain
``asyncio.TimeoutError`` when the rest of a batch's deadline has run out: the messages
gathered so far are dropped unacked (redelivered after ``ack_wait``, after later ones: out
of order; ``tests/integration/test_adapter_app.py`` fails with it) and the task restarts;
its per-message loop hands a fetched batch's messages to concurrent tasks (out of order
as well).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from adapters.base import Sink
from adapters.behind import Behind
from adapters.deadletters import DeadLetters
from adapters.delivery import Delivery
from adapters.errors import StreamsMissing, reason_of
from adapters.keys import Signer
from adapters.receipting import ReceiptPublisher, ToReceipt
from adapters.retries import Keepalive, backoff_delay
from adapters.steps import DeliverySteps, Failure, Processed, RunnerSettings, Written
from schemas.directory import Directory
from schemas.pull import FULL_FETCH, fetch_first_then_rest
from schemas.receipts import ReceiptStatus
from schemas.subjects import delivery_filter, sink_consumer

__all__ = [
    "RUNNER_STREAMS",
    "Processed",
    "RunnerSettings",
    "SinkRunner",
    "backoff_delay",
    "consumer_name",
    "fetch_batch",
    "reason_of",
]

log = structlog.get_logger("enlace.adapters.runner")

_FETCH_PAUSE = 0.5  # seconds after a failed fetch (the connection is reconnecting)

RUNNER_STREAMS = ("DELIVERY", "RECEIPTS")
"""The shared streams a runner reads from and writes to; the hub creates them
(``hub.jetstream.streams``), with the country's own dead-letter stream
(``schemas.subjects.deadletter_stream``)."""


async def fetch_batch(
    sub: JetStreamContext.PullSubscription,
    batch: int,
    poll: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[Msg]:
    """The next deliveries of ``sub``, in stream order: none if none came within ``poll``.

    Fetched as every Enlace consumer fetches (:func:`schemas.pull.fetch_first_then_rest`:
    one with a long poll, then what else is there, waiting up to
    :data:`~schemas.pull.FULL_FETCH` for a full batch). What was fetched is always
    returned, never dropped unacked.

    Args:
        sub: the bound pull subscription.
        batch: the most deliveries to return.
        poll: how long to wait for the first one (seconds).
        sleep: how to wait after a failed fetch (the connection is down).
    """

    async def rest() -> int:
        return batch - 1

    try:
        fetched = await fetch_first_then_rest(sub, poll, rest, FULL_FETCH)
    except TimeoutError:  # nats-py raises asyncio's (= builtin) or its subclass
        return []
    except nats.errors.Error as err:  # the connection is down: it reconnects by itself
        log.warning("fetch_failed", error=type(err).__name__)
        await sleep(_FETCH_PAUSE)
        return []
    return fetched.msgs


def _processed(outcome: Written | Failure) -> Processed:
    if isinstance(outcome, Failure):
        return Processed.DEAD_LETTERED
    return Processed.DUPLICATE if outcome[1].duplicate else Processed.DELIVERED


def _receipt(msg: Msg, outcome: Written | Failure) -> ToReceipt | None:
    """What the receipt of one delivery says (None: a dead letter too broken to name its
    delivery gets none); the caller stores it, then acks."""
    seq = msg.metadata.sequence.stream  # the receipt names it: the hub checks it
    if isinstance(outcome, Failure):
        if outcome.delivery is None:
            return None
        reason = reason_of(outcome.error)
        return ToReceipt(outcome.delivery, seq, ReceiptStatus.DEAD_LETTERED, reason)
    return ToReceipt(outcome[0], seq, ReceiptStatus.DELIVERED)


async def _ack_all(
    msgs: list[Msg], within: float, logger: structlog.typing.FilteringBoundLogger
) -> int:
    """Ack ``msgs`` (their receipts are stored), waiting ``within`` seconds (half the
    consumer's ``ack_wait``) at most for the server's answers.

    An ack not answered in time is not a failed batch: nats-py's default wait (1 s)
    ran out again and again on a loaded cluster, and nak'ing the batch then only
    added work. An ack that was late is applied; one that was lost (its consumer's
    leader frozen or dead) lets the delivery come again after ``ack_wait``, to be
    found written and receipted once more (the receipt's ``Nats-Msg-Id`` dedupes it).
    Returns how many acks were not answered in time.
    """
    answers = await asyncio.gather(
        *(m.ack_sync(timeout=within) for m in msgs), return_exceptions=True
    )
    late = [a for a in answers if isinstance(a, BaseException)]
    if late:
        reasons = sorted({type(a).__name__ for a in late})
        logger.warning("acks_unanswered", count=len(late), errors=reasons)
    return len(late)


def consumer_name(country: str, sink_name: str) -> str:
    """The durable consumer of ``sink_name`` for ``country`` (one per sink, all get all)."""
    return sink_consumer(country, sink_name)


class SinkRunner:
    """Drives one sink from the country's deliveries.

    Args:
        js: a JetStream context.
        sink: the sink (opened by :meth:`start`).
        directory: returns the directory currently accepted (it may be reloaded).
        signer: the country's system key, for receipts.
        settings: consumer and retry settings.
        rng: jitter source (seeded in tests).
        sleep: how to wait between retries (a test may make it instant).
    """

    def __init__(
        self,
        js: JetStreamContext,
        sink: Sink,
        directory: Callable[[], Directory],
        signer: Signer,
        settings: RunnerSettings,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.js = js
        self.sink = sink
        self.settings = settings
        self.steps = DeliverySteps(sink, directory, settings, rng=rng, sleep=sleep)
        self.receipts = ReceiptPublisher(js, signer, settings.sink_name, settings.max_bytes)
        self.dead_letters = DeadLetters(js, settings.country, settings.sink_name)
        self._sleep = sleep
        self.behind = Behind()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._beat_every = settings.ack_wait / 3
        self._ack_within = settings.ack_wait / 2
        self.acks_unanswered = 0  # acks the server did not answer in time, so far
        self._log = log.bind(country=settings.country, sink=settings.sink_name)

    @property
    def consumer(self) -> str:
        """This sink's durable consumer on DELIVERY (the hub makes it)."""
        return consumer_name(self.settings.country, self.settings.sink_name)

    @property
    def deadletter_stream(self) -> str:
        """This country's dead-letter stream."""
        return self.dead_letters.stream

    @property
    def filter_subject(self) -> str:
        """Every delivery to this country (its consumer's filter)."""
        return delivery_filter(self.settings.country)

    async def start(self) -> None:
        """Open the sink and bind to its durable consumer, which the hub made.

        Raises:
            StreamsMissing: the hub has not made DELIVERY, this sink's consumer or this
                country's dead-letter stream on this NATS.
        """
        await self.sink.open()
        await self.prepare()
        self._sub = await self.js.pull_subscribe_bind(durable=self.consumer, stream="DELIVERY")

    async def prepare(self) -> None:
        """Check that what the sink consumes exists (the sink is open); bind nothing (the
        FastStream app's subscriber binds, :mod:`adapters.app`).

        A country's login may not create consumers (a create of an existing one would
        update it, so whoever may create may re-point another's): the hub makes every
        sink's consumer from ``enlace.yaml``'s ``adapters:`` section.

        Raises:
            StreamsMissing: the hub has not made DELIVERY, this sink's consumer or this
                country's dead-letter stream on this NATS.
        """
        try:
            # The country's login may read the info of its own sinks' consumers only.
            info = await self.js.consumer_info("DELIVERY", self.consumer)
        except NotFoundError:
            raise StreamsMissing(
                f"the hub has made no consumer {self.consumer} on stream DELIVERY of this "
                f"NATS server: add sink {self.settings.sink_name!r} of "
                f"{self.settings.country} to the `adapters:` section of the hub's enlace.yaml "
                "and run `enlace reload` (or start the hub: `enlace up`), or point "
                "--nats-url at the hub's server"
            ) from None
        if info.config.ack_wait:  # the hub's, whatever this runner's settings say
            self._beat_every = max(0.2, info.config.ack_wait / 3)
            self._ack_within = max(0.5, info.config.ack_wait / 2)
        try:
            # The country's login may read the info of its own dead-letter stream only.
            await self.js.stream_info(self.deadletter_stream)
        except NotFoundError:
            raise StreamsMissing(
                f"stream {self.deadletter_stream} does not exist on this NATS server; the hub "
                f"creates it for every party of its directory: check that "
                f"{self.settings.country} is in the directory and restart the hub (`enlace up`)"
            ) from None

    async def stop(self) -> None:
        """Finish the batch behind, unbind from the consumer and close the sink."""
        await self.flush()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        await self.sink.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set."""
        while not stop.is_set():
            await self.run_once()

    async def run_once(self) -> int:
        """Fetch one batch and process it in order; returns how many were handled."""
        if self._sub is None:
            raise RuntimeError("SinkRunner.start() was not called")
        msgs = await fetch_batch(
            self._sub, self.settings.fetch_batch, self.settings.fetch_timeout, self._sleep
        )
        await self.settle(msgs)
        return len(msgs)

    async def settle(self, msgs: list[Msg], *, overlap: bool = False) -> None:
        """Process fetched ``msgs`` in order (:meth:`handle_batch`); on NATS trouble leave
        what is not acked, nak'ed so that it comes back first, in order, after a pause.

        ``overlap`` (the app): return once the batch is written and its dead letters
        stored, its receipts and acks left to finish beside the next batch's fetch, checks
        and write (:class:`~adapters.behind.Behind`: one batch at most, so two batches
        fill the consumer's window); :meth:`flush` waits for them.
        """
        if not msgs:
            return
        try:
            if not overlap:
                await self.handle_batch(msgs)
                return
            receipts = (await self._write(msgs))[1]
            await self.behind.hand(partial(self._finish_behind, msgs, receipts))
        except Exception:
            await self._nak_all(msgs)
            await self._sleep(self.settings.retry.backoff_base)

    async def flush(self) -> None:
        """Wait for the receipts and acks of a batch settled with ``overlap``."""
        await self.behind.flush()

    async def _nak_all(self, msgs: list[Msg]) -> None:
        # A receipt or dead letter not stored: nothing of it is acked.
        self._log.exception("batch_failed_will_retry", count=len(msgs))
        for msg in msgs:
            with contextlib.suppress(Exception):  # one acked raises at once
                await msg.nak(delay=self.settings.retry.backoff_base)

    async def _finish_behind(self, msgs: list[Msg], receipts: list[ToReceipt]) -> None:
        try:
            await self._receipt_and_ack(msgs, receipts)
        except Exception:
            await self._nak_all(msgs)  # no pause: the next batch is under way already

    async def drain(self) -> int:
        """Process until nothing is pending (for tests and one-shot catch-up)."""
        total = 0
        while True:
            handled = await self.run_once()
            total += handled
            if handled == 0:
                return total

    async def handle_batch(self, msgs: list[Msg]) -> list[Processed]:
        """Verify, write (one batch where the sink can), receipt, then ack DELIVERY messages.

        Every message is acked only once its write is durable and its receipt (or dead
        letter and receipt) stored. While the batch is in hand, its acks awaited included,
        its ack deadlines are kept pushed out (in-progress every third of ``ack_wait``),
        so the consumer's short ``ack_wait`` redelivers only what a lost connection really
        dropped. An ack the server is slow to answer (half ``ack_wait``) is left to it: the
        batch is not nak'ed once its receipts are stored.
        """
        outcomes, receipts = await self._write(msgs)
        await self._receipt_and_ack(msgs, receipts)
        return [_processed(outcome) for outcome in outcomes]

    async def _write(self, msgs: list[Msg]) -> tuple[list[Written | Failure], list[ToReceipt]]:
        """Verify and write ``msgs``, store their dead letters; what each became and the
        receipts to store."""
        async with self._heartbeat(msgs) as keepalive:
            reads = [
                self.steps.read(m.subject, dict(m.headers or {}), m.data, m.metadata.timestamp)
                for m in msgs
            ]
            verified = [r for r in reads if isinstance(r, Delivery)]
            written = iter(await self.steps.write_batch(verified, keepalive))
            outcomes = [r if isinstance(r, Failure) else next(written) for r in reads]
            for msg, outcome in zip(msgs, outcomes, strict=True):
                if isinstance(outcome, Failure):  # in stream order, one by one (rare)
                    await self._dead_letter(msg, outcome)
        receipts = [_receipt(m, o) for m, o in zip(msgs, outcomes, strict=True)]
        return outcomes, [r for r in receipts if r is not None]

    async def _receipt_and_ack(self, msgs: list[Msg], receipts: list[ToReceipt]) -> None:
        """Store the batch's receipts (raises if they are not: the caller naks), then ack
        its deliveries, the deadline pushed out all along."""
        async with self._heartbeat(msgs):
            # One RECEIPTS message for the batch (more only past the size limit): one
            # persisted write, not one per delivery.
            await self.receipts.publish_all(receipts)
            self.acks_unanswered += await _ack_all(msgs, self._ack_within, self._log)

    async def _dead_letter(self, msg: Msg, failure: Failure) -> None:
        seq = msg.metadata.sequence.stream
        headers = dict(msg.headers or {})
        await self.dead_letters.send(
            msg.subject, headers, msg.data, msg.metadata.timestamp, failure.error, seq
        )

    @contextlib.asynccontextmanager
    async def _heartbeat(self, msgs: list[Msg]) -> AsyncIterator[Keepalive]:
        """Push the ack deadline of ``msgs`` out now and then while the block runs."""

        async def beat() -> None:
            for msg in msgs:
                with contextlib.suppress(Exception):  # the connection may be gone
                    await msg.in_progress()

        async def beating() -> None:
            while True:
                await asyncio.sleep(self._beat_every)
                await beat()

        task = asyncio.create_task(beating())
        try:
            yield beat
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def replay_dead_letters(self) -> list[tuple[int, Processed | str]]:
        """Try every dead letter of this country and sink again.

        A dead letter that now goes through is delivered (with a receipt) and removed from
        the country's dead-letter stream; one that fails again stays, unchanged. Returns
        (stream seq, outcome or the reason it failed again) per dead letter.
        """
        if self._sub is None:
            await self.sink.open()
        return await self.dead_letters.replay(self.steps.process, self.receipts)
