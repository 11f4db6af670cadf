"""The adapter process as a FastStream NATS application: every sink of the machine in one.

One :class:`CountryBroker` per country (its one login, one NATS connection), one
subscriber per sink of that country, bound to the durable pull consumer the hub made for
it (``CONSUMER.INFO`` and ``MSG.NEXT`` only: a country's login may not create consumers).
The handler of every subscriber is the same: the sink runner's steps
(:meth:`adapters.runner.SinkRunner.settle` — verify, write, retry, dead-letter, receipt,
then ack), over the batch the subscriber fetched, in stream order.

The subscriber is FastStream's batch pull subscriber with two methods of its own
(:class:`SinkSubscriber`), because FastStream 0.7.8's own loop would lose the order:

- its loop catches ``nats.errors.TimeoutError`` only, while nats-py's ``fetch(n)`` raises
  plain ``asyncio.TimeoutError`` once a batch's deadline has run out: what was gathered
  is dropped unacked (redelivered after ``ack_wait``, after later ones) and the task
  restarts; :func:`adapters.runner.fetch_batch` catches both and returns what it has;
- it collects a batch until it is full or its timeout runs out (a lone delivery waits out
  the timeout); the runner's fetch takes the first with a long poll and the rest that are
  already there at once;
- it subscribes with ``pull_subscribe``; :class:`SinkSubscriber` binds
  (``pull_subscribe_bind``), as the runner does, so that nothing could ever create or
  update a consumer.

FastStream's per-message pull subscriber is not used: it hands the messages of one fetch
to concurrent tasks (``anyio`` task group), out of order. ``max_workers`` > 1 is
concurrency too. With one batch at a time and a handler that settles it in order, a sink
sees its deliveries one at a time, in stream order, and nothing is acked before its
receipt is stored (``AckPolicy.MANUAL``: FastStream acks nothing by itself). The receipts
and acks of a written batch finish while the next batch is fetched, checked and written
(:mod:`adapters.behind`; one batch at most), and a broker stops only once they are done.

On stop, FastStream waits for a batch in hand (``graceful_timeout``) and then unbinds; a
batch fetched after the stop began is nak'ed unprocessed, so that it comes first to the
next process. The AsyncAPI document of the app (:func:`asyncapi`) lists every sink as a
subscriber of its country's deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import structlog
from faststream import Context, FastStream
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from faststream.nats.subscriber.usecases import BatchPullStreamSubscriber
from faststream.specification import AsyncAPI
from nats.aio.client import Client as NatsClient

from adapters.config import AdaptersConfig
from adapters.connection import close
from adapters.runner import RunnerSettings, SinkRunner, consumer_name, fetch_batch
from adapters.service import RunningAdapter, open_runners
from schemas.subjects import delivery_filter

__all__ = ["AdapterApp", "CountryBroker", "SinkSubscriber", "asyncapi", "describe", "open_app"]

log = structlog.get_logger("enlace.adapters.app")
_faststream_log = logging.getLogger("enlace.adapters.faststream")
_faststream_log.setLevel(logging.WARNING)

GRACEFUL_TIMEOUT = 3.0
"""Seconds a stop waits for the batches in hand (then they are redelivered: idempotent)."""

MessageBatch = Annotated[NatsBatchMessage, Context("message")]


class SinkSubscriber(BatchPullStreamSubscriber):
    """FastStream's batch pull subscriber, bound to a durable consumer, fetching as the
    runner does (see the module: the order and nothing dropped)."""

    __slots__ = ()

    async def _create_subscription(self) -> None:
        if self.subscription:
            return
        self.subscription = await self.jetstream.pull_subscribe_bind(
            durable=self.extra_options["durable"], stream=self.stream.name
        )
        self.add_task(self._consume_pull)

    async def _consume_pull(self) -> None:
        assert self.subscription, "_create_subscription first"
        batch, timeout = self.pull_sub.batch_size, self.pull_sub.timeout or 1.0
        while self.running:
            msgs = await fetch_batch(self.subscription, batch, timeout)
            if msgs and self.running:
                await self.consume(msgs)  # the handler settles each of them (SinkRunner)
            elif msgs:  # stopping: first in line for whoever consumes next
                for msg in msgs:
                    with contextlib.suppress(Exception):
                        await msg.nak()


class CountryBroker(NatsBroker):
    """A FastStream NATS broker on a connection already made with a country's login
    (:func:`adapters.connection.connect`: bounded attempts, clear failures); with none,
    only to describe (:func:`describe`). ``runners``: its sinks' runners, whose last
    batches' receipts and acks it waits for before it closes the connection."""

    def __init__(self, nc: NatsClient | None, runners: Sequence[SinkRunner] = ()) -> None:
        url = nc.connected_url.geturl() if nc and nc.connected_url else "nats://127.0.0.1:4222"
        super().__init__(
            servers=url,
            graceful_timeout=GRACEFUL_TIMEOUT,
            # FastStream's own lines: a warning or worse only (the runner logs each delivery).
            logger=_faststream_log,
            log_level=logging.DEBUG,
        )
        self._made = nc
        self._runners = tuple(runners)

    async def _connect(self) -> NatsClient:
        if self._made is None:
            raise RuntimeError("a CountryBroker without a connection only describes")
        self.config.connect(self._made)
        return self._made

    async def stop(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        """Stop the subscribers (a batch in hand finishes first), then close the connection
        as the adapters do (drained, or just closed while the server is away: FastStream's
        drain would raise then).

        Args:
            exc_type: the exception that ended the broker's ``async with``, if any.
            exc_val: that exception.
            exc_tb: its traceback.
        """
        made, self._connection = self._connection, None
        try:
            await super().stop(exc_type, exc_val, exc_tb)
        finally:
            # The last batches' receipts and acks, finishing behind (SinkRunner.settle).
            await asyncio.gather(*(runner.flush() for runner in self._runners))
            if made is not None:
                await close(made)


def _handler(runner: SinkRunner | None, settings: RunnerSettings) -> Any:
    async def settle(message: MessageBatch) -> None:
        assert runner is not None, "described only"
        await runner.settle(message.raw_message, overlap=True)

    settle.__name__ = f"{settings.country}_{settings.sink_name}"
    return settle


async def _undecoded(message: NatsBatchMessage) -> Any:
    """The bodies as they came: the handler reads the raw messages (the steps parse each
    delivery once); FastStream's own decoder would JSON-decode every body first."""
    return message.body


def subscribe(
    broker: NatsBroker, settings: RunnerSettings, kind: str, runner: SinkRunner | None
) -> SinkSubscriber:
    """Subscribe a sink to its durable consumer on ``broker``.

    Args:
        broker: the broker of the sink's country.
        settings: the sink's country, name and fetching.
        kind: the sink's kind (``folder``, ``webhook`` …).
        runner: the sink's runner, whose steps are the handler (None: only described).
    """
    subscriber = broker.subscriber(
        delivery_filter(settings.country),
        stream=JStream("DELIVERY", declare=False),
        durable=consumer_name(settings.country, settings.sink_name),
        pull_sub=PullSub(settings.fetch_batch, timeout=settings.fetch_timeout, batch=True),
        ack_policy=AckPolicy.MANUAL,
        decoder=_undecoded,
        title=f"{settings.country}/{settings.sink_name}",
        description=f"The {kind} sink {settings.sink_name!r} of {settings.country}: each "
        "delivery verified, written, receipted on enlace.receipt."
        f"{settings.country}, then acked, in stream order.",
    )
    # The factory made FastStream's batch subscriber; this one only fetches differently.
    subscriber.__class__ = SinkSubscriber
    subscriber(_handler(runner, settings))
    assert isinstance(subscriber, SinkSubscriber)
    return subscriber


@dataclass
class AdapterApp:
    """The FastStream app of one machine's sinks: a broker per country.

    Attributes:
        countries: each country's runners and connection (closed by :meth:`close`).
        brokers: each country's broker, its subscribers the country's sinks.
    """

    countries: list[RunningAdapter] = field(default_factory=list)
    brokers: list[CountryBroker] = field(default_factory=list)

    @property
    def runners(self) -> list[SinkRunner]:
        """Every sink's runner, country by country."""
        return [r for c in self.countries for r in c.runners]

    def add(self, running: RunningAdapter) -> None:
        """Add a country's runners (sinks open, checked) as subscribers of a broker of its own."""
        broker = CountryBroker(running.nc, running.runners)
        for runner in running.runners:
            subscribe(broker, runner.settings, runner.sink.name, runner)
        self.countries.append(running)
        self.brokers.append(broker)

    def faststream(self) -> FastStream:
        """The FastStream application of every broker, with its AsyncAPI document."""
        return FastStream(*self.brokers, specification=asyncapi(self.brokers), logger=None)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; then stop every broker at once (the batches in
        hand finish first, within :data:`GRACEFUL_TIMEOUT`), each whatever the others do."""
        try:
            await self.faststream().start()
            await stop.wait()
        finally:
            stopped = await asyncio.gather(
                *(broker.stop() for broker in self.brokers), return_exceptions=True
            )
            for running, outcome in zip(self.countries, stopped, strict=True):
                if isinstance(outcome, Exception):
                    country = running.runner.settings.country
                    log.warning("broker_stop_failed", country=country, error=repr(outcome))

    async def close(self) -> None:
        """Close every sink and connection."""
        for running in self.countries:
            await running.close()


def asyncapi(brokers: Sequence[NatsBroker]) -> AsyncAPI:
    """The AsyncAPI document of the adapter app: every sink a subscriber.

    Args:
        brokers: the brokers of the countries, their subscribers registered.
    """
    return AsyncAPI(
        *brokers,
        title="Enlace adapters",
        version="1.0.0",
        description="The sinks of this machine: each consumes its country's deliveries "
        "(enlace.out.<CC>.>) from its durable consumer on stream DELIVERY, in order, and "
        "publishes a signed receipt on enlace.receipt.<CC> before it acks.",
    )


async def open_app(home: Path, targets: dict[str, list[str]], nats_url: str) -> AdapterApp:
    """The app of ``targets`` (country: its sinks, all of them if empty), sinks open.

    Args:
        home: the deployment's (or party kit's) folder.
        targets: which sinks of which countries.
        nats_url: the NATS server.

    Raises:
        AdapterConfigError, UnknownSink, SigningKeyMissing, GovernanceError,
        NatsUnreachable, StreamsMissing.
    """
    app = AdapterApp()
    try:
        for country, sinks in targets.items():
            # One connection per country (its login) for all of its sinks.
            running = await open_runners(home, country, sinks, nats_url, start=False)
            app.countries.append(running)
            for runner in running.runners:
                await runner.prepare()
            app.countries.remove(running)
            app.add(running)
    except BaseException:
        await app.close()
        raise
    return app


def describe(config: AdaptersConfig, country: str | None = None) -> AsyncAPI:
    """The AsyncAPI document of the sinks ``config`` has (of ``country`` only if given),
    without connecting: the app :func:`open_app` would run.

    Args:
        config: the ``adapters:`` section of ``enlace.yaml``.
        country: only this country's sinks.
    """
    brokers: dict[str, CountryBroker] = {}
    for cc, sink in config.entries():
        if country is None or cc == country:
            broker = brokers.setdefault(cc, CountryBroker(None))
            subscribe(broker, RunnerSettings(cc, sink.sink_name), sink.sink, None)
    return asyncapi(list(brokers.values()))
