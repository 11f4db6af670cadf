"""The governance page (``/governance``): directory version and signers, agreements' state."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.console.governance import governance_view
from hub.console.state import console_state

__all__ = ["routes"]


async def governance_page(request: Request) -> Response:
    state = console_state(request)
    view = governance_view(state.deployment, datetime.now(UTC).replace(microsecond=0))
    return state.renderer.page(request, "governance.html", gov=view)


def routes() -> list[BaseRoute]:
    return [Route("/governance", governance_page, methods=["GET"])]
