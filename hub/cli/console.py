"""``enlace console``: serve the operator console against a running deployment."""

from __future__ import annotations

import asyncio

import click

from hub.cli.console_sinks import sink_probe
from hub.cli.context import CliContext, fail, pass_cli
from hub.cli.exit_codes import ExitCode
from hub.config import load_settings
from hub.console import (
    ConsoleError,
    bind_console,
    create_console,
    load_console_settings,
)
from hub.errors import ConfigError, NatsUnreachable
from hub.logging import configure_logging

__all__ = ["console"]


@click.command(
    "console",
    help="Serve the operator console (default http://127.0.0.1:8400) against the running "
    "hub, reading NATS through the deployment's read-only operator login. Settings: "
    "console.host / console.port in enlace.yaml, ENLACE_CONSOLE_HOST / _PORT, or the flags. "
    "Only loopback addresses are allowed until the console serves TLS. Exits 6 when no "
    "NATS server answers at start (after ~5 s); once connected it reconnects for ever.",
)
@click.option("--host", default=None, help="Listen address (loopback only).")
@click.option("--port", type=int, default=None, help="Listen port.")
@click.option("--nats-url", envvar="ENLACE_NATS_URL", default=None, help="The hub's NATS server.")
@pass_cli
def console(cli: CliContext, host: str | None, port: int | None, nats_url: str | None) -> None:
    deployment = cli.require_deployment()
    try:
        settings = load_console_settings(deployment.home, host=host, port=port)
        url = nats_url or load_settings(deployment.home).url
        app = create_console(settings, deployment, url, sinks=sink_probe(deployment))
        bound = bind_console(app, settings)
    except (ConfigError, ConsoleError) as exc:
        fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        fail(f"cannot listen on {settings.url}: {exc}", ExitCode.UNAVAILABLE)
    configure_logging(None, "INFO")

    def say_where() -> None:
        click.echo(f"enlace console: {bound.url} (NATS {url}); stop with Ctrl-C")

    try:
        asyncio.run(bound.serve(say_where))
    except KeyboardInterrupt:
        raise SystemExit(0) from None
    except NatsUnreachable as exc:
        fail(str(exc), ExitCode.UNAVAILABLE)
    except OSError as exc:
        fail(f"cannot serve the console or reach NATS at {url}: {exc}", ExitCode.UNAVAILABLE)
