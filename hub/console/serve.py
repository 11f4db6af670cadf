"""Serving the console with uvicorn, in the caller's event loop (``enlace console``, ``up``).

The listening socket is bound before serving, by the caller: a refused address or a busy
port is then an error the caller reports (uvicorn itself would exit the process).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from hub.console.settings import ConsoleSettings, check_loopback

__all__ = ["BoundConsole", "bind_console"]


class BoundConsole:
    """A console app with its bound socket; ``await serve()`` until ``stop()``."""

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        self.app = app
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                # SSE streams stay open: do not wait for them on shutdown longer than this.
                timeout_graceful_shutdown=2,
            )
        )

    async def serve(self, on_connected: Callable[[], None] | None = None) -> None:
        """Connect to NATS, then serve until :meth:`stop`.

        Args:
            on_connected: called once connected, before serving (to say where it serves).

        Raises:
            NatsUnreachable: no NATS server answered (before anything is served,
                so the caller says it in one line, not uvicorn with a traceback).
        """
        await self.app.state.console.open()
        if on_connected is not None:
            on_connected()
        await self.server.serve(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True


def bind_console(app: Starlette, settings: ConsoleSettings) -> BoundConsole:
    """Bind the settings' address for ``app``.

    Raises:
        ConsoleBindRefused: the address is not loopback (the console has no TLS yet).
        OSError: the address cannot be bound (e.g. the port is in use).
    """
    check_loopback(settings.host)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return BoundConsole(app, sock)
