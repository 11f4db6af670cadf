"""``enlace up``: everything on one machine, started in order and stopped in reverse.

1. the embedded ``nats-server`` (unless settings name a server: ``nats_url``), with the
   deployment's NATS users and their permissions (:mod:`hub.up.server`);
2. the audit writer (the hub key signs checkpoints), which records the start, the
   governance loaded, every reload and the stop;
3. the hub app (:func:`hub.app.create_app`) as user ``hub``, and beside it the watcher of
   the server's size refusals as user ``system`` (:mod:`hub.pipeline.oversize`);
4. one ``enlace adapter run --sink CC/NAME …`` child for every sink of the ``adapters:``
   section, a connection per country as user ``CC`` (restarted if it dies:
   :mod:`hub.up.children`);
5. the witness of each of those parties (:mod:`adapters.witness`, in this process, each
   over its own login with its own system key), which the hub answers with consistency
   proofs (:mod:`hub.audit.witness`).

Every JetStream request of the start (the audit streams and log, the hub's streams,
buckets and consumers) is asked again while the cluster does not answer (a node just
back, a leader being elected), within one bound for the whole start
(:class:`~hub.audit.election.StartPatience`): a hub started then waits, it does not exit.

SIGINT/SIGTERM stop it all (the hub drains its batches first, then the adapters, then
the server). SIGHUP reloads governance and applies what it added to NATS
(:mod:`hub.up.reload`). ``state/hub.pid`` lets ``enlace reload`` find the process.

Before all that it takes the deployment (:func:`hub.up.pidfiles.claim`): a second
``enlace up`` of a running one is refused with its pid, and what a dead one left running
is stopped first. Children are recorded and die with it; a dead embedded server is
started again (bounded, audited as ``server_restarted``), a dead adapter too.

``enlace up`` is the composition root of one machine: it reads the ``adapters:`` section
(:mod:`hub.up.sinks`) to know which children to start and which consumers to permit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from nats.js import JetStreamContext

from adapters.errors import AdapterError
from adapters.witness import Witnesses
from hub.app import HubApp, create_app
from hub.audit import AuditError, AuditWriter, CheckpointSigner, kinds
from hub.audit.election import StartPatience
from hub.audit.witness import serve_witnesses
from hub.audit.writer import log_name
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.governance import Governance, HubSigner, load_governance, load_signer
from hub.governance.changes import loaded_entries, warn_unsigned
from hub.jetstream.streams import ensure_audit_streams
from hub.metrics import HubMetrics
from hub.pipeline.audit_hook import AuditLogHook
from hub.pipeline.oversize import OversizeWatcher, watch_oversize
from hub.quarantine import serve_viewings
from hub.server.connection_errors import lasting
from hub.server.local_cluster import LocalCluster
from hub.server.logins import HUB_USER, SYSTEM_USER, read_logins, seeds_dir
from hub.up import heap
from hub.up.children import AdapterChildren
from hub.up.pidfiles import Claim, claim
from hub.up.reload import Reloader
from hub.up.server import UpServer, probe
from hub.up.sinks import configured_sinks, sink_pairs, sink_register
from schemas.errors import GovernanceError

__all__ = ["HubRunner", "pid_file"]

log = structlog.get_logger("enlace.up")

_AUDIT_TRIES = 10
_WITNESS_SECONDS = 5.0  # how often the witnesses of `enlace up` ask for a new checkpoint


def pid_file(deployment: Deployment) -> Path:
    """Where ``enlace up`` writes its process id (for ``enlace reload``)."""
    return deployment.state_dir / "hub.pid"


def _serve_metrics(settings: HubSettings) -> HubMetrics:
    """The hub's metrics, served on ``hub.metrics_port`` when one is set.

    Raises:
        ConfigError: the port cannot be bound (taken, or not allowed).
    """
    metrics = HubMetrics()
    port, host = settings.metrics_port, settings.metrics_host
    if port is None:
        return metrics
    try:
        metrics.serve(port, host)
    except OSError as err:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port} ({err.strerror or err}); choose a free "
            "port in hub.metrics_port of enlace.yaml or ENLACE_METRICS_PORT, or remove it "
            "to turn metrics off"
        ) from None
    return metrics


async def start_witnesses(home: Path, sinks: list[tuple[str, str]], url: str) -> Witnesses | None:
    """Each party whose sinks run here also witnesses the log (its login, its system key);
    None when there are none, or they cannot start (logged: the hub runs on without).

    Args:
        home: the deployment (the parties' keys and logins are there, as in the demo).
        sinks: (country, sink) of the sinks ``enlace up`` runs.
        url: the NATS server.
    """
    countries = list(dict.fromkeys(cc for cc, _ in sinks))
    if not countries:
        return None
    try:
        witnesses = await Witnesses.start(home, countries, url, _WITNESS_SECONDS)
    except (AdapterError, GovernanceError, OSError) as err:
        log.warning("witnesses_not_started", countries=countries, error=str(err))
        return None
    log.info("witnesses_started", countries=countries)
    return witnesses


async def open_audit_log(
    js: JetStreamContext,
    settings: HubSettings,
    signer: HubSigner,
    hub_id: str,
    patience: StartPatience,
) -> AuditWriter:
    """The audit streams made or checked, the log's name learnt, and its writer opened (it
    reads the log), each JetStream request asked again until ``patience``'s deadline.

    Args:
        js: the audit writer's JetStream context.
        settings: the deployment's id (the log's name) and the streams' replicas.
        signer: the hub key, which signs the checkpoints.
        hub_id: the directory's hub id (the log's name without a deployment id).
        patience: the start's deadline.

    Raises:
        NatsServerError: the cluster did not answer before the deadline.
        AuditError: the stored log or its streams are refused.
    """
    answered = patience.answered
    await answered(partial(ensure_audit_streams, js, settings), "the audit streams")
    origin = await answered(
        partial(log_name, js, settings.deployment_id, hub_id), "the audit log's name"
    )
    # The key signs under the log's name (C2SP): verifiers look it up by the origin.
    return await answered(
        partial(
            AuditWriter.open,
            js,
            CheckpointSigner(signer.key, origin),
            origin,
            replicas=settings.streams.replicas,
        ),
        "the audit log",
    )


@dataclass
class HubRunner:
    """Runs one machine's Enlace until stopped; see the module docstring for the order."""

    deployment: Deployment
    settings: HubSettings
    run_adapters: bool = True
    on_ready: Callable[[dict[str, Any]], None] | None = None
    cluster: LocalCluster | None = None

    server: UpServer = field(init=False)
    adapters: AdapterChildren = field(init=False)
    app: HubApp | None = None
    audit: AuditWriter | None = None
    oversize: OversizeWatcher | None = None
    witnesses: Witnesses | None = None
    governance: Governance | None = None
    _audit_nc: Any = None
    _claim: Claim | None = None
    _reloader: Reloader | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    # One reload at a time: two quick SIGHUPs must not rewrite the server config at once.
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.server = UpServer(self.deployment, self.settings, cluster=self.cluster)
        self.adapters = AdapterChildren(self.deployment, self.settings.url, self.server.login)

    # -- start ----------------------------------------------------------------------------

    async def _open_audit(
        self, governance: Governance, options: dict[str, Any], patience: StartPatience
    ) -> None:
        """The audit writer on a connection of its own (:func:`open_audit_log`); the start
        recorded."""
        import nats  # local: only the runner needs a second connection

        # Through a restart of the server, however long: the hub audits through it.
        self._audit_nc = await nats.connect(
            servers=self.settings.url.split(","), **{**lasting("enlace-hub-audit"), **options}
        )
        signer = load_signer(self.deployment, governance)
        hub_id = governance.directory.hub.id
        js = self._audit_nc.jetstream(timeout=10)
        self.audit = await open_audit_log(js, self.settings, signer, hub_id, patience)
        await self.audit.append([kinds.hub_event("start", hub_id), *loaded_entries(governance)])

    async def start(self) -> dict[str, Any]:
        """Start everything; returns what ``enlace up`` prints (no secrets).

        Raises:
            UpBusy: another ``enlace up`` of this deployment runs, or a dead one's children
                do and cannot be stopped.
            GovernanceError: the directory or an agreement is refused.
            NatsServerError: the embedded server cannot start (busy port, no binary), or
                JetStream did not answer within :data:`~hub.audit.election.START_GRACE`
                seconds (every request of the start is asked again until then).
            ConfigError: settings or credentials are wrong.
            OSError / nats errors: a server given by URL cannot be reached.
        """
        # First: a second `enlace up` touches nothing of the first one's.
        self._claim = claim(
            self.deployment.state_dir, pid_file(self.deployment), alone=self.settings.embedded
        )
        self.server.claim = self.adapters.claim = self._claim
        metrics = _serve_metrics(self.settings)  # a busy port stops nothing half-started
        governance = load_governance(self.deployment)
        warn_unsigned(governance)
        self.governance = governance
        signer = load_signer(self.deployment, governance)
        sinks = configured_sinks(self.deployment, self.settings) if self.run_adapters else []
        register = sink_register(self.deployment)
        if self.settings.embedded:
            # Every configured sink's consumer is permitted, also of sinks run elsewhere.
            self.server.start(governance.directory.party_codes, sink_pairs(register))
        elif self.cluster is not None:
            self.server.adopt_cluster(governance.directory.party_codes)
        hub_user = self.server.login(HUB_USER)
        options = hub_user.connect_options() if hub_user else {}
        if not self.settings.embedded:
            await probe(self.settings.url, options)
        # From here every JetStream request waits through an election, within one bound.
        patience = StartPatience()
        await self._open_audit(governance, options, patience)
        # Every decision goes on the audit record before its INGRESS message is acked.
        hook = AuditLogHook(self.audit) if self.audit is not None else None
        self.app = create_app(
            self.settings,
            governance,
            signer,
            connect_options=options,
            audit=hook,
            metrics=metrics,
            sinks=register,
        )
        await self.app.start(patience)
        await self._watch_oversize()
        if self.audit is not None:  # operators' tools show quarantined bytes once recorded
            await serve_viewings(self._audit_nc, self.audit)
            await serve_witnesses(self._audit_nc)  # the parties' witnesses ask for proofs
        self._reloader = Reloader(
            deployment=self.deployment,
            settings=self.settings,
            app=self.app,
            audit=self.audit,
            server=self.server,
            children=self.adapters,
            nc=self._audit_nc,
            run_adapters=self.run_adapters,
            oversize=self.oversize,
        )
        await self.adapters.start(sinks)
        self.witnesses = await start_witnesses(self.deployment.home, sinks, self.settings.url)
        pid_file(self.deployment).parent.mkdir(parents=True, exist_ok=True)
        pid_file(self.deployment).write_text(f"{os.getpid()}\n", encoding="ascii")
        return self.where()

    async def _watch_oversize(self) -> None:
        """Audit and notice what the server refuses for its size (hub as publisher)."""
        assert self.audit is not None and self._audit_nc is not None  # opened
        self.oversize = await watch_oversize(
            self.settings.url,
            lambda: self.server.login(SYSTEM_USER),
            required=self.settings.embedded,
            audit=self.audit,
            publish=self._audit_nc.jetstream(timeout=10).publish,
            logins=lambda: read_logins(self.deployment),
            max_message_bytes=self.settings.max_message_bytes,
        )

    def where(self) -> dict[str, Any]:
        """Where things are, for people and for ``--json-logs`` readers."""
        metrics = self.settings.metrics_port
        return {
            "nats_url": self.settings.url,
            "embedded_nats": self.settings.embedded,
            "deployment": str(self.deployment.home.resolve()),
            "credentials": str(seeds_dir(self.deployment).resolve()),
            "metrics_url": (
                f"http://{self.settings.metrics_host}:{metrics}/metrics" if metrics else None
            ),
            "monitoring_url": (
                f"http://{self.settings.nats_host}:{self.settings.nats_http_port}"
                if self.settings.embedded and self.settings.nats_http_port
                else None
            ),
            "adapters": [f"{cc}/{sink}" for cc, sink in self.adapters.running],
            "workers": self.settings.workers,
        }

    # -- run ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop at the next turn of :meth:`run` (SIGINT, SIGTERM)."""
        self._stop.set()

    async def reload(self) -> bool:
        """Load governance again and apply it; on refusal log it and change nothing.

        An accepted change is in force for the next message at once; then NATS follows
        (:meth:`hub.up.reload.Reloader.apply`): new parties' logins and streams, the sinks
        added to ``enlace.yaml``. A refused one leaves every file and process as it was.

        Returns:
            Whether the change was accepted.
        """
        async with self._reloading:
            assert self._reloader is not None and self.governance is not None  # started
            before = self.governance
            governance = await self._reloader.load(before)
            if governance is None:
                return False
            self.governance = governance
            await self._reloader.apply(before, governance)
            heap.settle()  # the old governance may go; the new one stays
            return True

    async def run(self) -> None:
        """Start, serve until SIGINT/SIGTERM (SIGHUP reloads), then stop in order."""
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task[bool]] = set()
        watch: asyncio.Task[None] | None = None

        def on_hup() -> None:
            task = loop.create_task(self.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        try:
            info = await self.start()
            heap.settle()  # what the hub keeps is loaded: out of the collector's way
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, on_hup)
            log.info("ready", **info)
            if self.on_ready is not None:
                self.on_ready(info)
            watch = loop.create_task(self.server.supervise(self._stop, self._server_restarted))
            await self.adapters.supervise(self._stop)
            await watch  # raises if the server died too often (it set _stop)
        finally:
            if watch is not None and not watch.done():
                watch.cancel()  # the adapters' supervisor failed: no restart after stop
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if reloads:
                await asyncio.gather(*reloads, return_exceptions=True)
            await self.stop()

    async def _server_restarted(self, code: int, attempt: int) -> None:
        """Audit a restart of the embedded server (once the writer's connection is back)."""
        assert self.audit is not None and self.governance is not None  # started
        entry = kinds.server_restarted(self.governance.directory.hub.id, code, attempt)
        for _ in range(_AUDIT_TRIES):
            try:
                await self.audit.append([entry])
                return
            except AuditError as err:  # the writer says why; the connection may be back soon
                log.warning("server_restart_not_audited_yet", error=str(err))
                await asyncio.sleep(1.0)
        log.error("server_restart_not_audited", code=code, restart=attempt)

    # -- stop -----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Hub first (drains its batches), then the audit writer, adapters and the server."""
        if self.app is not None:
            await self.app.stop()
        if self.oversize is not None:
            await self.oversize.stop()
        gone = self.server.gone()  # it gave up on the server: nothing can be written there
        if self.audit is not None and self.governance is not None and not gone:
            with contextlib.suppress(Exception):
                await self.audit.append([kinds.hub_event("stop", self.governance.directory.hub.id)])
            with contextlib.suppress(Exception):
                await self.audit.close()
        if self._audit_nc is not None:
            with contextlib.suppress(Exception):
                await (self._audit_nc.close() if gone else self._audit_nc.drain())
        if self.witnesses is not None:
            await self.witnesses.close()
        await self.adapters.stop()
        await self.server.stop()
        with contextlib.suppress(FileNotFoundError):
            if pid_file(self.deployment).read_text().strip() == str(os.getpid()):
                pid_file(self.deployment).unlink()
        if self._claim is not None:
            self._claim.release()
        log.info("stopped")
