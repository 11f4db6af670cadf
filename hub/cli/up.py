"""``enlace up``: run the embedded NATS server, the hub and the configured sink adapters.

Exits 8 (busy) when another ``enlace up`` of the deployment runs, naming its pid, or when
processes a dead one left cannot be stopped (their pids); 6 when the embedded server
cannot start, or died more often than it may be started again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import nats.errors

from adapters.config import party_from
from adapters.errors import AdapterError
from hub.cli.context import CliContext, fail, pass_cli
from hub.cli.exit_codes import ExitCode
from hub.cli.up_console import ConsoleBeside
from hub.config import HubSettings, load_settings
from hub.deployment import Deployment
from hub.errors import ConfigError, NatsServerError, UpBusy
from hub.governance import load_governance
from hub.logging import configure_logging
from hub.server.local_cluster import LocalCluster
from hub.up.cluster import start_local_cluster
from hub.up.loop import run as run_loop
from hub.up.runner import HubRunner
from schemas.errors import EnlaceError, GovernanceError

__all__ = ["up"]


def _print_where(info: dict[str, Any]) -> None:
    lines = [
        "enlace up: ready",
        f"  NATS:        {info['nats_url']}" + (" (embedded)" if info["embedded_nats"] else ""),
        f"  deployment:  {info['deployment']}",
        f"  credentials: {info['credentials']} (NATS nkey seeds: each party, hub, operator)",
        f"  metrics:     {info['metrics_url'] or 'off (set hub.metrics_port)'}",
        f"  adapters:    {', '.join(info['adapters']) or 'none'}",
        f"  console:     {_console_line(info)}",
        "  stop with Ctrl-C; reload governance with `enlace reload`",
    ]
    click.echo("\n".join(lines), err=False)


def _console_line(info: dict[str, Any]) -> str:
    if info.get("console_url"):
        return f"{info['console_url']} (log in as an operator: `enlace operators list`)"
    return f"off ({info.get('console_problem') or '--no-console'})"


def _refuse_party_kit(home: Path) -> None:
    """A party kit runs its party's side, not the hub (it holds none of the hub's keys)."""
    try:
        party = party_from(home)
    except AdapterError as err:
        fail(err.description)
    if party:
        fail(
            f"{home} is {party}'s party kit, not the hub's deployment: run {party}'s side with "
            f"`enlace --home {home} adapter run --all` (and `gateway`, `publish`)",
            ExitCode.USAGE,
        )


@click.command("up", help="Run NATS, the hub and the sink adapters until Ctrl-C.")
@click.option("--nats-url", default=None, help="Use this NATS server instead of the embedded one.")
@click.option("--no-adapters", is_flag=True, help="Do not start the sink adapters.")
@click.option("--no-console", is_flag=True, help="Do not serve the operator console.")
@click.option(
    "--cluster",
    "cluster_nodes",
    type=click.IntRange(min=3),
    default=None,
    help="A local trial on N nats-server nodes (ports nats_port, +1, …; R3 streams) "
    "instead of one: the configs of `enlace cluster init N --local`, in nats/cluster-local/.",
)
@click.option("--workers", type=int, default=None, help="Hub workers (default from settings).")
@click.option("--json-logs", is_flag=True, default=None, help="JSON log lines (default off a TTY).")
@pass_cli
def up(
    cli: CliContext,
    nats_url: str | None,
    no_adapters: bool,
    no_console: bool,
    cluster_nodes: int | None,
    workers: int | None,
    json_logs: bool | None,
) -> None:
    deployment = cli.require_deployment()
    _refuse_party_kit(deployment.home)
    try:
        settings = load_settings(deployment.home, nats_url=nats_url, workers=workers)
    except ConfigError as err:
        fail(str(err), ExitCode.FAILED)
    configure_logging(
        json_logs if json_logs else (True if settings.log_format == "json" else None),
        settings.log_level,
    )
    cluster = None
    if cluster_nodes is not None:
        if not settings.embedded:
            fail(
                "--cluster runs its own nodes: leave out --nats-url / hub.nats_url", ExitCode.USAGE
            )
        try:
            parties = load_governance(deployment).directory.party_codes
            cluster, settings = start_local_cluster(deployment, settings, cluster_nodes, parties)
        except GovernanceError as err:
            fail(f"{err}; fix the file, then run `enlace up` again", ExitCode.GOVERNANCE)
        except NatsServerError as err:
            fail(str(err), ExitCode.UNAVAILABLE)
        except EnlaceError as err:
            fail(err.description, ExitCode.FAILED)
    try:
        _run(deployment, settings, no_adapters, no_console, cluster)
    finally:
        if cluster is not None:
            cluster.stop()


def _run(
    deployment: Deployment,
    settings: HubSettings,
    no_adapters: bool,
    no_console: bool,
    cluster: LocalCluster | None,
) -> None:
    """Run the hub (and the console beside it) until it stops; exit with its code.

    With ``cluster`` (``--cluster``) a reload writes the local nodes' logins too.
    """
    console = None if no_console else ConsoleBeside(deployment, settings)

    def ready(info: dict[str, Any]) -> None:
        _print_where(console.ready(info) if console is not None else info)

    runner = HubRunner(
        deployment, settings, run_adapters=not no_adapters, on_ready=ready, cluster=cluster
    )

    async def run() -> None:
        if console is None:
            await runner.run()
        else:
            await console.around(runner.run)

    try:
        run_loop(run(), use_uvloop=settings.uvloop)
    except UpBusy as err:
        fail(str(err), ExitCode.BUSY)
    except GovernanceError as err:
        fail(f"{err}; fix the file, then run `enlace up` again", ExitCode.GOVERNANCE)
    except NatsServerError as err:
        fail(str(err), ExitCode.UNAVAILABLE)
    except (OSError, nats.errors.Error, TimeoutError) as err:
        fail(
            f"cannot reach NATS at {settings.url} ({type(err).__name__}: {err}); "
            "check --nats-url / ENLACE_NATS_URL",
            ExitCode.UNAVAILABLE,
        )
    except ConfigError as err:
        fail(str(err), ExitCode.FAILED)
