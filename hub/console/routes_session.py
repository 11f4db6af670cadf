"""Login, logout and the language switch: the pages a visitor reaches without a session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.console.auth import safe_next
from hub.console.i18n import LANG_COOKIE, LANGUAGES
from hub.console.state import console_state

__all__ = ["routes"]


async def login_form(request: Request) -> Response:
    state = console_state(request)
    return state.renderer.page(
        request, "login.html", next=safe_next(request.query_params.get("next")), error=None
    )


async def login(request: Request) -> Response:
    state = console_state(request)
    client = request.client.host if request.client else "?"
    form = await request.form()
    target = safe_next(str(form.get("next", "")))
    wait = state.limiter.retry_after(client)
    if wait:
        response = state.renderer.page(
            request, "login.html", status_code=429, next=target, error="too_many", wait=wait
        )
        response.headers["Retry-After"] = str(wait)
        return response
    operator = state.store.authenticate(str(form.get("name", "")), str(form.get("password", "")))
    if operator is None:
        state.limiter.failed(client)
        return state.renderer.page(
            request, "login.html", status_code=401, next=target, error="wrong"
        )
    state.limiter.succeeded(client)
    request.session.clear()
    request.session["operator"] = operator.name
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if lang in LANGUAGES:
        # Remembered for a year; a preference, not a secret (readable by no script anyway).
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="strict"
        )
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang/{lang}", switch_language, methods=["GET"]),
    ]
