"""Reloading a running ``enlace up`` (SIGHUP, ``enlace reload``): governance, then NATS.

A refused governance change is logged and audited and changes nothing. An accepted one is
in force for the next message at once; then NATS follows: logins for new parties, the
embedded server's config (or the local cluster's ``users.conf``) rewritten and reloaded
(or, for a server given by URL, what its operator must add), the new parties' ingress
and dead-letter streams (pulled from by the hub at once), the consumers of sinks new to
``enlace.yaml`` and their adapters, and a restart of the adapters of a country whose
login ``enlace nats rotate`` replaced. Each step logs its own failure and the next ones
still run where they can: a restart of ``enlace up`` applies it all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from hub.app import HubApp
from hub.audit import AuditWriter
from hub.config import HubSettings
from hub.deployment import Deployment
from hub.governance import Governance, load_governance
from hub.governance.changes import loaded_entries, refused_entry, warn_unsigned
from hub.jetstream.streams import ensure_streams
from hub.pipeline.oversize import OversizeWatcher
from hub.server.logins import HUB_USER, SYSTEM_USER
from hub.up.children import AdapterChildren
from hub.up.server import UpServer, warn_external
from hub.up.sinks import configured_sinks, sink_pairs, sink_register
from schemas.errors import EnlaceError

__all__ = ["Reloader"]

log = structlog.get_logger("enlace.up")


@dataclass
class Reloader:
    """The reload path of one started ``enlace up``.

    Attributes:
        deployment: whose governance and ``enlace.yaml`` to read again.
        settings: the settings ``enlace up`` started with (they are not read again).
        app: the running hub.
        audit: the audit writer that records each reload.
        server: the NATS side (logins, the embedded server).
        children: the adapter children.
        nc: the runner's own NATS connection (streams are made through it).
        run_adapters: whether this ``enlace up`` runs adapters at all.
        oversize: the watcher of the server's size refusals (logged in as ``system``).
    """

    deployment: Deployment
    settings: HubSettings
    app: HubApp
    audit: AuditWriter | None
    server: UpServer
    children: AdapterChildren
    nc: Any
    run_adapters: bool
    oversize: OversizeWatcher | None = None

    async def load(self, before: Governance) -> Governance | None:
        """Load governance again and put it in force in the hub, on the record.

        Returns:
            The governance now in force; None when it was refused (logged and audited,
            ``before`` stays in force).
        """
        try:
            governance = load_governance(self.deployment)
        except EnlaceError as err:
            log.error("governance_refused", code=err.code, error=str(err))
            if self.audit is not None:
                await self.audit.append([refused_entry(err)])
            return None
        warn_unsigned(governance)
        entries = loaded_entries(governance, before=before)
        if self.audit is not None:
            await self.audit.append(entries)
        self.app.reload(governance)
        log.info(
            "governance_reloaded",
            directory_version=governance.directory.version,
            agreements=len(governance.agreements.statuses),
        )
        return governance

    async def apply(self, before: Governance, governance: Governance) -> None:
        """Logins, server permissions, streams and adapters for what was added."""
        parties = governance.directory.party_codes
        new_parties = [cc for cc in parties if cc not in before.directory.party_codes]
        running = self.children.running
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
        permitted = list(dict.fromkeys([*running, *new_sinks, *sink_pairs(register)]))
        rotated: list[str] = []
        if self.server.ours:
            applied, rotated = await self.server.reload(parties, new_parties, permitted)
        else:
            applied = True
            warn_external(
                self.deployment, self.settings.url, parties, new_parties, permitted, new_sinks
            )
        if HUB_USER in rotated:
            log.error(
                "hub_login_rotated",
                hint="the hub's connections keep the old key and are refused: restart `enlace up`",
            )
        restarted = await self.children.restart(rotated)
        if SYSTEM_USER in rotated and self.oversize is not None:
            await self.oversize.restart()
        streams = await self._ensure_party_streams(parties)
        await self._apply_sinks(register)
        started = await self.children.start_new(new_sinks, applied)
        # The last word of a reload: what it changed beyond governance (tests wait for it).
        log.info(
            "reload_applied",
            new_parties=new_parties,
            streams=streams,
            adapters_started=[f"{cc}/{name}" for cc, name in started],
            logins_rotated=rotated,
            adapters_restarted=restarted,
        )

    def _reloaded_sinks(self) -> list[tuple[str, str]]:
        """The sinks of ``enlace.yaml`` now; the running ones if it cannot be read.

        Only the ``adapters:`` section is read again: the ``hub:`` settings (ports, the
        ``hub.adapters`` filter, workers) are those ``enlace up`` started with. A sink
        removed from the section keeps running until the next start.
        """
        if not self.run_adapters:
            return []
        running = self.children.running
        try:
            sinks = configured_sinks(self.deployment, self.settings)
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

    def _reloaded_register(self) -> dict[str, list[str]]:
        """Every sink of ``enlace.yaml`` now; the hub's current register if it is refused."""
        try:
            return sink_register(self.deployment)
        except EnlaceError as err:
            log.error("adapters_config_refused", code=err.code, error=str(err))
            return {cc: list(names) for cc, names in self.app.sinks.items()}

    async def _apply_sinks(self, register: dict[str, list[str]]) -> None:
        """The hub makes the consumers of sinks new to ``enlace.yaml``, before they start."""
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
        try:
            await ensure_streams(self.nc.jetstream(timeout=10), self.settings, parties)
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
