"""Serving the console with uvicorn, in the caller's event loop (``enlace console``, ``up``)."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from hub.console.settings import ConsoleSettings, check_loopback

__all__ = ["console_server"]


def console_server(app: Starlette, settings: ConsoleSettings) -> uvicorn.Server:
    """A uvicorn server for ``app`` on the settings' address (call ``await server.serve()``).

    Raises:
        ConsoleBindRefused: the address is not loopback (the console has no TLS yet).
    """
    check_loopback(settings.host)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # SSE streams stay open: do not wait for them on shutdown longer than this.
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)
