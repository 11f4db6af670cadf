"""The operator console: the exchange's audit record in a web page (Spanish and English).

A Starlette app from :func:`create_console` that reads NATS only through the
deployment's read-only ``operator`` login, so it sees metadata and digests only.
Pages: the live audit tail (SSE, resumable), the trail of one message (with each
entry's inclusion proof), adapters, volumes, integrity (checkpoints, verify now) and
governance.
"""

from __future__ import annotations

from hub.console.app import create_console
from hub.console.errors import ConsoleBindRefused, ConsoleError
from hub.console.operators import OperatorStore, Role
from hub.console.serve import BoundConsole, bind_console
from hub.console.settings import ConsoleSettings, load_console_settings

__all__ = [
    "BoundConsole",
    "ConsoleBindRefused",
    "ConsoleError",
    "ConsoleSettings",
    "OperatorStore",
    "Role",
    "bind_console",
    "create_console",
    "load_console_settings",
]
