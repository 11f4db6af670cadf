"""Every error of the ``hub`` package.

Tree::

    EnlaceError (schemas.errors)
    └── HubError (RuntimeError)
        ├── NatsServerError        the embedded nats-server cannot start or stop
        ├── NatsUnreachable        nats_unreachable   a command cannot reach the NATS server
        ├── ConfigError            settings are wrong (file, field)
        ├── ConsumerTampered       consumer_tampered  a consumer was changed beyond repair
        ├── ServerEventsUnheard    server_events_unheard  the system login hears no server events
        ├── MessageRefused         the pipeline refuses a message (reason code)
        │   ├── MessageTooOld          too_old           issued before the acceptance window
        │   ├── MessageFromFuture      issued_in_future  issued beyond the allowed clock skew
        │   └── DuplicateMessage       duplicate         id already accepted (a replay)
        └── ReceiptRefused         receipt_refused   a signed sink receipt is not put on the record
            ├── ReceiptMismatch        receipt_mismatch      the DELIVERY message it names disagrees
            ├── ReceiptUnchecked       receipt_unchecked     names no DELIVERY message, or one gone
            ├── ReceiptUnknownSink     receipt_unknown_sink  a sink not configured for its country
            └── ReceiptConflict        receipt_conflict      dead_lettered after delivered
"""

from __future__ import annotations

from schemas.errors import EnlaceError
from schemas.receipts import Receipt

__all__ = [
    "ConfigError",
    "ConsumerTampered",
    "DuplicateMessage",
    "HubError",
    "MessageFromFuture",
    "MessageRefused",
    "MessageTooOld",
    "NatsServerError",
    "NatsUnreachable",
    "ReceiptConflict",
    "ReceiptMismatch",
    "ReceiptRefused",
    "ReceiptUnchecked",
    "ReceiptUnknownSink",
    "ServerEventsUnheard",
]


class HubError(EnlaceError, RuntimeError):
    code = "hub_error"


class NatsServerError(HubError):
    code = "nats_server"


class NatsUnreachable(HubError):
    """A short command (``enlace status``, ``enlace audit …``) cannot reach NATS.

    Attributes:
        url: the server it tried.
        cause: the kind of failure (the exception's class name: ``TimeoutError``, …).
    """

    code = "nats_unreachable"

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(
            f"cannot reach NATS at {url} ({cause}); is the hub running (`enlace up`)? pass "
            "--nats-url or set ENLACE_NATS_URL"
        )
        self.url = url
        self.cause = cause


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


class ServerEventsUnheard(HubError):
    """The ``system`` login is let in but hears none of the server's events: the server
    does not have it as the user of its system account (:mod:`hub.pipeline.oversize`).

    Attributes:
        url: the server.
    """

    code = "server_events_unheard"

    def __init__(self, url: str, why: str) -> None:
        super().__init__(
            f"the NATS server at {url} lets the system login in but sends it no events "
            f"({why}): give the server the system account of `enlace nats authorization`"
        )
        self.url = url


class MessageRefused(HubError):
    """The hub refuses a message for a reason of its own (not of its form or signature)."""

    code = "refused"


class MessageTooOld(MessageRefused):
    code = "too_old"


class MessageFromFuture(MessageRefused):
    code = "issued_in_future"


class DuplicateMessage(MessageRefused):
    code = "duplicate"


class ReceiptRefused(HubError):
    """A receipt signed by its recipient party that the hub still does not record.

    The audit log gets a ``receipt_rejected`` entry with :attr:`code` instead of a
    ``delivered`` / ``dead_lettered`` one.

    Attributes:
        message_id: the message the receipt claims.
        recipient: the party whose system key signed it.
        sink: the sink it names.
        delivery_seq: the DELIVERY sequence it names (None: it names none).
        status: ``delivered`` or ``dead_lettered``.
    """

    code = "receipt_refused"

    def __init__(self, receipt: Receipt, problem: str) -> None:
        seq = receipt.delivery_seq
        super().__init__(
            f"{receipt.status.value} receipt from {receipt.recipient}'s sink {receipt.sink!r} "
            f"for message {receipt.message_id}"
            + (f" (DELIVERY {seq})" if seq is not None else "")
            + f": {problem}"
        )
        self.message_id = receipt.message_id
        self.recipient = receipt.recipient
        self.sink = receipt.sink
        self.delivery_seq = seq
        self.status = receipt.status.value


class ReceiptMismatch(ReceiptRefused):
    code = "receipt_mismatch"


class ReceiptUnchecked(ReceiptRefused):
    code = "receipt_unchecked"


class ReceiptUnknownSink(ReceiptRefused):
    code = "receipt_unknown_sink"


class ReceiptConflict(ReceiptRefused):
    code = "receipt_conflict"
