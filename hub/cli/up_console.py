"""The console beside ``enlace up``: bound before the hub starts, served once it is ready.

Kept out of :mod:`hub.up` on purpose: the console is a reader of the running exchange,
started last and stopped first, and ``enlace up --no-console`` leaves it out entirely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from hub.cli.console_sinks import sink_probe
from hub.config import HubSettings
from hub.console import (
    BoundConsole,
    ConsoleError,
    bind_console,
    create_console,
    load_console_settings,
)
from hub.deployment import Deployment
from hub.errors import NatsUnreachable

__all__ = ["ConsoleBeside"]

log = structlog.get_logger("enlace.up")

STOP_SECONDS = 10.0
"""How long ``enlace up`` waits for its console to stop: uvicorn's 2 s for open streams,
the console's bounded 5 s drain of its NATS connection, and some room."""


class ConsoleBeside:
    """The console of an ``enlace up`` run: ``url`` is None when it could not be started."""

    def __init__(self, deployment: Deployment, settings: HubSettings) -> None:
        self.bound: BoundConsole | None = None
        self.problem: str | None = None
        try:
            console_settings = load_console_settings(deployment.home)
            app = create_console(
                console_settings, deployment, settings.url, sinks=sink_probe(deployment)
            )
            self.bound = bind_console(app, console_settings)
        except (ConsoleError, OSError) as exc:
            # The exchange runs without its console rather than not at all; said at ready.
            self.problem = str(exc)
            log.warning("console_not_started", reason=self.problem)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str | None:
        return self.bound.url if self.bound is not None else None

    def start(self) -> None:
        """Serve (call once the hub is ready: the console connects to its NATS server)."""
        if self.bound is not None:
            self._task = asyncio.get_running_loop().create_task(self._serve(self.bound))

    async def _serve(self, bound: BoundConsole) -> None:
        try:
            await bound.serve()
        except NatsUnreachable as exc:  # e.g. the server went away between ready and now
            self.problem = str(exc)
            log.warning("console_not_started", reason=self.problem)

    async def stop(self) -> None:
        """Stop serving; after :data:`STOP_SECONDS` the console is cancelled: it must never
        hold up the hub's exit (its start may still be connecting to a server that died)."""
        if self.bound is not None and self._task is not None:
            self.bound.stop()
            try:
                await asyncio.wait_for(self._task, STOP_SECONDS)  # cancels it when late
            except TimeoutError:
                log.warning("console_stop_cancelled", after=STOP_SECONDS)
            except Exception as exc:  # the console's own failure is not the hub's
                log.warning("console_stop_failed", error=type(exc).__name__)

    async def around(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run`` (the hub), with the console served from ready to stop."""
        try:
            await run()
        finally:
            await self.stop()

    def ready(self, info: dict[str, Any]) -> dict[str, Any]:
        """``info`` with the console's address (or why it is off), after starting it."""
        self.start()
        return {**info, "console_url": self.url, "console_problem": self.problem}
