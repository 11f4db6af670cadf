"""The Volumes page (``/volumes?window=24h&country=GT``) and the JSON its charts draw
(``/volumes/data`` with the same query), fetched by the page's own ``volumes.js``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.console.i18n import choose_language, translations
from hub.console.state import console_state
from hub.console.tally import WINDOWS
from hub.console.volumes import VolumeFilter, volume_report

__all__ = ["routes"]


async def _report(request: Request) -> tuple[VolumeFilter, dict[str, Any]]:
    state = console_state(request)
    flt = VolumeFilter.from_query(request.query_params)
    await state.tally.refresh(state.reader)
    report = volume_report(state.tally, flt, datetime.now(UTC))
    # The charts' legends in the page's language (theme names; country codes stay codes).
    gettext = translations(choose_language(request)).gettext
    report["labels"] = {theme: gettext(theme) for theme in report["by_theme"]}
    return flt, report


async def volumes_page(request: Request) -> Response:
    flt, report = await _report(request)
    return console_state(request).renderer.page(
        request,
        "volumes.html",
        flt=flt,
        report=report,
        windows=list(WINDOWS),
        data_url=f"/volumes/data?{urlencode(flt.query())}",
    )


async def volumes_data(request: Request) -> Response:
    _, report = await _report(request)
    return JSONResponse(report)


def routes() -> list[BaseRoute]:
    return [
        Route("/volumes", volumes_page, methods=["GET"]),
        Route("/volumes/data", volumes_data, methods=["GET"]),
    ]
