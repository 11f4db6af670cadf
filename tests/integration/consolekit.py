"""The console served by real uvicorn in the test's event loop, and an SSE reader for httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub.console import bind_console, create_console
from hub.console.operators import OperatorStore, Role
from hub.console.settings import ConsoleSettings
from hub.console.sinks import SinkProbe
from hub.deployment import Deployment
from hub.server.process import free_port

__all__ = ["PASSWORD", "SseEvent", "log_in", "read_events", "serve_console"]

PASSWORD = "a long test password"


@dataclass(frozen=True)
class SseEvent:
    id: str
    event: str
    data: str


@asynccontextmanager
async def serve_console(
    home: Path, nats_url: str, sinks: SinkProbe | None = None
) -> AsyncIterator[str]:
    """A console for the deployment at ``home`` with operators ``ana`` (auditor) and ``vic``
    (``sinks``: what its Adapters page shows)."""
    deployment = Deployment(home)
    store = OperatorStore(deployment)
    if store.get("ana") is None:
        store.add("ana", Role.AUDITOR, PASSWORD)
        store.add("vic", Role.VIEWER, PASSWORD)
    settings = ConsoleSettings(port=free_port())
    bound = bind_console(create_console(settings, deployment, nats_url, {}, sinks), settings)
    task = asyncio.create_task(bound.serve())
    while not bound.server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield bound.url
    finally:
        bound.stop()
        await task


async def log_in(client: httpx.AsyncClient, name: str = "ana") -> None:
    response = await client.post("/login", data={"name": name, "password": PASSWORD})
    assert response.status_code == 303, response.text


async def read_events(
    client: httpx.AsyncClient, url: str, count: int, last_event_id: str | None = None
) -> list[SseEvent]:
    """The first ``count`` events of the stream at ``url``; then the connection is dropped."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[SseEvent] = []
    fields: dict[str, list[str]] = {}
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line == "":
                if "id" in fields:
                    events.append(
                        SseEvent(fields["id"][0], fields["event"][0], "\n".join(fields["data"]))
                    )
                    if len(events) == count:
                        return events  # leaving the block closes the connection
                fields = {}
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
    raise AssertionError(f"the stream ended after {len(events)} of {count} events")
