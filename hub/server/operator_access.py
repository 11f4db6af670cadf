"""How short operator commands (``enlace status``, ``enlace audit …``) reach NATS.

One place for: which server (``--nats-url`` / ``ENLACE_NATS_URL``, else the deployment's
settings), which login (the deployment's read-only ``operator`` login; deployments made
before it existed use the hub's), and quiet, single-try connection options. Failures are
typed errors; the command turns them into its message and exit code.
"""

from __future__ import annotations

from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient

from hub.config import load_settings
from hub.deployment import Deployment
from hub.errors import NatsUnreachable
from hub.server.logins import HUB_USER, OPERATOR_USER, load_user, read_logins

__all__ = ["QUIET_CONNECT", "connect_operator", "operator_login", "resolve_nats_url"]


async def _no_error_report(_: Exception) -> None:
    """nats-py prints each failed attempt's traceback by default; the caller reports once."""


QUIET_CONNECT: dict[str, Any] = {
    "connect_timeout": 3,
    "allow_reconnect": False,
    "max_reconnect_attempts": 1,
    "error_cb": _no_error_report,
}
"""``nats.connect`` options of short commands: one try, no tracebacks, the caller says why."""


def resolve_nats_url(deployment: Deployment, flag: str | None) -> str:
    """``--nats-url`` (or ``ENLACE_NATS_URL``), else the deployment's settings.

    Raises:
        ConfigError: the deployment's settings are wrong (file, field).
    """
    if flag:
        return flag
    return load_settings(deployment.home if deployment.exists() else None).url


def operator_login(deployment: Deployment, url: str) -> dict[str, Any]:
    """Connect options of the deployment's read-only login (none if the URL has its own).

    Raises:
        ConfigError: the login cannot be used (an old password login, a missing seed):
            the message says what to do.
    """
    logins = read_logins(deployment)
    if "@" in url or not logins:
        return {}  # the URL carries its own credentials, or the server needs none
    name = OPERATOR_USER if OPERATOR_USER in logins else HUB_USER
    return dict(load_user(deployment, name).connect_options())


async def connect_operator(deployment: Deployment, url: str, name: str) -> NatsClient:
    """Connect to ``url`` as the deployment's operator, one try.

    Args:
        deployment: whose login to use.
        url: the server.
        name: the connection's name, as the server lists it.

    Raises:
        ConfigError: the login cannot be used (see :func:`operator_login`).
        NatsUnreachable: the server cannot be reached or refused the connection.
    """
    login = operator_login(deployment, url)
    try:
        return await nats.connect(servers=url.split(","), name=name, **QUIET_CONNECT, **login)
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        raise NatsUnreachable(url, type(exc).__name__) from None
