"""The console's app factory: routes, middleware and its one read-only NATS connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from hub.console import (
    routes_adapters,
    routes_governance,
    routes_integrity,
    routes_rejections,
    routes_session,
    routes_tail,
    routes_trail,
    routes_volumes,
)
from hub.console.auth import SESSION_COOKIE, AuthGate, LoginLimiter, session_secret
from hub.console.operators import OperatorStore
from hub.console.render import Renderer
from hub.console.security import SecurityHeaders
from hub.console.settings import ConsoleSettings
from hub.console.sinks import SinkProbe
from hub.console.state import ConsoleState
from hub.deployment import Deployment
from hub.errors import NatsUnreachable
from hub.server.connection_errors import connect_lasting
from hub.server.logins import OPERATOR_USER, load_user, read_logins

__all__ = ["create_console", "operator_connect_options"]

_STATIC = Path(__file__).parent / "static"
_DRAIN_SECONDS = 5.0  # what the console has in hand is metadata only: nothing to lose
FIRST_CONNECT_TRIES = 20
"""Attempts of each server at start (~5 s when refused, ~45 s when unanswered); once
connected, the console reconnects for ever, as the hub does."""


def operator_connect_options(deployment: Deployment, url: str) -> dict[str, Any]:
    """The read-only ``operator`` login of the deployment (none if the server needs none).

    The console never uses another login: whatever that login may not read (payloads,
    INGRESS, DELIVERY's bodies), the console cannot show.
    """
    if "@" in url or not read_logins(deployment):
        return {}
    return dict(load_user(deployment, OPERATOR_USER).connect_options())


def create_console(
    settings: ConsoleSettings,
    deployment: Deployment,
    nats_url: str,
    nats_options: Mapping[str, Any] | None = None,
    sinks: SinkProbe | None = None,
) -> Starlette:
    """A console app for the deployment, reading the audit log of the server at ``nats_url``.

    Args:
        settings: listen address, session length, login limits.
        deployment: where operators, the session secret and the directory live.
        nats_url: the hub's NATS server.
        nats_options: connect options (default: the deployment's ``operator`` login).
        sinks: the configured sinks and how to read their state (the Adapters page; none:
            the page says the sinks are unknown to this console).
    """
    state = ConsoleState(
        settings=settings,
        deployment=deployment,
        store=OperatorStore(deployment),
        renderer=Renderer(),
        limiter=LoginLimiter(settings.login_attempts, settings.login_window_seconds),
        sinks=sinks,
    )
    options = dict(
        nats_options if nats_options is not None else operator_connect_options(deployment, nats_url)
    )

    async def connect() -> NatsClient:
        try:
            return await connect_lasting(
                nats_url.split(","), "enlace-console", FIRST_CONNECT_TRIES, options
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise NatsUnreachable(nats_url, type(exc).__name__) from None

    state.connect = connect

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.open()
        nc = state.nc_or_fail()
        try:
            yield
        finally:
            await state.verifications.close()
            try:
                # Bounded: over TLS, a drain while the server is gone waits on the reconnects.
                await asyncio.wait_for(nc.drain(), _DRAIN_SECONDS)
            except (nats.errors.Error, TimeoutError, OSError):
                with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
                    await nc.close()

    routes: list[BaseRoute] = [
        *routes_session.routes(),
        *routes_tail.routes(),
        *routes_trail.routes(),
        *routes_adapters.routes(),
        *routes_volumes.routes(),
        *routes_integrity.routes(),
        *routes_governance.routes(),
        *routes_rejections.routes(),
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=session_secret(deployment),
                session_cookie=SESSION_COOKIE,
                max_age=int(settings.session_hours * 3600),
                same_site="strict",
                https_only=False,  # loopback only until TLS; the cookie is HttpOnly anyway
            ),
            Middleware(AuthGate, store=state.store),
        ],
    )
    app.state.console = state
    return app
