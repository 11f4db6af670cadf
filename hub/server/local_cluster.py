"""A cluster of ``nats-server`` processes on this machine (``enlace up --cluster``, tests).

Each node is a :class:`~hub.server.process.NatsServer` run from the config
:func:`hub.server.cluster.write_cluster` wrote for it (the file is written again from the
same config at each start, without its header, beside the shared ``users.conf``). A
change of logins or permissions is written to ``users.conf`` and read again by every
running node (:meth:`LocalCluster.reload`, SIGHUP), as the single embedded server is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors

from hub.deployment import Deployment
from hub.errors import NatsServerError
from hub.server.cluster import (
    USERS_FILE,
    ClusterLayout,
    ClusterSummary,
    node_config,
    route_password,
    users_text,
    write_cluster,
)
from hub.server.operator_access import QUIET_CONNECT
from hub.server.private_files import write_private
from hub.server.process import NatsServer

__all__ = ["READY_TIMEOUT", "LocalCluster"]

READY_TIMEOUT = 30.0
"""How long (s) a cluster just started may take to elect its JetStream meta leader."""


@dataclass
class LocalCluster:
    """The nodes of a :func:`~hub.server.cluster.local_layout`, as child processes.

    Attributes:
        layout: the nodes and their folder.
        servers: one server per node, in order (node 1 first).
    """

    layout: ClusterLayout
    servers: list[NatsServer] = field(default_factory=list)

    @classmethod
    def prepare(
        cls,
        deployment: Deployment,
        layout: ClusterLayout,
        authorization: str,
        max_payload: int,
        tied: bool = False,
    ) -> tuple[LocalCluster, ClusterSummary]:
        """Write the cluster's files (:func:`write_cluster`) and the servers to run them.

        Args:
            deployment: whose CA issues the node certificate.
            layout: the nodes (a :func:`~hub.server.cluster.local_layout`).
            authorization: the deployment's logins block.
            max_payload: every node's ``max_payload``.
            tied: the servers die with this process (``enlace up``).

        Raises:
            ConfigError: no CA here, or the route secret is too open.
        """
        summary = write_cluster(deployment, layout, authorization, max_payload)
        password = route_password(layout.folder)
        servers = [
            NatsServer(
                node_config(layout, node, password, max_payload), layout.config_path(node), tied
            )
            for node in layout.nodes
        ]
        return cls(layout, servers), summary

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (as ``hub.nats_url``)."""
        return self.layout.urls

    def start(self, timeout: float = 10.0) -> None:
        """Start every node, then wait until each accepts connections.

        Started together: a node waits for its routes, not for the others to be up.

        Raises:
            NatsServerError: a node did not start (the others are stopped).
        """
        try:
            for server in self.servers:
                server.spawn()
            for server in self.servers:
                server.wait_ready(timeout)
        except Exception:
            self.stop()
            raise

    async def jetstream_ready(self, options: dict[str, Any]) -> None:
        """Wait until the cluster's JetStream answers (its meta leader is elected), at most
        :data:`READY_TIMEOUT` seconds.

        Args:
            options: the login to ask with (``nats.connect`` options).

        Raises:
            NatsServerError: it did not answer in time.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                nc = await nats.connect(servers=self.url.split(","), **QUIET_CONNECT, **options)
                try:
                    await nc.jetstream(timeout=2).account_info()
                    return
                finally:
                    await nc.close()
            except (nats.errors.Error, OSError) as err:
                if time.monotonic() > deadline:
                    raise NatsServerError(
                        f"the cluster's JetStream did not answer within {READY_TIMEOUT:.0f} s "
                        f"({type(err).__name__}); see the nodes' logs in {self.layout.folder}"
                    ) from None
                await asyncio.sleep(0.5)

    def reload(self, authorization: str, timeout: float = 10.0) -> bool:
        """Write the logins block ``authorization`` to the shared ``users.conf`` and have
        every running node read it again (SIGHUP), one after the other.

        A node that is down reads it when it starts again. A refused block is taken back
        (the nodes that took it read the previous file again).

        Args:
            authorization: the deployment's logins block, as at :meth:`prepare`.
            timeout: how long (s) each node may take to confirm.

        Returns:
            True if the block changed and every running node applied it; False if nothing
            changed.

        Raises:
            NatsServerError: a node refused it or did not confirm in time.
        """
        path = self.layout.folder / USERS_FILE
        text, before = users_text(authorization), path.read_bytes()
        if text == before:
            return False
        write_private(path, text)
        done: list[NatsServer] = []
        try:
            for server in self.servers:
                if server.pid is not None and server.exited() is None:
                    server.hup(timeout)
                    done.append(server)
        except NatsServerError:
            write_private(path, before)
            for server in done:
                server.hup(timeout)
            raise
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout`` s)."""
        for server in self.servers:
            server.stop(timeout)
