"""``enlace up``: everything on one machine, started in order and stopped in reverse.

1. the embedded ``nats-server`` (unless settings name a server: ``nats_url``), with the
   deployment's NATS users and their permissions (:mod:`hub.server.logins`);
2. the audit writer (the hub key signs checkpoints), which records the start, the
   governance loaded, every reload and the stop;
3. the hub app (:func:`hub.app.create_app`) as user ``hub``, and beside it the watcher of
   the server's size refusals as user ``system`` (:mod:`hub.pipeline.oversize`);
4. one ``enlace adapter run --country CC --sink NAME`` child per sink of the ``adapters:``
   section, as user ``CC`` (restarted if it dies).

SIGINT/SIGTERM stop it all (the hub drains its batches first, then the adapters, then
the server). SIGHUP reloads governance; a refused change is logged with its file and line
and the running version stays, with nothing else changed. An accepted one is applied to
NATS as well (:meth:`HubRunner.reload`): logins for new parties, the server config
rewritten and reloaded by the embedded server, the new parties' ingress (pulled from by
the hub at once) and dead-letter streams,
adapters for sinks newly in the ``adapters:`` section, and a restart of the adapters of a
country whose login ``enlace nats rotate`` replaced. ``state/hub.pid`` lets
``enlace reload`` find the process.

``enlace up`` is the composition root of one machine: it reads the ``adapters:`` section
(``adapters.config``) to know which children to start and which consumers to permit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from adapters.config import load_adapters_config
from hub.app import HubApp, create_app
from hub.audit import AuditEntry, AuditWriter, CheckpointSigner
from hub.audit.key_events import key_events
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.errors import ConfigError, NatsServerError
from hub.governance import Governance, load_governance, load_signer
from hub.jetstream.streams import ensure_audit_streams, ensure_streams
from hub.metrics import HubMetrics
from hub.pipeline.audit_hook import AuditLogHook
from hub.pipeline.oversize import OversizeWatcher, watch_oversize
from hub.policy import set_changes
from hub.server.logins import (
    HUB_USER,
    SYSTEM_USER,
    NatsUser,
    authorization_block,
    ensure_credentials,
    load_user,
    party_permissions,
    read_logins,
    seeds_dir,
)
from hub.server.operator_access import QUIET_CONNECT
from hub.server.process import NatsServer, NatsServerConfig, terminate
from schemas.errors import EnlaceError
from schemas.limits import wire_limit
from schemas.subjects import sink_consumer

__all__ = [
    "AdapterProcess",
    "HubRunner",
    "configured_sinks",
    "delivery_consumers",
    "pid_file",
    "sink_register",
]

log = structlog.get_logger("enlace.up")

_RESTART_DELAY = 2.0
_ADAPTER_GAP = 0.3
_CHILD_STOP_TIMEOUT = 10.0
_NATS_RELOAD_TIMEOUT = 10.0


def pid_file(deployment: Deployment) -> Path:
    """Where ``enlace up`` writes its process id (for ``enlace reload``)."""
    return deployment.state_dir / "hub.pid"


def _enlace_command() -> list[str]:
    beside = Path(sys.executable).parent / "enlace"
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-c", "from hub.cli import main; main()"]


@dataclass
class AdapterProcess:
    """One sink adapter child: ``enlace adapter run --country CC --sink NAME``."""

    country: str
    sink: str
    home: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [*_enlace_command(), "--home", str(self.home), "adapter", "run"]
        command += ["--country", self.country, "--sink", self.sink]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                # Own session: a Ctrl-C in the terminal reaches `enlace up` only, which
                # stops the hub first and the adapters after it.
                start_new_session=True,
            )
        log.info("adapter_started", country=self.country, sink=self.sink, pid=self.process.pid)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = _CHILD_STOP_TIMEOUT) -> None:
        terminate(self.process, timeout)


@dataclass
class HubRunner:
    """Runs one machine's Enlace until stopped; see the module docstring for the order."""

    deployment: Deployment
    settings: HubSettings
    run_adapters: bool = True
    on_ready: Callable[[dict[str, Any]], None] | None = None

    server: NatsServer | None = None
    app: HubApp | None = None
    audit: AuditWriter | None = None
    oversize: OversizeWatcher | None = None
    governance: Governance | None = None
    adapters: list[AdapterProcess] = field(default_factory=list)
    _audit_nc: Any = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    # One reload at a time: two quick SIGHUPs must not rewrite the server config at once.
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The public nkeys the embedded server was last given: a reload that changes one
    # (`enlace nats rotate`) restarts that country's adapters.
    _logins: dict[str, str] = field(default_factory=dict)

    # -- start ----------------------------------------------------------------------------

    def _sinks(self) -> list[tuple[str, str]]:
        return configured_sinks(self.deployment, self.settings)

    def _login(self, name: str) -> NatsUser | None:
        """The deployment's login ``name``; none when the URL carries its own credentials.

        The embedded server always requires the logins; a server given by ``nats_url``
        gets them too when the deployment has them (a cluster with the same block).
        """
        if self.settings.embedded:
            return load_user(self.deployment, name)
        if "@" in self.settings.url or name not in read_logins(self.deployment):
            return None
        return load_user(self.deployment, name)

    def _server_config(self, sinks: list[tuple[str, str]]) -> NatsServerConfig:
        """The embedded server's config: the deployment's logins, ``sinks``' consumers."""
        nats_dir = self.deployment.nats_dir.resolve()
        return NatsServerConfig(
            store_dir=nats_dir / "jetstream",
            host=self.settings.nats_host,
            port=self.settings.nats_port,
            http_port=self.settings.nats_http_port,
            # What the server lets through reaches the hub, which refuses it with a notice.
            max_payload=wire_limit(self.settings.max_message_bytes),
            authorization=authorization_block(self.deployment, delivery_consumers(sinks)),
        )

    def _start_server(self, sinks: list[tuple[str, str]]) -> None:
        # Public nkeys only, but who may do what is nobody else's business: the server
        # writes its config with mode 0600.
        config_path = self.deployment.nats_dir.resolve() / "nats-server.conf"
        self.server = NatsServer(self._server_config(sinks), config_path)
        self.server.start()
        log.info("nats_started", url=self.server.url, config=str(config_path))

    async def _open_audit(self, governance: Governance, options: dict[str, Any]) -> None:
        import nats  # local: only the runner needs a second connection

        signer = load_signer(self.deployment, governance)
        hub_id = governance.directory.hub.id
        self._audit_nc = await nats.connect(
            servers=[self.settings.url], name="enlace-hub-audit", **options
        )
        js = self._audit_nc.jetstream(timeout=10)
        await ensure_audit_streams(js, self.settings)
        self.audit = await AuditWriter.open(
            js,
            CheckpointSigner(signer.key, signer.kid),
            hub_id,
            replicas=self.settings.streams.replicas,
        )
        await self.audit.append(
            [AuditEntry.hub_event("start", hub_id), *_loaded_entries(governance)]
        )

    async def _start_adapters(self, sinks: list[tuple[str, str]]) -> None:
        for i, (cc, name) in enumerate(sinks):
            if i:
                # Nine Python start-ups at once starve a 2-core machine for seconds, long
                # enough for the first JetStream calls to time out; a short gap avoids it.
                await asyncio.sleep(_ADAPTER_GAP)
            env = dict(os.environ)
            env["ENLACE_NATS_URL"] = self.settings.url
            user = self._login(cc)
            if user is not None:
                # The seed file's path, never the seed: a child's environment is readable
                # by more tools (ps e, /proc) than a 0600 file.
                env["ENLACE_NATS_NKEY_SEED_FILE"] = str(user.seed_file)
                env["ENLACE_NATS_INBOX_PREFIX"] = user.inbox_prefix
                env.pop("ENLACE_NATS_USER", None)
                env.pop("ENLACE_NATS_PASSWORD", None)
            proc = AdapterProcess(
                country=cc,
                sink=name,
                home=self.deployment.home,
                env=env,
                log_path=self.deployment.state_dir / "logs" / f"adapter-{cc}-{name}.log",
            )
            proc.start()
            self.adapters.append(proc)

    async def start(self) -> dict[str, Any]:
        """Start everything; returns what ``enlace up`` prints (no secrets).

        Raises:
            GovernanceError: the directory or an agreement is refused.
            NatsServerError: the embedded server cannot start (busy port, no binary).
            ConfigError: settings or credentials are wrong.
            OSError / nats errors: a server given by URL cannot be reached.
        """
        metrics = self._serve_metrics()  # first: a busy port stops nothing half-started
        governance = load_governance(self.deployment)
        _warn_unsigned(governance)
        self.governance = governance
        signer = load_signer(self.deployment, governance)
        sinks = self._sinks() if self.run_adapters else []
        register = sink_register(self.deployment)
        if self.settings.embedded:
            # Logins for parties or roles added since `enlace init` (existing ones are kept).
            self._logins = ensure_credentials(self.deployment, governance.directory.party_codes)
            # Every configured sink's consumer is permitted, also of sinks run elsewhere.
            self._start_server(_pairs(register))
        hub_user = self._login(HUB_USER)
        options = hub_user.connect_options() if hub_user else {}
        if not self.settings.embedded:
            await _probe(self.settings.url, options)
        await self._open_audit(governance, options)
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
        await self.app.start()
        await self._watch_oversize()
        await self._start_adapters(sinks)
        pid_file(self.deployment).parent.mkdir(parents=True, exist_ok=True)
        pid_file(self.deployment).write_text(f"{os.getpid()}\n", encoding="ascii")
        return self.where()

    async def _watch_oversize(self) -> None:
        """Audit and notice what the server refuses for its size (hub as publisher)."""
        assert self.audit is not None and self._audit_nc is not None  # opened
        self.oversize = await watch_oversize(
            self.settings.url,
            lambda: self._login(SYSTEM_USER),
            required=self.settings.embedded,
            audit=self.audit,
            publish=self._audit_nc.jetstream(timeout=10).publish,
            logins=lambda: read_logins(self.deployment),
            max_message_bytes=self.settings.max_message_bytes,
        )

    def _serve_metrics(self) -> HubMetrics:
        """The hub's metrics, served on ``hub.metrics_port`` when one is set.

        Raises:
            ConfigError: the port cannot be bound (taken, or not allowed).
        """
        metrics = HubMetrics()
        port, host = self.settings.metrics_port, self.settings.metrics_host
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
            "adapters": [f"{a.country}/{a.sink}" for a in self.adapters],
            "workers": self.settings.workers,
        }

    # -- run ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def reload(self) -> bool:
        """Load governance again and apply it; on refusal log it and change nothing.

        An accepted change is in force for the next message at once; then NATS follows
        (:meth:`_apply_access`): new parties' logins and dead-letter streams, the sinks
        added to ``enlace.yaml``. A refused one leaves every file and process as it was.
        """
        async with self._reloading:
            return await self._reload()

    async def _reload(self) -> bool:
        assert self.app is not None and self.governance is not None  # started
        try:
            governance = load_governance(self.deployment)
        except EnlaceError as err:
            log.error("governance_refused", code=err.code, error=str(err))
            if self.audit is not None:
                entry = AuditEntry.governance("reload", "refused", "refused", detail=err.code)
                await self.audit.append([entry])
            return False
        _warn_unsigned(governance)
        entries = _loaded_entries(governance, before=self.governance)
        if self.audit is not None:
            await self.audit.append(entries)
        before = self.governance
        self.app.reload(governance)
        self.governance = governance
        log.info(
            "governance_reloaded",
            directory_version=governance.directory.version,
            agreements=len(governance.agreements.statuses),
        )
        await self._apply_access(before, governance)
        return True

    # -- reload: NATS access for what governance and enlace.yaml added ----------------------

    async def _apply_access(self, before: Governance, governance: Governance) -> None:
        """Logins, server permissions, streams and adapters for what was added.

        Each step logs its own failure and the next ones still run where they can: the
        governance is in force already, and a restart of ``enlace up`` applies it all.
        """
        parties = governance.directory.party_codes
        new_parties = [cc for cc in parties if cc not in before.directory.party_codes]
        running = [(a.country, a.sink) for a in self.adapters]
        new_sinks = [pair for pair in self._reloaded_sinks() if pair not in running]
        strangers = [pair for pair in new_sinks if pair[0] not in parties]
        if strangers:
            # No login without a party: such a sink would only fail to connect.
            log.warning(
                "adapters_wait_for_party",
                sinks=[f"{cc}/{name}" for cc, name in strangers],
                hint="their country is not a party of the directory in force",
            )
            new_sinks = [pair for pair in new_sinks if pair not in strangers]
        register = self._reloaded_register()
        permitted = list(dict.fromkeys([*running, *new_sinks, *_pairs(register)]))
        rotated: list[str] = []
        if self.settings.embedded:
            applied, rotated = await self._reload_server(parties, new_parties, permitted)
        else:
            applied = True
            self._warn_external(parties, new_parties, permitted, new_sinks)
        restarted = await self._restart_adapters(rotated)
        if SYSTEM_USER in rotated and self.oversize is not None:
            await self.oversize.restart()
        streams = await self._ensure_party_streams(parties)
        await self._apply_sinks(register)
        started = await self._start_new_adapters(new_sinks, applied)
        # The last word of a reload: what it changed beyond governance (tests wait for it).
        log.info(
            "reload_applied",
            new_parties=new_parties,
            streams=streams,
            adapters_started=[f"{cc}/{name}" for cc, name in started],
            logins_rotated=rotated,
            adapters_restarted=restarted,
        )

    async def _restart_adapters(self, rotated: list[str]) -> list[str]:
        """Restart the adapters of the countries whose login the server now knows anew.

        The server closed their connections when it dropped the old public key, and
        nats-py would reconnect for ever with that key (it computes the public key once,
        at connect); a new process logs in with the new seed from the same file.
        """
        if HUB_USER in rotated:
            log.error(
                "hub_login_rotated",
                hint="the hub's connections keep the old key and are refused: restart `enlace up`",
            )
        loop = asyncio.get_running_loop()
        restarted = []
        for proc in [a for a in self.adapters if a.country in rotated]:
            # Out of the list while it restarts, so that the supervisor does not start it too.
            self.adapters.remove(proc)
            try:
                await loop.run_in_executor(None, proc.stop)
                proc.start()
                restarted.append(f"{proc.country}/{proc.sink}")
            except OSError as err:
                log.error("adapter_not_restarted", country=proc.country, error=str(err))
            finally:
                self.adapters.append(proc)
        return restarted

    async def _start_new_adapters(
        self, sinks: list[tuple[str, str]], permitted: bool
    ) -> list[tuple[str, str]]:
        """Start the adapters of ``sinks`` if the server took their permissions."""
        if not sinks:
            return []
        if not permitted:
            log.error(
                "adapters_not_started",
                sinks=[f"{cc}/{name}" for cc, name in sinks],
                reason="the server did not take their permissions; restart `enlace up`",
            )
            return []
        try:
            await self._start_adapters(sinks)
        except (ConfigError, OSError) as err:
            log.error("adapters_not_started", error=str(err), reason="restart `enlace up`")
            return []
        return sinks

    def _reloaded_sinks(self) -> list[tuple[str, str]]:
        """The sinks of ``enlace.yaml`` now; the running ones if it cannot be read.

        Only the ``adapters:`` section is read again: the ``hub:`` settings (ports, the
        ``hub.adapters`` filter, workers) are those ``enlace up`` started with. A sink
        removed from the section keeps running until the next start.
        """
        if not self.run_adapters:
            return []
        running = [(a.country, a.sink) for a in self.adapters]
        try:
            sinks = self._sinks()
        except EnlaceError as err:
            log.error("adapters_config_refused", code=err.code, error=str(err))
            return running
        removed = [pair for pair in running if pair not in sinks]
        if removed:
            log.warning(
                "adapters_removed_wait_for_restart",
                sinks=[f"{cc}/{name}" for cc, name in removed],
                hint="they run until `enlace up` is restarted",
            )
        return sinks

    async def _reload_server(
        self, parties: tuple[str, ...], new_parties: list[str], sinks: list[tuple[str, str]]
    ) -> tuple[bool, list[str]]:
        """Logins for new parties, the config rewritten, the embedded server reloaded.

        Returns:
            Whether the running server now has every login and sink permission, and the
            logins whose public key it now knows anew (``enlace nats rotate``).
        """
        assert self.server is not None  # embedded, started
        server = self.server
        try:
            # Existing logins are kept: no one else's seed or public key changes.
            logins = ensure_credentials(self.deployment, parties)
            config = self._server_config(sinks)
            loop = asyncio.get_running_loop()
            changed = await loop.run_in_executor(None, server.reload, config, _NATS_RELOAD_TIMEOUT)
        except (ConfigError, NatsServerError, OSError) as err:
            log.error(
                "nats_config_not_reloaded",
                error=str(err),
                new_logins=new_parties,
                hint="the new logins and sinks wait for a restart of `enlace up`",
            )
            return False, []
        rotated = sorted(n for n, key in self._logins.items() if logins.get(n, key) != key)
        self._logins = logins
        if changed:
            log.info(
                "nats_config_reloaded",
                config=str(server.config_path),
                new_logins=new_parties,
                sinks=[f"{cc}/{name}" for cc, name in sinks],
                logins_rotated=rotated,
            )
        return True, rotated

    def _warn_external(
        self,
        parties: tuple[str, ...],
        new_parties: list[str],
        sinks: list[tuple[str, str]],
        new_sinks: list[tuple[str, str]],
    ) -> None:
        """A server given by URL is not ours to change: say what its operator must add.

        Public keys and permissions only; a new login's seed stays in its 0600 file.
        """
        countries = dict.fromkeys([*new_parties, *(cc for cc, _ in new_sinks)])
        if not countries:
            return
        consumers = delivery_consumers(sinks)
        logins: dict[str, str] = {}
        try:
            if read_logins(self.deployment):
                # The deployment logs in with its own nkeys: make the new parties theirs.
                logins = ensure_credentials(self.deployment, parties)
        except ConfigError as err:
            log.error("nats_logins_not_made", error=str(err))
        for cc in countries:
            log.warning(
                "nats_access_needed",
                login=cc,
                new_login=cc in new_parties,
                public_key=logins.get(cc),
                permissions=party_permissions(cc, consumers.get(cc, [])),
                hint=f"the server at {self.settings.url} is not run by `enlace up`: add or "
                "update this user in its authorization block and reload it",
            )

    def _reloaded_register(self) -> dict[str, list[str]]:
        """Every sink of ``enlace.yaml`` now; the hub's current register if it is refused."""
        try:
            return sink_register(self.deployment)
        except EnlaceError as err:
            log.error("adapters_config_refused", code=err.code, error=str(err))
            assert self.app is not None  # started
            return {cc: list(names) for cc, names in self.app.sinks.items()}

    async def _apply_sinks(self, register: dict[str, list[str]]) -> None:
        """The hub makes the consumers of sinks new to ``enlace.yaml``, before they start."""
        assert self.app is not None  # started
        try:
            await self.app.apply_sinks(register)
        except Exception as err:
            # Any NATS or JetStream error: the reload itself stands, the log says what to do.
            log.error(
                "sink_consumers_not_made",
                error=f"{type(err).__name__}: {err}",
                hint="restart `enlace up` to make the new sinks' consumers",
            )

    async def _ensure_party_streams(self, parties: tuple[str, ...]) -> bool:
        """Every party's ingress and dead-letter stream (idempotent: existing streams are
        kept), and the hub pulling from the new ingress streams.

        Returns:
            Whether the streams are all there.
        """
        if self._audit_nc is None:
            return False
        try:
            await ensure_streams(self._audit_nc.jetstream(timeout=10), self.settings, parties)
            if self.app is not None:
                await self.app.consume(parties)
        except Exception as err:
            # Any NATS or JetStream error: the reload itself stands, the log says what to do.
            log.error(
                "streams_not_updated",
                error=f"{type(err).__name__}: {err}",
                hint="restart `enlace up` to create the new parties' ingress and dead-letter "
                "streams",
            )
            return False
        return True

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            for proc in self.adapters:
                code = proc.exited()
                if code is not None and not self._stop.is_set():
                    proc.restarts += 1
                    log.warning(
                        "adapter_exited",
                        country=proc.country,
                        sink=proc.sink,
                        code=code,
                        log=str(proc.log_path),
                        restarts=proc.restarts,
                    )
                    proc.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), _RESTART_DELAY)

    async def run(self) -> None:
        """Start, serve until SIGINT/SIGTERM (SIGHUP reloads), then stop in order."""
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task[bool]] = set()

        def on_hup() -> None:
            task = loop.create_task(self.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        try:
            info = await self.start()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, on_hup)
            log.info("ready", **info)
            if self.on_ready is not None:
                self.on_ready(info)
            await self._supervise()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if reloads:
                await asyncio.gather(*reloads, return_exceptions=True)
            await self.stop()

    # -- stop -----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Hub first (drains its batches), then the audit writer, adapters and the server."""
        if self.app is not None:
            await self.app.stop()
        if self.oversize is not None:
            await self.oversize.stop()
        if self.audit is not None and self.governance is not None:
            with contextlib.suppress(Exception):
                await self.audit.append(
                    [AuditEntry.hub_event("stop", self.governance.directory.hub.id)]
                )
            with contextlib.suppress(Exception):
                await self.audit.close()
        if self._audit_nc is not None:
            with contextlib.suppress(Exception):
                await self._audit_nc.drain()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, a.stop) for a in self.adapters))
        if self.server is not None:
            await loop.run_in_executor(None, self.server.stop)
        with contextlib.suppress(FileNotFoundError):
            if pid_file(self.deployment).read_text().strip() == str(os.getpid()):
                pid_file(self.deployment).unlink()
        log.info("stopped")


def configured_sinks(deployment: Deployment, settings: HubSettings) -> list[tuple[str, str]]:
    """(country, sink) of each adapter ``enlace up`` runs: the ``adapters:`` section of
    ``enlace.yaml``, kept to the countries of ``hub.adapters`` when that is set.

    Raises:
        EnlaceError: the ``adapters:`` section is refused (file, field, problem).
    """
    pairs = [(cc, s.sink_name) for cc, s in load_adapters_config(deployment.home).entries()]
    wanted = set(settings.adapters)
    return [(cc, name) for cc, name in pairs if not wanted or cc in wanted]


def sink_register(deployment: Deployment) -> dict[str, list[str]]:
    """Every sink of ``enlace.yaml``'s ``adapters:`` section, by country, whether or not
    this ``enlace up`` runs it (a country may run its adapters on its own machine).

    Raises:
        EnlaceError: the ``adapters:`` section is refused (file, field, problem).
    """
    register: dict[str, list[str]] = {}
    for cc, sink in load_adapters_config(deployment.home).entries():
        register.setdefault(cc, []).append(sink.sink_name)
    return register


def _pairs(register: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(cc, name) for cc, names in register.items() for name in names]


def delivery_consumers(sinks: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each country's DELIVERY consumer names, from its sinks."""
    consumers: dict[str, list[str]] = {}
    for cc, name in sinks:
        consumers.setdefault(cc, []).append(sink_consumer(cc, name))
    return consumers


async def _probe(url: str, options: dict[str, Any]) -> None:
    """Fail fast (the hub's own connection retries for ever) when ``url`` is unreachable
    or refuses the hub's login (``options``)."""
    import nats

    nc = await nats.connect(servers=url.split(","), **QUIET_CONNECT, **options)
    await nc.close()


def _warn_unsigned(governance: Governance) -> None:
    """Agreements that load but are not in force for want of signatures, with their file."""
    for status in governance.agreements.statuses:
        if status.missing or status.bad:
            log.warning(
                "agreement_not_in_force",
                agreement=status.agreement.id,
                file=str(status.path),
                missing_signatures=list(status.missing),
                bad_signatures=[f"{party}: {problem}" for party, problem in status.bad],
            )


def _loaded_entries(governance: Governance, before: Governance | None = None) -> list[AuditEntry]:
    """Audit entries for governance now in force: directory version, key and agreement changes."""
    entries = [
        AuditEntry.governance("directory", str(governance.directory.version), "loaded"),
    ]
    if before is not None:
        entries += key_events(before.directory, governance.directory)
    empty = type(governance.agreements)()
    previous = before.agreements if before is not None else empty
    for change in set_changes(previous, governance.agreements):
        entries.append(
            AuditEntry.governance(
                "agreement", change["agreement"], change["change"], detail=change["digest"]
            )
        )
    return entries
