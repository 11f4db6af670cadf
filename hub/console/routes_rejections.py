"""The rejections and quarantine page: what was refused and why, and (auditors only) the
refused bytes themselves (``/rejections``, ``/rejections/<seq>``, ``/rejections/<seq>/raw``).

The list is metadata only (time, sender, reason, size, the id it claimed). Opening a copy
shows its headers and content and offers its exact bytes: only to an ``auditor``, and
only once the hub has recorded the viewing in the audit log
(:func:`hub.quarantine.record_viewing`); a ``viewer`` gets 403 and a page saying so.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.console.operators import Operator, Role
from hub.console.state import console_state
from hub.errors import ViewingRefused
from hub.quarantine import CopyFilter, QuarantineCopy, copy_at, recent_copies, record_viewing
from hub.quarantine.display import show_bytes

__all__ = ["routes"]

_LIST_LIMIT = 200


def _filter(request: Request) -> CopyFilter:
    query = request.query_params
    return CopyFilter(
        country=query.get("country", "").strip().upper()[:2],
        reason=query.get("reason", "").strip()[:64],
    )


async def rejections_page(request: Request) -> Response:
    state = console_state(request)
    flt = _filter(request)
    copies = await recent_copies(state.js, _LIST_LIMIT, flt)
    query = urlencode({k: v for k, v in vars(flt).items() if v})
    return state.renderer.page(
        request,
        "rejections.html",
        copies=copies,
        flt=flt,
        reasons=sorted({c.reason for c in copies if c.reason} | ({flt.reason} - {""})),
        query=query,
    )


def _operator(request: Request) -> Operator:
    operator = request.scope["state"]["operator"]
    assert isinstance(operator, Operator)  # the AuthGate let only logged-in operators here
    return operator


async def _opened(request: Request, action: str) -> tuple[QuarantineCopy, int] | Response:
    """The copy of the path's sequence and the audit index of its viewing, or the refusal
    page: 403 for a viewer, 404 for no such copy, 503 when the hub recorded nothing."""
    state = console_state(request)
    seq = int(request.path_params["seq"])
    operator = _operator(request)

    def refused(status: int, why: str) -> Response:
        return state.renderer.page(request, "quarantine_refused.html", status, seq=seq, why=why)

    if operator.role is not Role.AUDITOR:
        return refused(403, "role")
    copy = await copy_at(state.js, seq)
    if copy is None:
        return refused(404, "gone")
    try:
        return copy, await record_viewing(state.nc_or_fail(), operator.name, copy, action)
    except ViewingRefused:
        return refused(503, "viewing_refused")


async def quarantine_page(request: Request) -> Response:
    opened = await _opened(request, "shown")
    if isinstance(opened, Response):
        return opened
    copy, index = opened
    # Not cached anywhere: every non-static response is no-store (SecurityHeaders).
    return console_state(request).renderer.page(
        request, "quarantine.html", copy=copy, shown=show_bytes(copy.body), index=index
    )


async def quarantine_raw(request: Request) -> Response:
    opened = await _opened(request, "exported")
    if isinstance(opened, Response):
        return opened
    copy, _ = opened
    return Response(
        copy.body,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="quarantine-{copy.seq}.bin"',
            "Enlace-Digest": copy.digest,
        },
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/rejections", rejections_page, methods=["GET"]),
        Route("/rejections/{seq:int}", quarantine_page, methods=["GET"]),
        Route("/rejections/{seq:int}/raw", quarantine_raw, methods=["GET"]),
    ]
