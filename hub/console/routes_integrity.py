"""The integrity page (``/integrity``): the latest signed checkpoints and "verify now".

``POST /integrity/verify`` starts a run (one at a time) and answers with its status;
``GET /integrity/verify`` is that status again, which the page polls (htmx) while it runs.
"""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.console.integrity import CheckpointView, hub_verifiers, latest_two, recent_witnesses
from hub.console.state import console_state
from schemas.errors import GovernanceError

__all__ = ["routes"]


async def integrity_page(request: Request) -> Response:
    state = console_state(request)
    keys_problem = None
    try:
        keys = hub_verifiers(state.deployment)
    except GovernanceError as exc:
        keys, keys_problem = [], exc.description
    except OSError as exc:
        keys, keys_problem = [], f"{type(exc).__name__}: {exc}"
    latest: CheckpointView | None
    latest, previous = await latest_two(state.reader, keys)
    witnessed = None
    if keys_problem is None:
        with contextlib.suppress(GovernanceError, OSError):
            witnessed = await recent_witnesses(state.reader, state.deployment)
    return state.renderer.page(
        request,
        "integrity.html",
        latest=latest,
        previous=previous,
        keys_problem=keys_problem,
        run=state.verifications.last,
        witnessed=witnessed,
    )


async def verify_status(request: Request) -> Response:
    state = console_state(request)
    return state.renderer.page(request, "_verify_status.html", run=state.verifications.last)


async def verify_now(request: Request) -> Response:
    state = console_state(request)
    operator = request.scope["state"]["operator"]
    started = state.verifications.start(state.reader, state.deployment, operator.name)
    if not request.headers.get("hx-request"):
        return RedirectResponse("/integrity", status_code=303)
    # A run already going is shown as it is (202: nothing new was started).
    return state.renderer.page(
        request,
        "_verify_status.html",
        status_code=200 if started else 202,
        run=state.verifications.last,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/integrity", integrity_page, methods=["GET"]),
        Route("/integrity/verify", verify_status, methods=["GET"]),
        Route("/integrity/verify", verify_now, methods=["POST"]),
    ]
