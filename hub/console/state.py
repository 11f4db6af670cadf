"""What every request handler of the console shares, and the typed way to reach it."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from starlette.requests import Request

from hub.audit import AuditReader
from hub.console.auth import LoginLimiter
from hub.console.operators import OperatorStore
from hub.console.render import Renderer
from hub.console.settings import ConsoleSettings
from hub.deployment import Deployment

__all__ = ["ConsoleState", "console_state"]


@dataclass
class ConsoleState:
    """The console's settings, accounts, templates, login limits and NATS connection."""

    settings: ConsoleSettings
    deployment: Deployment
    store: OperatorStore
    renderer: Renderer
    limiter: LoginLimiter
    nc: NatsClient | None = None

    @property
    def reader(self) -> AuditReader:
        if self.nc is None:
            raise RuntimeError("the console is not connected to NATS (not started)")
        return AuditReader(self.nc.jetstream())


def console_state(request: Request) -> ConsoleState:
    """The state :func:`~hub.console.app.create_console` put on the app."""
    state = request.app.state.console
    assert isinstance(state, ConsoleState)  # only create_console builds console apps
    return state
