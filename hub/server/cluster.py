"""The configs of an N-node NATS cluster for Enlace: TLS and authorization on every route.

``enlace cluster init N`` writes, into one folder (``<deployment>/nats/cluster`` unless
told otherwise):

=====================  ======  ==========================================================
file                   mode    what
=====================  ======  ==========================================================
``node-<i>.conf``      0600    node i: clients over TLS, JetStream (``sync_interval:
                               always``), the cluster block (routes to every node, each
                               with the route credentials, TLS both ways), ``include
                               "users.conf"``
``users.conf``         0600    the deployment's logins and permissions, the same block on
                               every node (:func:`hub.server.logins.authorization_block`)
``route.secret``       0600    the routes' password: kept, so running it again changes
                               nothing a running cluster relies on
``tls/node.pem``       0644    one certificate for every node's clients and routes (server
                               and client authentication, every node's name), issued by
                               the deployment CA; ``tls/node-key.pem`` (0600) its key
``tls/ca.pem``         0644    the deployment CA, which routes and clients verify against
=====================  ======  ==========================================================

A route is let in only if it speaks TLS with a certificate of the deployment CA *and*
gives the route password: a host that merely reaches port 6222, or holds a certificate
of the CA without the password, is refused. Two layouts: :func:`hosts_layout`, one node
per host on the standard ports, and :func:`local_layout`, N nodes on loopback ports of one
machine for a trial (``enlace up --cluster 3``).
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.private_files import write_private
from hub.server.process import NatsServerConfig, free_port
from hub.server.tls import TlsFiles, issue_node_cert, server_names, tls_files

__all__ = [
    "CLIENT_PORT",
    "ROUTE_PORT",
    "ROUTE_USER",
    "USERS_FILE",
    "ClusterLayout",
    "ClusterNode",
    "ClusterSummary",
    "hosts_layout",
    "local_layout",
    "node_config",
    "route_password",
    "users_text",
    "write_cluster",
]

CLIENT_PORT = 4222
ROUTE_PORT = 6222
ROUTE_USER = "route"
"""The one user of every node's ``cluster { authorization }``: the routes' login."""
MIN_NODES = 3
"""Fewer nodes cannot keep R3 streams (nor a JetStream quorum after losing one)."""
USERS_FILE = "users.conf"
SECRET_FILE = "route.secret"  # noqa: S105 (the file's name, not a password)


@dataclass(frozen=True)
class ClusterNode:
    """One server of the cluster.

    Attributes:
        index: its number, from 1 (``server_name`` ``enlace-n<index>``).
        host: the name clients and the other nodes reach it by (in the certificate).
        listen: the address it listens on.
        client_port: its clients' port.
        route_port: the other nodes' port.
        store_dir: its JetStream store.
        http_port: its monitoring port, on loopback only (None: off).
    """

    index: int
    host: str
    listen: str
    client_port: int
    route_port: int
    store_dir: Path
    http_port: int | None = None

    @property
    def server_name(self) -> str:
        return f"enlace-n{self.index}"

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"nats://{self.host}:{self.client_port}"

    def route_url(self, password: str) -> str:
        """The route to this node, with the route credentials."""
        return f"nats-route://{ROUTE_USER}:{password}@{self.host}:{self.route_port}"


@dataclass(frozen=True)
class ClusterLayout:
    """The nodes of a cluster and the folder their configs go to."""

    folder: Path
    nodes: tuple[ClusterNode, ...]
    name: str = "enlace"
    cert_dir: Path | None = None
    """Where the nodes read their certificates (on their hosts); None: ``folder/tls``."""

    @property
    def tls(self) -> TlsFiles:
        """The node certificate, its key and the CA, as the node configs name them."""
        where = self.cert_dir or self.folder / "tls"
        return TlsFiles(
            ca_cert=where / "ca.pem",
            ca_key=where / "ca-key.pem",  # never written there: the CA's key stays home
            server_cert=where / "node.pem",
            server_key=where / "node-key.pem",
        )

    @property
    def urls(self) -> str:
        """Every node's client URL, comma-separated (``hub.nats_url``)."""
        return ",".join(node.url for node in self.nodes)

    def config_path(self, node: ClusterNode) -> Path:
        return self.folder / f"node-{node.index}.conf"


def _check_count(count: int) -> None:
    if count < MIN_NODES:
        raise ConfigError(
            f"a cluster of {count} node(s) cannot keep R3 streams or lose a node: give "
            f"{MIN_NODES} or more (an odd number: 3 or 5)"
        )


def hosts_layout(
    folder: Path, names: list[str], store_dir: Path, cert_dir: Path | None = None
) -> ClusterLayout:
    """One node per host named in ``names``, listening on every address, standard ports.

    Args:
        folder: where the configs are written.
        names: each node's host name, node 1 first.
        store_dir: each host's JetStream store.
        cert_dir: where each host keeps the node certificate, its key and the CA.

    Raises:
        ConfigError: fewer than three names, or one given twice.
    """
    _check_count(len(names))
    if len(set(names)) != len(names):
        raise ConfigError(f"each node needs its own host name: {' '.join(names)}")
    nodes = tuple(
        ClusterNode(i, name, "0.0.0.0", CLIENT_PORT, ROUTE_PORT, store_dir)  # noqa: S104 (hosts)
        for i, name in enumerate(names, start=1)
    )
    return ClusterLayout(folder, nodes, cert_dir=cert_dir)


def local_layout(folder: Path, count: int, client_port: int | None = None) -> ClusterLayout:
    """``count`` nodes on loopback, for a trial on one machine.

    Node i listens for clients on ``client_port + i - 1`` (free ports when None), for
    routes and monitoring on free ports; its store is ``folder/n<i>/jetstream``.

    Args:
        folder: where the configs and the stores go.
        count: how many nodes.
        client_port: node 1's client port (None: free ports).

    Raises:
        ConfigError: fewer than three nodes.
    """
    _check_count(count)
    nodes = tuple(
        ClusterNode(
            i,
            "127.0.0.1",
            "127.0.0.1",
            free_port() if client_port is None else client_port + i - 1,
            free_port(),
            folder / f"n{i}" / "jetstream",
            http_port=free_port(),
        )
        for i in range(1, count + 1)
    )
    return ClusterLayout(folder, nodes)


def node_config(
    layout: ClusterLayout, node: ClusterNode, password: str, max_payload: int
) -> NatsServerConfig:
    """Node ``node``'s config (:class:`NatsServerConfig`, with the cluster block).

    Args:
        layout: every node (each gets a route) and the certificate's place.
        node: the node whose config this is.
        password: the routes' password (:func:`route_password`).
        max_payload: the hub's message limit plus headers.
    """
    tls = layout.tls
    routes = ", ".join(f'"{other.route_url(password)}"' for other in layout.nodes)
    cluster = [
        "cluster {",
        f"  name: {layout.name}",
        f'  listen: "{node.listen}:{node.route_port}"',
        "  # Only a route with this login gets in, over TLS with a deployment certificate.",
        f'  authorization {{ user: "{ROUTE_USER}", password: "{password}", timeout: 2 }}',
        "  tls {",
        f'    cert_file: "{tls.server_cert}"',
        f'    key_file: "{tls.server_key}"',
        f'    ca_file: "{tls.ca_cert}"',
        "    timeout: 2",
        "  }",
        f"  routes: [{routes}]",
        "}",
    ]
    return NatsServerConfig(
        store_dir=node.store_dir,
        host=node.listen,
        port=node.client_port,
        http_port=node.http_port,
        server_name=node.server_name,
        authorization=f'include "{USERS_FILE}"',
        max_payload=max_payload,
        tls=tls,
        extra=cluster,
    )


def users_text(authorization: str) -> bytes:
    """What ``users.conf`` holds for the logins block ``authorization``."""
    return (authorization.rstrip("\n") + "\n").encode()


def route_password(folder: Path) -> str:
    """The routes' password kept in ``folder``; made (random, 0600) when there is none.

    Raises:
        ConfigError: the file is readable by others.
    """
    path = folder / SECRET_FILE
    if path.is_file():
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path}: readable by others; run `chmod 600 {path}`")
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(32)
    folder.mkdir(parents=True, exist_ok=True)
    write_private(path, password.encode())
    return password


@dataclass(frozen=True)
class ClusterSummary:
    """What :func:`write_cluster` wrote (no secret)."""

    layout: ClusterLayout
    configs: tuple[Path, ...]
    names: tuple[str, ...]
    cert_not_after: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "folder": str(self.layout.folder),
            "configs": [str(p) for p in self.configs],
            "users": str(self.layout.folder / USERS_FILE),
            "route_secret": str(self.layout.folder / SECRET_FILE),
            "certificate": str(self.layout.folder / "tls" / "node.pem"),
            "names": list(self.names),
            "cert_not_after": self.cert_not_after.isoformat(),
            "nats_url": self.layout.urls,
            "nodes": [
                {
                    "name": n.server_name,
                    "url": n.url,
                    "route": f"{n.host}:{n.route_port}",
                    "store_dir": str(n.store_dir),
                }
                for n in self.layout.nodes
            ],
        }


def write_cluster(
    deployment: Deployment,
    layout: ClusterLayout,
    authorization: str,
    max_payload: int,
    extra_names: tuple[str, ...] = (),
) -> ClusterSummary:
    """Write every node's config, the shared ``users.conf`` and the node certificate.

    Args:
        deployment: whose CA issues the certificate.
        layout: the nodes, and the folder to write to (0700).
        authorization: the deployment's logins block (the same on every node).
        max_payload: every node's ``max_payload`` (the hub's message limit + headers).
        extra_names: more names the certificate carries (``tls_names``).

    Raises:
        ConfigError: no CA here (or its key missing), or the route secret is too open.
    """
    folder = layout.folder
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    names = server_names("0.0.0.0", [n.host for n in layout.nodes] + list(extra_names))  # noqa: S104
    tls_dir = folder / "tls"
    not_after = issue_node_cert(deployment, names, tls_dir / "node.pem", tls_dir / "node-key.pem")
    shutil.copyfile(tls_files(deployment).ca_cert, tls_dir / "ca.pem")
    password = route_password(folder)
    write_private(folder / USERS_FILE, users_text(authorization))
    configs = []
    for node in layout.nodes:
        path = layout.config_path(node)
        header = f"# Node {node.index} of {len(layout.nodes)}: written by `enlace cluster init`.\n"
        text = header + node_config(layout, node, password, max_payload).render()
        write_private(path, text.encode())
        configs.append(path)
    return ClusterSummary(layout, tuple(configs), names, not_after)
