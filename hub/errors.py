"""Every error of the ``hub`` package.

Tree::

    EnlaceError (schemas.errors)
    └── HubError (RuntimeError)
        ├── NatsServerError        the embedded nats-server cannot start or stop
        ├── ConfigError            settings are wrong (file, field)
        ├── ConsumerTampered       consumer_tampered  a consumer was changed beyond repair
        └── MessageRefused         the pipeline refuses a message (reason code)
            ├── MessageTooOld          too_old           issued before the acceptance window
            ├── MessageFromFuture      issued_in_future  issued beyond the allowed clock skew
            └── DuplicateMessage       duplicate         id already accepted (a replay)
"""

from __future__ import annotations

from schemas.errors import EnlaceError

__all__ = [
    "ConfigError",
    "ConsumerTampered",
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


class ConsumerTampered(HubError):
    """A durable consumer of the hub differs in a field the server cannot update in place.

    Attributes:
        stream: the consumer's stream.
        consumer: its durable name.
        changed: field → (what the server has, what the hub wants).
    """

    code = "consumer_tampered"

    def __init__(self, stream: str, consumer: str, changed: dict[str, tuple[object, object]]):
        self.stream = stream
        self.consumer = consumer
        self.changed = dict(changed)
        fields = "; ".join(f"{k} is {a!r}, must be {w!r}" for k, (a, w) in changed.items())
        super().__init__(
            f"consumer {consumer} on stream {stream} was changed by someone other than the "
            f"hub ({fields}); the server cannot put it back in place. Find out who (only "
            "the hub's login may change consumers), then delete it with the hub's login "
            f"(e.g. `nats consumer rm {stream} {consumer} --nkey nats/seeds/hub.nk`) so "
            "that the hub makes it again: its messages not yet acked are then delivered "
            "again (sinks and the hub ignore repeats)"
        )


class MessageRefused(HubError):
    """The hub refuses a message for a reason of its own (not of its form or signature)."""

    code = "refused"


class MessageTooOld(MessageRefused):
    code = "too_old"


class MessageFromFuture(MessageRefused):
    code = "issued_in_future"


class DuplicateMessage(MessageRefused):
    code = "duplicate"
