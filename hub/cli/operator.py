"""The operator commands' way to NATS, with the CLI's messages and exit codes.

:mod:`hub.server.operator_access` finds the server and logs in; here its typed errors
become ``error: …`` and the exit code every operator command uses for them.
"""

from __future__ import annotations

from nats.aio.client import Client as NatsClient

from hub.cli.context import CliContext, fail
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.errors import ConfigError, NatsUnreachable
from hub.server import operator_access

__all__ = ["connect_operator", "resolve_nats_url"]


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
