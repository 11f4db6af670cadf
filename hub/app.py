"""The hub application: connection, streams, buckets and workers, built by :func:`create_app`.

No module-global broker: each call builds its own app, so tests and several hub processes
in one test run do not share state. Each country publishes into its own ingress stream
(``INGRESS_<cc>``, its quota: :mod:`hub.jetstream.streams`), so the hub runs one pull loop per
stream, bound to that stream's durable consumer ``hub``; every hub process shares it, and
JetStream hands each message to one of them. The loops share one bound on the messages in
hand (``workers × fetch_batch``), taken in turn: a country that floods its stream gets no
more than its turn, and a quiet country's message is fetched as soon as it comes.

With an audit log (an :class:`~hub.pipeline.audit_hook.AuditLogHook`, or ``audit_writer``), the
app also runs a :class:`~hub.pipeline.receipts.ReceiptRecorder`: the sinks' signed receipts become
``delivered`` / ``dead_lettered`` entries, verified against the directory in force.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from hub.audit import AuditEntry, AuditWriter
from hub.config import HubSettings
from hub.errors import ConsumerTampered
from hub.governance import Governance, HubSigner
from hub.jetstream.consumers import ConsumerRepair, ensure_sink_consumers
from hub.jetstream.streams import (
    HUB_CONSUMER,
    LEGACY_INGRESS,
    REQUESTS_BUCKET,
    SEEN_BUCKET,
    ensure_hub_consumer,
    ensure_kv,
    ensure_receipts_consumer,
    ensure_streams,
)
from hub.jetstream.writer import JetStreamWriter
from hub.metrics import HubMetrics
from hub.pipeline.audit_hook import AuditLogHook
from hub.pipeline.ingress import AuditHook, Pipeline
from hub.pipeline.receipts import ReceiptRecorder
from hub.pipeline.replay import SeenIds
from hub.pipeline.requests import KvRequestMemory
from schemas.subjects import ingress_stream

__all__ = ["HubApp", "create_app"]

log = structlog.get_logger("enlace.hub.app")


@dataclass
class HubApp:
    """One hub process: ``await start()``, then ``await stop()`` (drains: nothing half-done)."""

    settings: HubSettings
    governance: Governance
    signer: HubSigner
    connect_options: dict[str, Any] = field(default_factory=dict)
    audit: AuditHook | None = None
    metrics: HubMetrics = field(default_factory=HubMetrics)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: str = "enlace-hub"
    audit_writer: AuditWriter | None = None
    sinks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The sinks configured for each country (``enlace.yaml``'s ``adapters:``): the hub
    makes their DELIVERY consumers and records receipts from these sinks only."""

    nc: NatsClient | None = None
    pipeline: Pipeline | None = None
    receipts: ReceiptRecorder | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _workers: list[asyncio.Task[None]] = field(default_factory=list)
    _js: JetStreamContext | None = None
    _room: _Room | None = None
    _pulled: set[str] = field(default_factory=set)
    """The ingress streams a pull loop of this process reads."""

    async def start(self) -> None:
        """Connect, create or update streams, buckets and the consumer, start the workers."""
        self.nc = await nats.connect(
            servers=self.settings.url.split(","),
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            **self.connect_options,
        )
        js = self._js = self.nc.jetstream(timeout=10)
        parties = self.governance.directory.party_codes
        streams = await ensure_streams(js, self.settings, parties)
        # An upgrade: what the old hub left in the one INGRESS comes first.
        ingress = [s for s in streams if s == LEGACY_INGRESS]
        ingress += [ingress_stream(cc) for cc in parties]
        await self._check_consumers(js, ingress)
        replicas = self.settings.streams.replicas
        window = self.settings.acceptance_window + self.settings.clock_skew
        seen = await ensure_kv(js, SEEN_BUCKET, window.total_seconds(), replicas)
        requests = await ensure_kv(
            js, REQUESTS_BUCKET, self.settings.request_memory.total_seconds(), replicas
        )
        writes = JetStreamWriter(self.nc)
        await writes.start()
        self.pipeline = Pipeline(
            self.nc,
            writes,
            self.settings,
            self.governance,
            self.signer,
            SeenIds(seen),
            KvRequestMemory(requests),
            audit=self.audit,
            metrics=self.metrics,
            clock=self.clock,
        )
        self._room = _Room(self.settings.workers * self.settings.fetch_batch)
        for stream in ingress:
            await self._pull_from(stream)
        writer = self._receipts_writer()
        if writer is not None:
            self.receipts = ReceiptRecorder(
                js,
                writer,
                self.governance.directory,
                self.settings,
                sinks=self.sinks,
                metrics=self.metrics,
            )
            await self.receipts.start()
        log.info("hub_started", url=self.settings.url, workers=self.settings.workers)

    async def _check_consumers(self, js: JetStreamContext, ingress: Iterable[str]) -> None:
        """Make every durable consumer, or mend one that was changed; on the record either way.

        Args:
            js: the hub's JetStream context.
            ingress: the ingress streams whose consumer ``hub`` to make or mend.

        Raises:
            ConsumerTampered: a consumer was changed beyond what the server can put back
                (recorded in the audit log first when there is one).
        """
        try:
            repairs = [
                *[await ensure_hub_consumer(js, self.settings, stream) for stream in ingress],
                await ensure_receipts_consumer(js, self.settings),
                *await ensure_sink_consumers(js, self.sinks),
            ]
        except ConsumerTampered as err:
            await self._audit_consumer(err.stream, err.consumer, "refused", err.code)
            raise
        for repair in repairs:
            await self._audit_repair(repair)

    async def _audit_repair(self, repair: ConsumerRepair | None) -> None:
        if repair is not None:
            await self._audit_consumer(
                repair.stream, repair.consumer, "repaired", repair.describe()
            )

    async def _audit_consumer(self, stream: str, consumer: str, outcome: str, detail: str) -> None:
        writer = self._receipts_writer()
        if writer is not None:
            await writer.append([AuditEntry.consumer_event(stream, consumer, outcome, detail)])

    async def apply_sinks(self, sinks: Mapping[str, Iterable[str]]) -> None:
        """Take a new register of sinks (``enlace reload``): their consumers are made first.

        Raises:
            ConsumerTampered: see :meth:`start`.
        """
        register = {cc: tuple(names) for cc, names in sinks.items()}
        if self.nc is not None:
            js = self.nc.jetstream(timeout=10)
            for repair in await ensure_sink_consumers(js, register):
                await self._audit_repair(repair)
        self.sinks = register
        if self.receipts is not None:
            # Receipts of the new sinks are recorded, those of removed ones refused.
            self.receipts.reload(self.governance.directory, register)

    def _receipts_writer(self) -> AuditWriter | None:
        """The audit writer receipts go to: given, or the one behind the audit hook."""
        if self.audit_writer is not None:
            return self.audit_writer
        if isinstance(self.audit, AuditLogHook):
            return self.audit.writer
        return None

    async def consume(self, parties: Iterable[str]) -> None:
        """Pull from the ingress streams of ``parties`` too (those added by a reload).

        Their streams must exist (:func:`~hub.jetstream.streams.ensure_streams`); their consumer is
        made (or mended, on the record) here. A stream already pulled from is left as it is.

        Raises:
            ConsumerTampered: see :meth:`start`.
        """
        if self._js is None:
            return
        for stream in [ingress_stream(cc) for cc in parties]:
            if stream not in self._pulled:
                await self._audit_repair(await ensure_hub_consumer(self._js, self.settings, stream))
                await self._pull_from(stream)

    async def _pull_from(self, stream: str) -> None:
        """Start the pull loop of ``stream``, whose consumer ``hub`` exists."""
        if stream in self._pulled or self._js is None:
            return
        sub = await self._js.pull_subscribe_bind(durable=HUB_CONSUMER, stream=stream)
        self._pulled.add(stream)
        self._workers.append(asyncio.create_task(self._pull(stream, sub), name=f"hub-{stream}"))

    async def _pull(self, stream: str, sub: JetStreamContext.PullSubscription) -> None:
        """Fetch from one ingress stream and hand batches to the pipeline without waiting.

        A place in the shared bound is taken before each long poll, so a message that comes
        to a quiet stream is fetched at once; the rest of a batch takes only the places
        free with nobody waiting for them (a flooding country does not jump the queue). A
        slow message does not hold up the fetch of the next ones: each one finished frees
        its place.
        """
        assert self.pipeline is not None and self._room is not None  # started
        pipeline, room = self.pipeline, self._room
        tasks: set[asyncio.Task[None]] = set()
        while not self._stopping.is_set():
            await room.take()
            try:
                # One message first: nats-py's fetch(n) waits out the whole poll for the
                # other n - 1 once it has a first one.
                msgs = await sub.fetch(1, timeout=0.5)
            except TimeoutError:  # nats-py raises asyncio.TimeoutError = TimeoutError
                room.give()
                if stream == LEGACY_INGRESS and await self._drained(stream):
                    break
                continue
            except Exception as exc:
                room.give()
                # Server restarting or connection lost: the client reconnects by itself.
                if self._stopping.is_set():
                    break
                log.warning("fetch_failed", stream=stream, error=type(exc).__name__)
                await asyncio.sleep(0.25)
                continue
            more = await room.take_free(self.settings.fetch_batch - 1)
            if more:
                with contextlib.suppress(TimeoutError):
                    msgs += await sub.fetch(more, timeout=0.005)
                room.give(more + 1 - len(msgs))
            task = asyncio.create_task(pipeline.handle_batch(msgs, room.give))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(_log_failure)
        # Messages in hand are always finished, even when stopping: nothing half-handled.
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drained(self, stream: str) -> bool:
        """Whether the old INGRESS is done with (nothing pending, nothing in hand anywhere);
        then it is deleted. A hub process that finds it gone stops pulling from it too."""
        assert self._js is not None  # started
        try:
            info = await self._js.consumer_info(stream, HUB_CONSUMER)
            if info.num_pending or info.num_ack_pending:
                return False
            await self._js.delete_stream(stream)
        except NotFoundError:
            return True
        except Exception as exc:  # NATS away: try again at the next idle poll
            log.warning("legacy_ingress_check_failed", error=type(exc).__name__)
            return False
        log.info("legacy_ingress_drained", stream=stream)
        return True

    def reload(self, governance: Governance) -> None:
        """Use new governance for the next messages (the one being handled keeps its own)."""
        self.governance = governance
        if self.pipeline is not None:
            self.pipeline.governance = governance
        if self.receipts is not None:
            self.receipts.reload(governance.directory, self.sinks)

    async def stop(self) -> None:
        """Stop fetching, finish the batches in hand, flush and close the connection."""
        self._stopping.set()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        if self.receipts is not None:
            # Before the connection closes: the receipts in hand are recorded and acked.
            await self.receipts.stop()
        if self.nc is not None and not self.nc.is_closed:
            # Not drain(): nats-py's drain waits out pending pull requests (30 s). The
            # batches are finished, so flushing the acks and outcomes is enough.
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=5)
            with contextlib.suppress(Exception):
                await self.nc.close()
        log.info("hub_stopped")


def _log_failure(task: asyncio.Task[None]) -> None:
    """Log a batch that failed outside the per-message handling (a bug): its messages are
    redelivered after ``ack_wait``."""
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("batch_failed", error=type(exc).__name__, detail=str(exc)[:300])


class _Room:
    """The places for messages in hand, shared by every ingress stream's pull loop.

    An :class:`asyncio.Semaphore` hands places out first come, first served, so a loop
    waiting for a place (a quiet country's) gets the next one freed before a loop that
    wants more for its batch (a busy country's).
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
        """Free ``count`` places (a message finished, or fewer fetched than taken)."""
        for _ in range(count):
            self._places.release()


def create_app(
    settings: HubSettings,
    governance: Governance,
    signer: HubSigner,
    *,
    connect_options: dict[str, Any] | None = None,
    audit: AuditHook | None = None,
    metrics: HubMetrics | None = None,
    clock: Callable[[], datetime] | None = None,
    name: str = "enlace-hub",
    audit_writer: AuditWriter | None = None,
    sinks: Mapping[str, Iterable[str]] | None = None,
) -> HubApp:
    """A hub application, not yet started.

    Args:
        settings: the hub settings (see :mod:`hub.config`).
        governance: directory and agreements in force (:func:`load_governance`).
        signer: the hub key for countersignatures (:func:`load_signer`).
        connect_options: extra ``nats.connect`` options (user, password, tls…).
        audit: records each outcome before the ack (None: no audit log).
        metrics: Prometheus metrics (a fresh registry by default).
        clock: the time source (tests).
        name: the NATS connection name (shows in ``enlace status``).
        audit_writer: where sink receipts are recorded; by default the writer of an
            :class:`~hub.pipeline.audit_hook.AuditLogHook` ``audit``. Without either, receipts
            stay on RECEIPTS unread by the hub.
        sinks: each country's configured sink names (none by default).
    """
    app = HubApp(
        settings=settings,
        governance=governance,
        signer=signer,
        connect_options=dict(connect_options or {}),
        audit=audit,
        metrics=metrics or HubMetrics(),
        name=name,
        audit_writer=audit_writer,
        sinks={cc: tuple(names) for cc, names in (sinks or {}).items()},
    )
    if clock is not None:
        app.clock = clock
    return app
