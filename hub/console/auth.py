"""Who may see the console: login, logout, the session secret and the gate on every path.

The session is a cookie signed with a secret kept in the deployment
(``state/console-session.key``, mode 0600), HttpOnly and ``SameSite=Strict`` (so no other
site can post a form with it). Failed logins are limited per client address; an
account removed with ``enlace operators remove`` loses its sessions at the next request.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.console.operators import Operator, OperatorStore
from hub.deployment import Deployment
from hub.server.private_files import write_private

__all__ = [
    "PUBLIC_PATHS",
    "SESSION_COOKIE",
    "AuthGate",
    "LoginLimiter",
    "current_operator",
    "safe_next",
    "session_secret",
]

SESSION_COOKIE = "enlace_console"
PUBLIC_PATHS = ("/login", "/static/", "/lang/")
"""Paths served without a login: the login form, vendored assets, the language switch."""


def session_secret(deployment: Deployment) -> str:
    """The deployment's cookie-signing secret, made (0600) the first time."""
    path: Path = deployment.state_dir / "console-session.key"
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(48).encode())
    return path.read_text(encoding="utf-8").strip()


def current_operator(conn: HTTPConnection, store: OperatorStore) -> Operator | None:
    """The logged-in operator, if the session names an account that still exists."""
    name = conn.session.get("operator") if "session" in conn.scope else None
    return store.get(name) if isinstance(name, str) else None


def safe_next(target: str | None) -> str:
    """A redirect target on this console only (a path, never another site)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per client in ``window`` seconds."""

    attempts: int
    window: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        recent = self._failures.get(client)
        if not recent:
            return 0
        while recent and now - recent[0] > self.window:
            recent.popleft()
        if len(recent) < self.attempts:
            return 0
        return max(1, int(self.window - (now - recent[0])) + 1)

    def failed(self, client: str) -> None:
        self._failures.setdefault(client, deque()).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class AuthGate:
    """ASGI middleware: without a login, pages redirect to ``/login`` and the rest get 401.

    Sits inside the session middleware (it reads ``scope["session"]``); a pure ASGI
    middleware so that the SSE stream is not buffered.
    """

    def __init__(self, app: ASGIApp, store: OperatorStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(PUBLIC_PATHS):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        operator = current_operator(conn, self.store)
        if operator is not None:
            scope.setdefault("state", {})["operator"] = operator
            await self.app(scope, receive, send)
            return
        refusal: Response
        wants_page = scope["method"] == "GET" and "text/html" in conn.headers.get("accept", "")
        if wants_page and not conn.headers.get("hx-request"):
            target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
            refusal = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        else:
            refusal = PlainTextResponse("login required", status_code=401)
        await refusal(scope, receive, send)
