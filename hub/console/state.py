"""What every request handler of the console shares, and the typed way to reach it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from starlette.requests import Request

from hub.audit import AuditReader
from hub.console.auth import LoginLimiter
from hub.console.integrity import Verifications
from hub.console.operators import OperatorStore
from hub.console.render import Renderer
from hub.console.settings import ConsoleSettings
from hub.console.sinks import SinkProbe
from hub.console.tally import AuditTally
from hub.deployment import Deployment

__all__ = ["ConsoleState", "console_state"]


@dataclass
class ConsoleState:
    """The console's settings, accounts, templates, login limits and NATS connection;
    the sinks it shows and the audit log's counts (see :mod:`hub.console.tally`); the
    integrity page's verification run."""

    settings: ConsoleSettings
    deployment: Deployment
    store: OperatorStore
    renderer: Renderer
    limiter: LoginLimiter
    nc: NatsClient | None = None
    sinks: SinkProbe | None = None
    tally: AuditTally = field(default_factory=AuditTally)
    verifications: Verifications = field(default_factory=Verifications)
    connect: Callable[[], Awaitable[NatsClient]] | None = None

    async def open(self) -> None:
        """Connect to NATS with ``connect``, once (serving the console and its lifespan
        both ask; the first does it)."""
        if self.nc is None and self.connect is not None:
            self.nc = await self.connect()

    def nc_or_fail(self) -> NatsClient:
        """The console's NATS connection (the read-only ``operator`` login)."""
        if self.nc is None:
            raise RuntimeError("the console is not connected to NATS (not started)")
        return self.nc

    @property
    def reader(self) -> AuditReader:
        return AuditReader(self.nc_or_fail().jetstream())

    @property
    def js(self) -> JetStreamContext:
        return self.nc_or_fail().jetstream()


def console_state(request: Request) -> ConsoleState:
    """The state :func:`~hub.console.app.create_console` put on the app."""
    state = request.app.state.console
    assert isinstance(state, ConsoleState)  # only create_console builds console apps
    return state
