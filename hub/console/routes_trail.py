"""The trail page: one message, every party, from the audit log (``/trail/<message id>``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.audit import AuditError, parse_entry
from hub.audit.entries import AuditEntry
from hub.console.state import console_state
from hub.console.trail import build_trail
from schemas.errors import GovernanceError
from schemas.trust import load_directory, load_trust_root

__all__ = ["routes"]


def _parties(request: Request) -> list[tuple[str, str]]:
    """The directory's parties (members and observers), or none if it cannot be read."""
    deployment = console_state(request).deployment
    try:
        directory = load_directory(deployment.directory, load_trust_root(deployment.trust_root))
    except (GovernanceError, OSError):
        return []  # the trail still lists every country the log names
    return [(p.code, p.name) for p in directory.parties]


async def trail_page(request: Request) -> Response:
    state = console_state(request)
    message_id = request.path_params["message_id"]
    entries: list[AuditEntry] = []
    async for raw in state.reader.entries():
        if message_id.encode() not in raw:
            continue  # most entries are another message's: skip parsing them
        try:
            entries.append(parse_entry(raw))
        except AuditError:
            continue
    trail = build_trail(message_id, entries, _parties(request))
    status = 200 if trail.entries else 404
    return state.renderer.page(request, "trail.html", status_code=status, trail=trail)


async def trail_lookup(request: Request) -> Response:
    wanted = request.query_params.get("id", "").strip()
    return RedirectResponse(f"/trail/{wanted}" if wanted else "/tail", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/trail", trail_lookup, methods=["GET"]),
        Route("/trail/{message_id:str}", trail_page, methods=["GET"]),
    ]
