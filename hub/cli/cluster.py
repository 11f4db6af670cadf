"""``enlace cluster init N``: the configs of an N-node NATS cluster (:mod:`hub.server.cluster`)."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.context import CliContext, fail, pass_cli, print_json
from hub.cli.exit_codes import ExitCode
from hub.config import load_settings
from hub.errors import ConfigError
from hub.server.cluster import ClusterLayout, hosts_layout, local_layout, write_cluster
from hub.up.cluster import deployment_authorization
from schemas.errors import EnlaceError
from schemas.limits import wire_limit

__all__ = ["cluster"]


@click.group("cluster", help="A NATS cluster for the deployment: 3 or more nodes, R3 streams.")
def cluster() -> None:
    pass


@cluster.command(
    "init",
    help="Write the configs of an N-node NATS cluster into nats/cluster/ (or --out): "
    "node-<i>.conf for each node (clients over TLS, JetStream with sync_interval: always, "
    "routes to every node over TLS with the deployment CA and the route password), the "
    "same users.conf (the deployment's logins and permissions) for every node, route.secret "
    "(0600, kept on later runs) and tls/node.pem, one certificate of the deployment CA for "
    "every node's clients and routes (the CA's key must be here). Give each node's host "
    "name with --name (N of them), or --local for N nodes on loopback ports of this "
    "machine (a trial). Run it again after `enlace reload` adds logins or sinks, and copy "
    "users.conf to every node (then `nats-server --signal reload`).",
)
@click.argument("count", type=click.IntRange(min=1))
@click.option("--name", "names", multiple=True, help="A node's host name (in order: node 1, 2, …).")
@click.option("--local", is_flag=True, help="All nodes on loopback, on ports of their own.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write to (default: <deployment>/nats/cluster).",
)
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/lib/enlace/jetstream"),
    show_default=True,
    help="Each host's JetStream store (with --name).",
)
@click.option(
    "--cert-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/enlace/tls"),
    show_default=True,
    help="Where each host keeps node.pem, node-key.pem and ca.pem (with --name).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written (no secret).")
@pass_cli
def init(
    cli: CliContext,
    count: int,
    names: tuple[str, ...],
    local: bool,
    out: Path | None,
    store_dir: Path,
    cert_dir: Path,
    as_json: bool,
) -> None:
    dep = cli.require_deployment()
    if local == bool(names):
        fail("give each node's host name with --name (N times), or --local", ExitCode.USAGE)
    if names and len(names) != count:
        fail(f"{count} nodes but {len(names)} --name: give one per node", ExitCode.USAGE)
    folder = (out or dep.nats_dir / "cluster").resolve()
    try:
        settings = load_settings(dep.home)
        layout: ClusterLayout = (
            local_layout(folder, count)
            if local
            else hosts_layout(folder, list(names), store_dir, cert_dir)
        )
        made = write_cluster(
            dep,
            layout,
            deployment_authorization(dep),
            wire_limit(settings.max_message_bytes),
            tuple(settings.tls_names),
        )
    except ConfigError as exc:
        fail(exc.description, ExitCode.USAGE)
    except EnlaceError as exc:
        fail(exc.description)
    if as_json:
        print_json(made.as_dict())
        return
    click.echo(f"Wrote the configs of a {count}-node cluster in {folder}")
    for path, node in zip(made.configs, layout.nodes, strict=True):
        click.echo(f"  {node.server_name}: {path.name}  clients {node.url}")
    click.echo(f"  users.conf, route.secret (0600), tls/node.pem for: {' '.join(made.names)}")
    if not local:
        click.echo(
            f"  Copy node-<i>.conf and users.conf to host i's /etc/enlace/, and tls/* to "
            f"{cert_dir}/ (node-key.pem 0600); then start nats-server -c node-<i>.conf on each."
        )
    click.echo(f"  Hubs: hub.nats_url: {layout.urls} and hub.streams.replicas: 3")
