"""The NATS server of ``enlace up``: which login each connection uses, the embedded server
started with the deployment's logins and permissions and reloaded when they change, and
for a server given by URL (not ours to change) what its operator must add. The nodes of
``enlace up --cluster`` are ours too: a reload writes their shared ``users.conf`` and has
each node read it again.

The embedded server is recorded (``state/children/nats-server.json``,
:mod:`hub.up.pidfiles`), dies with ``enlace up`` (SIGTERM: it then shuts down cleanly)
and is started again when it dies (:meth:`UpServer.supervise`, within the budget of
:mod:`hub.up.restarts`), or stopped and started again when a stream's store failed a
write and its disk has room again (:mod:`hub.up.store_watch`). The hub, the audit writer
and the adapters reconnect by themselves. A server given by URL is probed with the hub's
login before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from hub.config import HubSettings
from hub.deployment import Deployment
from hub.errors import ConfigError, NatsServerError
from hub.server.local_cluster import LocalCluster
from hub.server.logins import (
    NatsUser,
    authorization_block,
    ensure_credentials,
    load_user,
    party_permissions,
    read_logins,
)
from hub.server.operator_access import QUIET_CONNECT
from hub.server.process import NatsServer, NatsServerConfig
from hub.server.tls import TlsFiles, tls_files
from hub.up.pidfiles import Claim
from hub.up.restarts import RestartBudget
from hub.up.sinks import delivery_consumers
from hub.up.store_watch import StoreWatch
from schemas.limits import wire_limit

__all__ = ["UpServer", "probe", "warn_external"]

log = structlog.get_logger("enlace.up")

_NATS_RELOAD_TIMEOUT = 10.0
_NATS_START_TIMEOUT = 10.0
_WATCH_INTERVAL = 0.5
_RECORD = "nats-server"


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; whether it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


@dataclass
class UpServer:
    """The NATS side of one ``enlace up``.

    Attributes:
        deployment: whose logins (``nats/``) to use.
        settings: the embedded server's host and ports, or the URL of another server.
        server: the embedded server, once started.
        claim: where the embedded server is recorded (the deployment held by this run).
        budget: how often a dead embedded server is started again.
        cluster: the local nodes of ``enlace up --cluster`` (instead of one server).
    """

    deployment: Deployment
    settings: HubSettings
    server: NatsServer | None = None
    claim: Claim | None = None
    budget: RestartBudget = field(default_factory=RestartBudget)
    store_watch: StoreWatch | None = None
    cluster: LocalCluster | None = None
    # The public nkeys the embedded server was last given: a reload that changes one
    # (`enlace nats rotate`) restarts that country's adapters.
    _logins: dict[str, str] = field(default_factory=dict)

    def login(self, name: str) -> NatsUser | None:
        """The deployment's login ``name``; none when the URL carries its own credentials.

        The embedded server always requires the logins; a server given by ``nats_url``
        gets them too when the deployment has them (a cluster with the same block).

        Raises:
            ConfigError: the login is missing, or its seed is missing or wrong.
        """
        if self.settings.embedded:
            return load_user(self.deployment, name)
        if "@" in self.settings.url or name not in read_logins(self.deployment):
            return None
        return load_user(self.deployment, name)

    @property
    def ours(self) -> bool:
        """Whether this run writes the server's logins: embedded, or a local cluster."""
        return self.settings.embedded or self.cluster is not None

    def _authorization(self, sinks: list[tuple[str, str]]) -> str:
        """The deployment's logins, ``sinks``' consumers permitted."""
        return authorization_block(self.deployment, delivery_consumers(sinks))

    def _config(self, sinks: list[tuple[str, str]]) -> NatsServerConfig:
        """The embedded server's config: the deployment's logins, ``sinks``' consumers."""
        nats_dir = self.deployment.nats_dir.resolve()
        return NatsServerConfig(
            store_dir=nats_dir / "jetstream",
            host=self.settings.nats_host,
            port=self.settings.nats_port,
            http_port=self.settings.nats_http_port,
            # What the server lets through reaches the hub, which refuses it with a notice.
            max_payload=wire_limit(self.settings.max_message_bytes),
            authorization=self._authorization(sinks),
            tls=self._tls(),
        )

    def _tls(self) -> TlsFiles | None:
        """The server's TLS files; none when the settings turn TLS off (loopback only).

        Raises:
            ConfigError: TLS is on and the deployment has no certificate yet.
        """
        if not self.settings.nats_tls:
            return None
        files = tls_files(self.deployment)
        if not files.complete():
            # Not made on the fly: the parties' kits would then hold no CA to trust, and
            # their connections would fail without a word about why.
            raise ConfigError(
                f"this deployment has no TLS certificate for NATS yet ({files.server_cert}): "
                "run `enlace tls init` (with --name for each name other machines reach it "
                "by), then give each party a new kit (`enlace party kit`), which carries "
                "the deployment CA"
            )
        return files

    def start(self, parties: tuple[str, ...], sinks: list[tuple[str, str]]) -> None:
        """Logins for ``parties`` that lack one, then the embedded server permitting ``sinks``.

        Raises:
            ConfigError: a login cannot be made or read.
            NatsServerError: the server cannot start (busy port, no binary).
        """
        # Logins for parties or roles added since `enlace init` (existing ones are kept).
        self._logins = ensure_credentials(self.deployment, parties)
        # Public nkeys only, but who may do what is nobody else's business: the server
        # writes its config with mode 0600.
        config_path = self.deployment.nats_dir.resolve() / "nats-server.conf"
        # Tied: SIGTERM to the server when `enlace up` dies (started from its main thread).
        self.server = NatsServer(self._config(sinks), config_path, tied=True)
        self.server.start(_NATS_START_TIMEOUT)
        self.store_watch = StoreWatch(self.server.log_path, self.server.config.store_dir)
        self.store_watch.restarted()
        self._record()
        log.info("nats_started", url=self.server.url, config=str(config_path))

    def adopt_cluster(self, parties: tuple[str, ...]) -> None:
        """Know the logins the local cluster was started with (its nodes run already).

        Raises:
            ConfigError: a login cannot be made or read.
        """
        self._logins = ensure_credentials(self.deployment, parties)

    def gone(self) -> bool:
        """Whether the embedded server is down (dead, not being started again)."""
        return self.server is not None and self.server.exited() is not None

    def _record(self) -> None:
        if self.claim is not None and self.server is not None and self.server.pid is not None:
            self.claim.record_child(_RECORD, self.server.pid, "nats-server")

    async def supervise(
        self, stop: asyncio.Event, restarted: Callable[[int, int], Awaitable[None]]
    ) -> None:
        """Start the embedded server again each time it dies, until ``stop`` is set.

        Each restart waits longer than the one before (:class:`RestartBudget`); the
        server is started from this (the event loop's) thread, so it stays tied to
        ``enlace up``. Nothing to do for a server given by URL.

        Args:
            stop: set when ``enlace up`` stops; set here too when it gives up.
            restarted: awaited after each restart with the dead server's exit code and
                the restart's number in the window (the runner audits it).

        Raises:
            NatsServerError: it died more often than the budget allows (``stop`` is set).
        """
        server = self.server
        loop = asyncio.get_running_loop()
        while server is not None and not stop.is_set():
            code = server.exited()
            if code is None:
                if self.store_watch is not None and self.store_watch.should_restart():
                    # Its failed stores stay failed until it restarts: stop it, and the
                    # next turn starts it again like any dead server.
                    log.error(
                        "nats_store_failed",
                        streams=sorted(self.store_watch.failed),
                        free=self.store_watch.free(),
                        action="restarting nats-server now that its disk has room",
                    )
                    await loop.run_in_executor(None, server.stop, _NATS_START_TIMEOUT)
                    continue
                await _wait(stop, _WATCH_INTERVAL)
                continue
            delay = self.budget.next_delay(time.monotonic())
            if delay is None:
                stop.set()
                raise NatsServerError(
                    f"nats-server is down (last exit code {code}) after {self.budget.used} "
                    f"restarts within {self.budget.window:.0f} s: `enlace up` gave up starting "
                    f"it again and stopped. Its log: {server.log_path}; fix the cause (disk, "
                    "port, store), then run `enlace up` again"
                )
            attempt = self.budget.used
            log.error("nats_exited", code=code, log=str(server.log_path), restart=attempt)
            if await _wait(stop, delay):
                return
            try:
                server.spawn()
                await loop.run_in_executor(None, server.wait_ready, _NATS_START_TIMEOUT)
            except (NatsServerError, OSError) as err:  # OSError: its store or log unusable
                log.error("nats_not_restarted", error=str(err), restart=attempt)
                continue
            self._record()
            if self.store_watch is not None:
                self.store_watch.restarted()
            log.warning("nats_restarted", pid=server.pid, code=code, restart=attempt)
            await restarted(code, attempt)

    async def reload(
        self, parties: tuple[str, ...], new_parties: list[str], sinks: list[tuple[str, str]]
    ) -> tuple[bool, list[str]]:
        """Logins for new parties, the config rewritten, the embedded server (or every node
        of the local cluster) reloaded.

        Args:
            parties: every party in force.
            new_parties: those new to this reload (for the log).
            sinks: every (country, sink) whose consumer the server must permit.

        Returns:
            Whether the running server now has every login and sink permission, and the
            logins whose public key it now knows anew (``enlace nats rotate``).
        """
        loop = asyncio.get_running_loop()
        try:
            # Existing logins are kept: no one else's seed or public key changes.
            logins = ensure_credentials(self.deployment, parties)
            if self.cluster is not None:
                where = self.cluster.layout.folder
                block = self._authorization(sinks)
                reload = self.cluster.reload
                changed = await loop.run_in_executor(None, reload, block, _NATS_RELOAD_TIMEOUT)
            else:
                assert self.server is not None  # embedded, started
                where, config = self.server.config_path, self._config(sinks)
                changed = await loop.run_in_executor(
                    None, self.server.reload, config, _NATS_RELOAD_TIMEOUT
                )
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
                config=str(where),
                new_logins=new_parties,
                sinks=[f"{cc}/{name}" for cc, name in sinks],
                logins_rotated=rotated,
            )
        return True, rotated

    async def stop(self) -> None:
        """Stop the embedded server, if one was started."""
        if self.server is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.server.stop)
            if self.claim is not None:
                self.claim.forget_child(_RECORD)


async def probe(url: str, options: dict[str, Any]) -> None:
    """Fail fast (the hub's own connection retries for ever) when ``url`` is unreachable
    or refuses the hub's login (``options``).

    Each of a cluster's URLs is tried in turn until one lets the hub in: a node that is
    down, or frozen (it accepts the connection but says nothing), is not the cluster.

    Raises:
        OSError: no server could be reached (the last one's error).
        nats.errors.Error: no server let the hub in (the last one's refusal).
        TimeoutError: the last server accepted the connection but did not answer.
    """
    import nats

    servers = url.split(",")
    for i, server in enumerate(servers):
        try:
            nc = await nats.connect(servers=[server], **QUIET_CONNECT, **options)
        except (OSError, nats.errors.Error, TimeoutError):
            if i == len(servers) - 1:
                raise
            continue
        await nc.close()
        return


def warn_external(
    deployment: Deployment,
    url: str,
    parties: tuple[str, ...],
    new_parties: list[str],
    sinks: list[tuple[str, str]],
    new_sinks: list[tuple[str, str]],
) -> None:
    """A server given by URL is not ours to change: say what its operator must add.

    Public keys and permissions only; a new login's seed stays in its 0600 file.

    Args:
        deployment: whose logins.
        url: the server's URL (``hub.nats_url``).
        parties: every party in force.
        new_parties: those new to this reload.
        sinks: every (country, sink) whose consumer the server must permit.
        new_sinks: those new to this reload.
    """
    countries = dict.fromkeys([*new_parties, *(cc for cc, _ in new_sinks)])
    if not countries:
        return
    consumers = delivery_consumers(sinks)
    logins: dict[str, str] = {}
    try:
        if read_logins(deployment):
            # The deployment logs in with its own nkeys: make the new parties theirs.
            logins = ensure_credentials(deployment, parties)
    except ConfigError as err:
        log.error("nats_logins_not_made", error=str(err))
    for cc in countries:
        log.warning(
            "nats_access_needed",
            login=cc,
            new_login=cc in new_parties,
            public_key=logins.get(cc),
            permissions=party_permissions(cc, consumers.get(cc, [])),
            hint=f"the server at {url} is not run by `enlace up`: add or "
            "update this user in its authorization block and reload it",
        )
