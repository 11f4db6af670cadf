"""The trail page: one message, every party, from the audit log (``/trail/<message id>``).

Each entry of the trail covered by the latest signed checkpoint has its inclusion proof
as a download (``/trail/<message id>/proof/<index>``), in the format ``enlace audit
verify-proof`` reads.
"""

from __future__ import annotations

import json
import re

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.audit import AuditError, parse_entry
from hub.audit.chains import read_chain
from hub.audit.errors import CheckpointError
from hub.audit.proofs import entry_proofs, peek_checkpoint
from hub.audit.reader import AuditReader
from hub.console.i18n import choose_language, translations
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
    chain, entries = await read_chain(state.reader, message_id)
    trail = build_trail(message_id, entries, _parties(request))
    status = 200 if trail.entries else 404
    covered = await _covered(state.reader)
    return state.renderer.page(
        request, "trail.html", status_code=status, trail=trail, covered=covered, chain=chain
    )


async def _latest_note(reader: AuditReader) -> tuple[str, int] | None:
    note = await reader.latest_checkpoint()
    if note is None:
        return None
    try:
        return note, peek_checkpoint(note).size
    except CheckpointError:
        return None


async def _covered(reader: AuditReader) -> int:
    """How many entries the latest signed checkpoint covers (0: none yet)."""
    latest = await _latest_note(reader)
    return latest[1] if latest else 0


async def proof_download(request: Request) -> Response:
    state = console_state(request)
    message_id = request.path_params["message_id"]
    index = request.path_params["index"]
    gettext = translations(choose_language(request)).gettext
    latest = await _latest_note(state.reader)
    if latest is None or index >= latest[1]:
        return PlainTextResponse(
            gettext(
                "This entry is not yet covered by a signed checkpoint; "
                "the hub signs one within seconds: try again."
            ),
            status_code=409,
        )
    note, size = latest
    entries = await state.reader.read_all()
    try:
        mine = index < len(entries) and parse_entry(entries[index]).message_id == message_id
    except AuditError:
        mine = False
    if not mine:
        return PlainTextResponse(
            gettext("The audit log has no such entry for this message."), status_code=404
        )
    (bundle,) = entry_proofs(entries, note, size, [index])
    name = re.sub(r"[^A-Za-z0-9._-]", "_", message_id)
    return Response(
        json.dumps(bundle, indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="enlace-proof-{name}-{index}.json"'},
    )


async def trail_lookup(request: Request) -> Response:
    wanted = request.query_params.get("id", "").strip()
    return RedirectResponse(f"/trail/{wanted}" if wanted else "/tail", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/trail", trail_lookup, methods=["GET"]),
        Route("/trail/{message_id:str}", trail_page, methods=["GET"]),
        Route("/trail/{message_id:str}/proof/{index:int}", proof_download, methods=["GET"]),
    ]
