"""The operator commands' way to NATS, with the CLI's messages and exit codes.

:mod:`hub.server.operator_access` finds the server and logs in; here its typed errors
become ``error: …`` and the exit code every operator command uses for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
import nats.errors
from nats.aio.client import Client as NatsClient

from hub.cli.context import CliContext, fail
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.errors import ConfigError, NatsUnreachable
from hub.server import operator_access

__all__ = ["connect_operator", "resolve_nats_url", "with_operator"]

T = TypeVar("T")


def resolve_nats_url(cli: CliContext, flag: str | None) -> str:
    """``--nats-url`` (or ``ENLACE_NATS_URL``), else the deployment's settings; exit 2 if
    those are wrong."""
    try:
        return operator_access.resolve_nats_url(cli.deployment, flag)
    except ConfigError as err:
        fail(str(err), ExitCode.USAGE)


async def connect_operator(deployment: Deployment, url: str, name: str) -> NatsClient:
    """Connect as the operator; exit 1 saying what to do about the login, or exit 6
    saying which server could not be reached.

    Args:
        deployment: whose login to use.
        url: the server.
        name: the connection's name, as the server lists it.
    """
    try:
        return await operator_access.connect_operator(deployment, url, name)
    except NatsUnreachable as exc:
        fail(exc.description, ExitCode.UNAVAILABLE)
    except ConfigError as exc:
        fail(exc.description)  # e.g. an old password login, a missing seed: says what to do


def with_operator(url: str | None, name: str, body: Callable[[NatsClient], Awaitable[T]]) -> T:
    """Connect as the operator, run ``body``, disconnect; a NATS error ends the command
    with ``UNAVAILABLE``, Ctrl-C quietly with 0.

    Args:
        url: ``--nats-url`` (None: the deployment's settings).
        name: the connection's name, as the server lists it.
        body: what to do with the connection.
    """
    cli = click.get_current_context().find_object(CliContext)
    assert cli is not None  # every command runs under the root group
    server = resolve_nats_url(cli, url)

    async def run() -> T:
        nc = await connect_operator(cli.deployment, server, name)
        try:
            return await body(nc)
        except nats.errors.Error as exc:
            fail(f"NATS error: {exc}", ExitCode.UNAVAILABLE)
        finally:
            await nc.close()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        raise SystemExit(0) from None
