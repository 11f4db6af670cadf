"""Every error of the ``hub`` package, each with a stable reason code.

Three rooms keep their own trees, drawn in their own ``errors.py`` and hung from
:class:`HubError` here (``→`` names the module): the audit log (:mod:`hub.audit.errors`),
the operator console (:mod:`hub.console.errors`) and the sharing agreements
(:mod:`hub.policy.errors`). ``tests/test_error_trees.py``
derives this drawing from the classes, so it cannot drift from them.

Tree::

    EnlaceError (schemas.errors)
    └── HubError (RuntimeError)        hub_error             a hub error (base)
        ├── NatsServerError            nats_server           nats-server cannot start or stop
        ├── NatsUnreachable            nats_unreachable      a command cannot reach NATS (url)
        ├── UpBusy                     up_busy               ``enlace up`` of this deployment
        │                                                    runs, or its leftovers do (pids)
        ├── ConfigError                config_invalid        settings are wrong (file, field)
        ├── KeyStoreError              keystore              a private key file is missing,
        │                                                    too open or not Ed25519 (path)
        ├── InitError                  init_refused          ``enlace init`` cannot make a
        │                                                    deployment here (home)
        ├── PartyKitError              party_kit_refused     ``enlace party kit`` cannot
        │                                                    make the kit (folder)
        ├── ConsumerTampered           consumer_tampered     a consumer changed beyond repair
        ├── ServerEventsUnheard        server_events_unheard the system login hears no events
        ├── ViewingRefused             viewing_refused       the hub did not record that an
        │                                                    operator views quarantined bytes
        ├── MessageRefused             refused               the hub refuses a message
        │   │                                                (message_id)
        │   ├── MessageTooOld          too_old               issued before the window
        │   ├── MessageFromFuture      issued_in_future      issued beyond the clock skew
        │   ├── DuplicateMessage       duplicate             id already accepted (a replay)
        │   ├── OnwardNotAllowed       onward_not_allowed    passes on a no_onward message
        │   │                                                without its sender's consent
        │   └── AmendmentRefused       amend_refused         a correction or retraction
        │       │                                            cannot be routed (amends)
        │       ├── AmendsUnknown      amend_unknown         names no message the hub routed
        │       ├── AmendsForeign      amend_not_sender      names another country's message
        │       ├── AmendsMismatch     amend_mismatch        another theme or type than it
        │       └── AmendsClosed       amend_closed          a later version or a retraction
        │                                                    of it exists (latest)
        ├── ReceiptRefused             receipt_refused       a sink receipt is not recorded
        │   ├── ReceiptMismatch        receipt_mismatch      its DELIVERY message disagrees
        │   ├── ReceiptUnchecked       receipt_unchecked     names no DELIVERY message
        │   ├── ReceiptUnknownSink     receipt_unknown_sink  a sink its country lacks
        │   └── ReceiptConflict        receipt_conflict      dead_lettered after delivered
        ├── AuditError                 → hub.audit.errors
        ├── ConsoleError               → hub.console.errors
        └── PolicyError                → hub.policy.errors
"""

from __future__ import annotations

from pathlib import Path

from schemas.errors import EnlaceError
from schemas.receipts import Receipt

__all__ = [
    "AmendmentRefused",
    "AmendsClosed",
    "AmendsForeign",
    "AmendsMismatch",
    "AmendsUnknown",
    "ConfigError",
    "ConsumerTampered",
    "DuplicateMessage",
    "HubError",
    "InitError",
    "KeyStoreError",
    "MessageFromFuture",
    "MessageRefused",
    "MessageTooOld",
    "NatsServerError",
    "NatsUnreachable",
    "OnwardNotAllowed",
    "PartyKitError",
    "ReceiptConflict",
    "ReceiptMismatch",
    "ReceiptRefused",
    "ReceiptUnchecked",
    "ReceiptUnknownSink",
    "ServerEventsUnheard",
    "UpBusy",
    "ViewingRefused",
]


class HubError(EnlaceError, RuntimeError):
    """Base of every error of the hub."""

    code = "hub_error"


class NatsServerError(HubError):
    code = "nats_server"


class ViewingRefused(HubError):
    """The hub did not record a viewing of quarantined bytes (no hub answered, no such
    copy, a bad request): the bytes must not be shown."""

    code = "viewing_refused"


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


class UpBusy(HubError):
    """Another ``enlace up`` of the deployment runs, or processes a dead one started do
    and cannot be stopped (:mod:`hub.up.pidfiles`).

    Attributes:
        pids: the processes in the way.
    """

    code = "up_busy"

    def __init__(self, description: str, pids: list[int]) -> None:
        super().__init__(description)
        self.pids = list(pids)


class ConfigError(HubError):
    code = "config_invalid"


class KeyStoreError(HubError):
    """A private key is missing, unreadable, or readable by others than its owner.

    Attributes:
        path: the key file (or key folder) concerned, when one is named.
    """

    code = "keystore"

    def __init__(self, description: str, path: Path | None = None) -> None:
        super().__init__(description)
        self.path = path


class InitError(HubError):
    """``enlace init`` cannot make a deployment here.

    Attributes:
        home: the deployment's folder, when the refusal is about it.
    """

    code = "init_refused"

    def __init__(self, description: str, home: Path | None = None) -> None:
        super().__init__(description)
        self.home = home


class PartyKitError(HubError):
    """``enlace party kit`` cannot make a party's kit (no such party, no seed, a folder
    that is not empty …).

    Attributes:
        folder: the kit's folder.
    """

    code = "party_kit_refused"

    def __init__(self, description: str, folder: Path) -> None:
        super().__init__(description)
        self.folder = folder


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
    """The hub refuses a message for a reason of its own (not of its form or signature).

    Attributes:
        message_id: the refused message's id, when the refusing check knows it.
    """

    code = "refused"

    def __init__(self, description: str, message_id: str | None = None) -> None:
        super().__init__(description)
        self.message_id = message_id


class MessageTooOld(MessageRefused):
    code = "too_old"


class MessageFromFuture(MessageRefused):
    code = "issued_in_future"


class DuplicateMessage(MessageRefused):
    code = "duplicate"


class OnwardNotAllowed(MessageRefused):
    """The message derives from a ``no_onward`` message of another country and carries no
    valid consent of that country to pass it on (:mod:`schemas.handling`)."""

    code = "onward_not_allowed"


class AmendmentRefused(MessageRefused):
    """A correction or retraction the hub cannot route (:mod:`hub.pipeline.amendments`).

    Attributes:
        amends: the id of the message it names.
    """

    code = "amend_refused"

    def __init__(self, description: str, message_id: str | None, amends: str) -> None:
        super().__init__(description, message_id)
        self.amends = amends


class AmendsUnknown(AmendmentRefused):
    code = "amend_unknown"


class AmendsForeign(AmendmentRefused):
    code = "amend_not_sender"


class AmendsMismatch(AmendmentRefused):
    code = "amend_mismatch"


class AmendsClosed(AmendmentRefused):
    """The message named was corrected (``latest``: its latest version) or withdrawn."""

    code = "amend_closed"

    def __init__(
        self, description: str, message_id: str | None, amends: str, latest: str | None
    ) -> None:
        super().__init__(description, message_id, amends)
        self.latest = latest


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
