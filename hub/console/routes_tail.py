"""The live audit tail: a page of recent entries, then new ones over SSE as they are appended.

The stream's event id is the entry's :class:`~hub.console.feed.EventId`; a browser that
reconnects sends it back as ``Last-Event-ID`` and gets exactly the entries after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.console.feed import KIND_GROUPS, EventId, FeedEntry, TailFilter, follow, recent
from hub.console.render import Renderer
from hub.console.state import console_state
from schemas.common import Theme

__all__ = ["KEEPALIVE_SECONDS", "routes", "sse_event"]

KEEPALIVE_SECONDS = 15.0
_BACKLOG = 100


def sse_event(event_id: str, event: str, html: str) -> bytes:
    """One SSE event; every line of ``html`` is a ``data:`` line (the client rejoins them).

    Args:
        event_id: the event's ``id:`` (what a reconnecting browser sends as Last-Event-ID).
        event: the event's name.
        html: the fragment the page inserts.
    """
    lines = [f"id: {event_id}", f"event: {event}"]
    lines += [f"data: {line}" for line in html.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


async def home(request: Request) -> Response:
    return RedirectResponse("/tail", status_code=303)


async def tail_page(request: Request) -> Response:
    state = console_state(request)
    flt = TailFilter.from_query(request.query_params)
    items, last = await recent(state.reader, flt, _BACKLOG)
    stream_query = urlencode({**flt.query(), "from": last})
    return state.renderer.page(
        request,
        "tail.html",
        items=list(reversed(items)),
        flt=flt,
        kinds=list(KIND_GROUPS),
        themes=[t.value for t in Theme],
        stream_url=f"/tail/stream?{stream_query}",
    )


def _row(renderer: Renderer, request: Request, item: FeedEntry) -> str:
    return renderer.text(request, "_entry.html", item=item)


async def tail_stream(request: Request) -> Response:
    state = console_state(request)
    flt = TailFilter.from_query(request.query_params)
    after = EventId.parse(request.headers.get("last-event-id"))
    from_seq = request.query_params.get("from", "")
    start = int(from_seq) if from_seq.isdigit() else await state.reader.last_seq()

    async def events() -> AsyncIterator[bytes]:
        # The retry hint keeps browsers reconnecting quickly (with Last-Event-ID).
        yield b"retry: 1000\n\n"
        queue: asyncio.Queue[FeedEntry] = asyncio.Queue(maxsize=1000)

        async def pump() -> None:
            async for item in follow(state.reader, flt, after, start):
                await queue.put(item)

        task = asyncio.create_task(pump())
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if task.done():
                        task.result()  # the reader failed: end the stream, the client retries
                    yield b": keepalive\n\n"
                    continue
                yield sse_event(str(item.event_id), "entry", _row(state.renderer, request, item))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/tail", tail_page, methods=["GET"]),
        Route("/tail/stream", tail_stream, methods=["GET"]),
    ]
