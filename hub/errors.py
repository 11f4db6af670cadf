"""Every error of the ``hub`` package.

Tree::

    EnlaceError (schemas.errors)
    └── HubError (RuntimeError)
        ├── NatsServerError        the embedded nats-server cannot start or stop
        ├── ConfigError            settings are wrong (file, field)
        └── MessageRefused         the pipeline refuses a message (reason code)
            ├── MessageTooOld          too_old           issued before the acceptance window
            ├── MessageFromFuture      issued_in_future  issued beyond the allowed clock skew
            └── DuplicateMessage       duplicate         id already accepted (a replay)
"""

from __future__ import annotations

from schemas.errors import EnlaceError

__all__ = [
    "ConfigError",
    "DuplicateMessage",
    "HubError",
    "MessageFromFuture",
    "MessageRefused",
    "MessageTooOld",
    "NatsServerError",
]


class HubError(EnlaceError, RuntimeError):
    code = "hub_error"


class NatsServerError(HubError):
    code = "nats_server"


class ConfigError(HubError):
    code = "config_invalid"


class MessageRefused(HubError):
    """The hub refuses a message for a reason of its own (not of its form or signature)."""

    code = "refused"


class MessageTooOld(MessageRefused):
    code = "too_old"


class MessageFromFuture(MessageRefused):
    code = "issued_in_future"


class DuplicateMessage(MessageRefused):
    code = "duplicate"
