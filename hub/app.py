"""The hub application: connection, streams, buckets and workers, built by :func:`create_app`.

Wiring only. No module-global broker: each call builds its own app, so tests and several
hub processes in one test run do not share state. The app makes the streams
(:mod:`hub.jetstream.streams`) and the durable consumers, then reads each country's
ingress stream through the :class:`~hub.pipeline.intake.Intake` (one pull loop per stream,
one shared bound on the messages in hand) into the :class:`~hub.pipeline.ingress.Pipeline`.

With an audit log (an audit hook whose ``writer`` is one, such as
:class:`~hub.pipeline.audit_hook.AuditLogHook`, or ``audit_writer``), the app also runs a
:class:`~hub.pipeline.receipts.ReceiptRecorder`: the sinks' signed receipts become
``delivered`` / ``dead_lettered`` entries, verified against the directory in force.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from hub.audit import AuditWriter, kinds
from hub.audit.election import StartPatience
from hub.audit.seen import Arbiter
from hub.config import HubSettings
from hub.errors import ConsumerTampered
from hub.governance import Governance, HubSigner
from hub.jetstream.buckets import ensure_kv
from hub.jetstream.consumers import (
    ConsumerRepair,
    ensure_consumer,
    ensure_sink_consumers,
    sink_consumer_configs,
)
from hub.jetstream.pull import CountPulls, LogPulls
from hub.jetstream.streams import (
    LEGACY_INGRESS,
    ONWARD_BUCKET,
    REQUESTS_BUCKET,
    SEEN_BUCKET,
    ensure_hub_consumer,
    ensure_receipts_consumer,
    ensure_streams,
)
from hub.jetstream.writer import JetStreamWriter
from hub.metrics import HubMetrics
from hub.pipeline.amendments import ROUTES_BUCKET, AmendmentIndex
from hub.pipeline.audit_hook import AuditSeenIds
from hub.pipeline.ingress import AuditHook, Pipeline
from hub.pipeline.intake import Intake
from hub.pipeline.onward import OnwardMemory
from hub.pipeline.outcomes import OutcomeStore
from hub.pipeline.receipts import ReceiptRecorder
from hub.pipeline.replay import SeenIds, SeenIdStore, kv_claims
from hub.pipeline.requests import KvRequestMemory
from hub.server.connection_errors import lasting
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
    intake: Intake | None = None
    _js: JetStreamContext | None = None

    async def start(self, patience: StartPatience | None = None) -> None:
        """Connect, create or update streams, buckets and the consumers, start the workers.

        Each JetStream request is asked again while the cluster does not answer (a node
        just back, a leader being elected) until ``patience``'s deadline: a hub started
        then waits, not exits.

        Args:
            patience: the start's deadline (``enlace up`` shares one with the audit log's
                opening); by default :data:`~hub.audit.election.START_GRACE` from now.

        Raises:
            NatsServerError: the cluster did not answer before the deadline.
            ConsumerTampered: see :meth:`_check_consumers`.
        """
        patience = patience or StartPatience()
        answered = patience.answered
        self.nc = await nats.connect(
            servers=self.settings.url.split(","),
            **{**lasting(self.name), **self.connect_options},
        )
        js = self._js = self.nc.jetstream(timeout=10)
        parties = self.governance.directory.party_codes
        streams = await answered(
            lambda: ensure_streams(js, self.settings, parties), "the hub's streams"
        )
        # An upgrade: what the old hub left in the one INGRESS comes first.
        ingress = [s for s in streams if s == LEGACY_INGRESS]
        ingress += [ingress_stream(cc) for cc in parties]
        await self._check_consumers(js, ingress, patience)
        replicas = self.settings.streams.replicas
        window = self.settings.acceptance_window + self.settings.clock_skew
        _legacy_seen, requests, onward, routes = await answered(
            lambda: _buckets(js, self.settings, window.total_seconds(), replicas),
            "the hub's buckets",
        )
        writes = JetStreamWriter(self.nc)
        await writes.start()
        self.pipeline = Pipeline(
            OutcomeStore(writes, js),
            writes,
            self.settings,
            self.governance,
            self.signer,
            await answered(
                lambda: self._seen_ids(js, routes, writes), "the accepted ids of the window"
            ),
            KvRequestMemory(requests, OnwardMemory(onward)),
            AmendmentIndex(routes),
            audit=self.audit,
            metrics=self.metrics,
            clock=self.clock,
        )
        hooks = (LogPulls(), CountPulls(self.metrics))
        self.intake = Intake(js, self.pipeline, self.settings, hooks)
        for stream in ingress:
            await self.intake.add(stream)
        writer = self._audit_log()
        if writer is not None:
            self.receipts = ReceiptRecorder(
                js,
                writer,
                self.governance.directory,
                self.settings,
                sinks=self.sinks,
                metrics=self.metrics,
                hooks=hooks,
            )
            await answered(self.receipts.start, "the receipts' consumer and bucket")
        log.info("hub_started", url=self.settings.url, workers=self.settings.workers)

    async def _seen_ids(
        self, js: JetStreamContext, routes: KeyValue, writes: JetStreamWriter
    ) -> SeenIdStore:
        """Ids are claimed in ``routes`` (the claim is the routing record), or by the audit
        log (``hub.seen_ids: audit``, and the hub keeps one).

        Either way the claims an earlier version left in ``enlace_seen`` are held too: that
        bucket empties itself within the window, by its TTL.
        """
        earlier = await kv_claims(js, SEEN_BUCKET)
        writer = None if self.audit is None else self.audit.writer
        if writer is None or self.settings.seen_ids == "bucket":
            return SeenIds(routes, writes, ROUTES_BUCKET, routes=True, earlier=dict(earlier))
        window = self.settings.acceptance_window + self.settings.clock_skew
        await writer.arbitrate(Arbiter(window, lambda: self.clock().timestamp()))
        if writer.arbiter is not None:
            writer.arbiter.index.seed(earlier, self.clock().timestamp())
            log.info("seen_ids_arbiter", held=len(writer.arbiter.index), from_bucket=len(earlier))
        return AuditSeenIds(writer)

    async def _check_consumers(
        self, js: JetStreamContext, ingress: Iterable[str], patience: StartPatience
    ) -> None:
        """Make every durable consumer, or mend one that was changed; on the record either way.

        Args:
            js: the hub's JetStream context.
            ingress: the ingress streams whose consumer ``hub`` to make or mend.
            patience: the start's deadline: each consumer is asked for again until then.

        Raises:
            ConsumerTampered: a consumer was changed beyond what the server can put back
                (recorded in the audit log first when there is one).
            NatsServerError: the cluster did not answer before the deadline.
        """
        # Each consumer asked for on its own: a later one's retry does not ask again for
        # one already mended (its repair would then go unrecorded).
        wanted = [
            *[(s, partial(ensure_hub_consumer, js, self.settings, s)) for s in ingress],
            ("RECEIPTS", partial(ensure_receipts_consumer, js, self.settings)),
            *[
                ("DELIVERY", partial(ensure_consumer, js, "DELIVERY", config))
                for config in sink_consumer_configs(self.sinks)
            ],
        ]
        try:
            repairs = [await patience.answered(make, f"a consumer of {s}") for s, make in wanted]
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
        writer = self._audit_log()
        if writer is not None:
            await writer.append([kinds.consumer_event(stream, consumer, outcome, detail)])

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

    def _audit_log(self) -> AuditWriter | None:
        """Where receipts and consumer repairs go: given, or the audit hook's log."""
        if self.audit_writer is not None:
            return self.audit_writer
        return None if self.audit is None else self.audit.writer

    async def consume(self, parties: Iterable[str]) -> None:
        """Pull from the ingress streams of ``parties`` too (those added by a reload).

        Their streams must exist (:func:`~hub.jetstream.streams.ensure_streams`); their consumer is
        made (or mended, on the record) here. A stream already pulled from is left as it is.

        Raises:
            ConsumerTampered: see :meth:`start`.
        """
        if self._js is None or self.intake is None:
            return
        for stream in [ingress_stream(cc) for cc in parties]:
            if stream not in self.intake:
                await self._audit_repair(await ensure_hub_consumer(self._js, self.settings, stream))
                await self.intake.add(stream)

    def reload(self, governance: Governance) -> None:
        """Use new governance for the next messages (the one being handled keeps its own)."""
        self.governance = governance
        if self.pipeline is not None:
            self.pipeline.governance = governance
        if self.receipts is not None:
            self.receipts.reload(governance.directory, self.sinks)

    async def stop(self) -> None:
        """Stop fetching, finish the batches in hand, flush and close the connection."""
        if self.intake is not None:
            await self.intake.stop()
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
        audit_writer: where sink receipts and consumer repairs are recorded; by default
            ``audit.writer`` (an :class:`~hub.pipeline.audit_hook.AuditLogHook`'s log).
            Without either, receipts stay on RECEIPTS unread by the hub.
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


async def _buckets(
    js: JetStreamContext, settings: HubSettings, window: float, replicas: int
) -> tuple[KeyValue, KeyValue, KeyValue, KeyValue]:
    """The hub's buckets: the ids earlier versions claimed (``window`` s), requests,
    onward ids, routes (and this version's claims)."""
    seen = await ensure_kv(js, SEEN_BUCKET, window, replicas)
    requests = await ensure_kv(
        js, REQUESTS_BUCKET, settings.request_memory.total_seconds(), replicas
    )
    onward = await ensure_kv(js, ONWARD_BUCKET, settings.onward_memory.total_seconds(), replicas)
    routes = await ensure_kv(js, ROUTES_BUCKET, 0, replicas)  # amendable for ever
    return seen, requests, onward, routes
