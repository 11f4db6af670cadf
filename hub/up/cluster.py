"""``enlace up --cluster N``: a local trial on N ``nats-server`` nodes instead of one.

The nodes are those of ``enlace cluster init N --local`` (:mod:`hub.server.cluster`),
written into ``<deployment>/nats/cluster-local/`` (so that configs written for real hosts
in ``nats/cluster/`` are left alone): node i serves clients on ``hub.nats_port + i - 1``
over TLS, routes over TLS with the route login, JetStream with ``sync_interval: always``,
its store in ``cluster-local/n<i>/``. They die with ``enlace up``. The hub then runs as on
a cluster given by ``hub.nats_url`` (every node's URL) with ``streams.replicas`` = 3 (or N
when smaller), once the cluster's JetStream answers.
"""

from __future__ import annotations

import asyncio

import structlog

from hub.config import HubSettings
from hub.deployment import Deployment
from hub.errors import NatsServerError
from hub.server.cluster import local_layout
from hub.server.local_cluster import LocalCluster
from hub.server.logins import HUB_USER, authorization_block, ensure_credentials, load_user
from hub.up.sinks import delivery_consumers, sink_pairs, sink_register
from schemas.limits import wire_limit

__all__ = ["LOCAL_FOLDER", "deployment_authorization", "start_local_cluster"]

log = structlog.get_logger("enlace.up")

LOCAL_FOLDER = "cluster-local"


def deployment_authorization(deployment: Deployment) -> str:
    """The logins block every node gets: the deployment's logins, every configured sink's
    consumer (also sinks run elsewhere), as on the embedded server.

    Raises:
        ConfigError: no logins; EnlaceError: the ``adapters:`` section is refused.
    """
    return authorization_block(
        deployment, delivery_consumers(sink_pairs(sink_register(deployment)))
    )


def start_local_cluster(
    deployment: Deployment, settings: HubSettings, count: int, parties: tuple[str, ...]
) -> tuple[LocalCluster, HubSettings]:
    """Start ``count`` nodes tied to this process and wait for their JetStream.

    Args:
        deployment: whose CA, logins and folder.
        settings: ``nats_port`` is node 1's client port.
        count: how many nodes (3 or more).
        parties: the directory's parties (each gets a login if it lacks one).

    Returns:
        The running cluster, and the settings the hub runs with on it (its URLs,
        ``streams.replicas`` 3).

    Raises:
        ConfigError: fewer than three nodes, no CA key, no logins.
        NatsServerError: a node did not start, or the cluster's JetStream did not answer.
    """
    ensure_credentials(deployment, parties)
    layout = local_layout(
        deployment.nats_dir.resolve() / LOCAL_FOLDER, count, client_port=settings.nats_port
    )
    cluster, _ = LocalCluster.prepare(
        deployment,
        layout,
        deployment_authorization(deployment),
        wire_limit(settings.max_message_bytes),
        tied=True,
    )
    cluster.start()
    options = dict(load_user(deployment, HUB_USER).connect_options())
    try:
        asyncio.run(cluster.jetstream_ready(options))
    except NatsServerError:
        cluster.stop()
        raise
    streams = settings.streams.model_copy(update={"replicas": min(3, count)})
    on_cluster = settings.model_copy(update={"nats_url": cluster.url, "streams": streams})
    log.info(
        "local_cluster_started",
        nodes=[n.server_name for n in layout.nodes],
        url=cluster.url,
        folder=str(layout.folder),
        replicas=streams.replicas,
    )
    return cluster, on_cluster
