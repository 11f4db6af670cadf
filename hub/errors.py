"""Every error of the ``hub`` package.

Tree::

    EnlaceError (schemas.errors)
    └── HubError (RuntimeError)
        ├── NatsServerError        the embedded nats-server cannot start or stop
        └── ConfigError            settings are wrong (file, field)
"""

from __future__ import annotations

from schemas.errors import EnlaceError

__all__ = ["ConfigError", "HubError", "NatsServerError"]


class HubError(EnlaceError, RuntimeError):
    code = "hub_error"


class NatsServerError(HubError):
    code = "nats_server"


class ConfigError(HubError):
    code = "config_invalid"
