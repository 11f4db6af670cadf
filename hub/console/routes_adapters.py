"""The Adapters page: each country's sinks, what waits for them and their last receipt
(``/adapters?country=HN&stalled=1``)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.console.sinks import SinkFilter, sink_rows
from hub.console.state import console_state

__all__ = ["routes"]


async def adapters_page(request: Request) -> Response:
    state = console_state(request)
    flt = SinkFilter.from_query(request.query_params)
    rows = []
    if state.sinks is not None:
        await state.tally.refresh(state.reader)
        now = datetime.now(UTC)
        found = await sink_rows(
            state.sinks, state.js, state.tally.receipts, now, state.settings.stalled_seconds
        )
        rows = [row for row in found if flt.keeps(row)]
    return state.renderer.page(
        request,
        "adapters.html",
        rows=rows,
        flt=flt,
        known=state.sinks is not None,
        stalled_seconds=int(state.settings.stalled_seconds),
    )


def routes() -> list[BaseRoute]:
    return [Route("/adapters", adapters_page, methods=["GET"])]
