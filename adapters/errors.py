"""Every error of the ``adapters`` package, each with a stable reason code.

The code is what a dead-letter copy carries in ``Enlace-Reason``, what a refused gateway
request answers, and what a negative receipt names. Errors of ``schemas`` (signatures,
envelopes) keep their own codes when they reach a sink: a tampered delivery is
dead-lettered with ``reason`` ``bad_signature`` (:func:`reason_of`), not something vaguer.
``tests/test_error_trees.py`` derives this drawing from the classes.

Tree::

    EnlaceError (schemas.errors)
    └── AdapterError                       adapter_error        an adapter error (base)
        ├── SinkError                      sink_error           a sink could not write
        │   ├── TransientSinkError         sink_unavailable     retried with backoff
        │   │   └── SinkOutage             sink_outage          retried until the medium
        │   │                                                   takes writes, never dead-lettered
        │   └── PermanentSinkError         sink_refused         dead-lettered at once (reason)
        ├── DeliveryError (ValueError)     delivery_error       a delivery cannot be trusted
        │   │                                                   or read (subject, message_id)
        │   ├── MalformedDelivery          malformed_delivery
        │   └── TamperedDelivery           tampered_delivery    reason: what did not hold
        ├── RetriesExhausted               retries_exhausted
        ├── AdapterConfigError             adapter_config       (file, field, what to do)
        │   └── UnknownSink                unknown_sink         no such sink is installed
        ├── SigningKeyMissing              signing_key_missing
        ├── StreamsMissing                 streams_missing      the hub never ran here
        ├── HubRefused                     hub_refused          reason: the hub's code
        ├── IngressFull                    ingress_full         the country's quota is full
        ├── OutcomeTimeout (TimeoutError)  outcome_timeout      published, no outcome in time
        ├── NatsUnreachable                nats_unreachable     url, reason: no connection
        ├── PublishForbidden               publish_forbidden    subject, login: the server
        │                                                       refused this login's publish
        ├── OutcomeNotPermitted            outcome_not_permitted  another country's outcomes
        ├── WitnessRefusal                 witness_refused      the witness will not cosign
        │   │                                                   (known_size: what it cosigned)
        │   ├── WitnessMalformed           witness_malformed    not an add-checkpoint request
        │   ├── WitnessUnknownLog          witness_unknown_log  another log's checkpoint
        │   ├── WitnessUnsigned            witness_unsigned     no hub key signed it
        │   ├── WitnessConflict            witness_conflict     the old size is not its own
        │   ├── WitnessRollback            witness_rollback     smaller than what it cosigned
        │   └── WitnessFork                witness_fork         does not extend what it cosigned
        └── GatewayRefusal                 gateway_refused      a gateway request is refused
            ├── BadToken                   bad_token            401
            └── RequestTooLarge            too_large            413
"""

from __future__ import annotations

from typing import ClassVar

from schemas.errors import EnlaceError
from schemas.limits import IngressQuota

__all__ = [
    "AdapterConfigError",
    "AdapterError",
    "BadToken",
    "DeliveryError",
    "GatewayRefusal",
    "HubRefused",
    "IngressFull",
    "MalformedDelivery",
    "NatsUnreachable",
    "OutcomeNotPermitted",
    "OutcomeTimeout",
    "PermanentSinkError",
    "PublishForbidden",
    "RequestTooLarge",
    "RetriesExhausted",
    "SigningKeyMissing",
    "SinkError",
    "SinkOutage",
    "StreamsMissing",
    "TamperedDelivery",
    "TransientSinkError",
    "UnknownSink",
    "WitnessConflict",
    "WitnessFork",
    "WitnessMalformed",
    "WitnessRefusal",
    "WitnessRollback",
    "WitnessUnknownLog",
    "WitnessUnsigned",
    "reason_of",
]


class AdapterError(EnlaceError):
    """Base of every adapter error."""

    code: ClassVar[str] = "adapter_error"


class SinkError(AdapterError):
    """A sink could not write a delivery into the national system."""

    code = "sink_error"


class TransientSinkError(SinkError):
    """Worth retrying: the far side is down, slow or overloaded (5xx, timeout, lock)."""

    code = "sink_unavailable"


class SinkOutage(TransientSinkError):
    """The sink's medium refuses every write (disk full, read-only, no permission).

    Not the delivery's fault: it is retried in place, in order, for as long as the outage
    lasts (an operator must act; the runner logs ``sink_outage`` at each attempt), and never
    dead-lettered, so nothing accepted is set aside because a disk filled up.
    """

    code = "sink_outage"


class PermanentSinkError(SinkError):
    """Retrying cannot help: the far side refused this delivery (4xx, constraint).

    Attributes:
        reason: a more specific reason code when the sink knows one (e.g. ``http_400``).
    """

    code = "sink_refused"

    def __init__(self, description: str, reason: str | None = None) -> None:
        super().__init__(description)
        self.reason = reason or self.code


class DeliveryError(AdapterError, ValueError):
    """A delivery from the hub cannot be read or trusted; it is never written.

    Attributes:
        subject: the DELIVERY subject it came on, when known.
        message_id: the message it carries, when it could be read.
    """

    code = "delivery_error"

    def __init__(
        self, description: str, *, subject: str | None = None, message_id: str | None = None
    ) -> None:
        super().__init__(description)
        self.subject = subject
        self.message_id = message_id


class MalformedDelivery(DeliveryError):
    """Headers or body are missing or inconsistent (no id, wrong recipient, not JSON)."""

    code = "malformed_delivery"


class TamperedDelivery(DeliveryError):
    """The sender's signature or the hub's countersignature does not hold.

    ``reason`` is the underlying signature error's code (``bad_signature``,
    ``unknown_key``, ``digest_mismatch`` …), so the dead letter says exactly what failed.
    """

    code = "tampered_delivery"

    def __init__(
        self,
        description: str,
        reason: str,
        *,
        subject: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(description, subject=subject, message_id=message_id)
        self.reason = reason


class RetriesExhausted(AdapterError):
    """A transient failure lasted through every retry; the delivery is dead-lettered."""

    code = "retries_exhausted"


class AdapterConfigError(AdapterError):
    """The ``adapters:`` section of ``enlace.yaml`` (or a flag) is wrong."""

    code = "adapter_config"


class UnknownSink(AdapterConfigError):
    """No sink of that name is installed (entry point group ``enlace.sinks``)."""

    code = "unknown_sink"


class SigningKeyMissing(AdapterError):
    """No private key on disk matches a valid directory key of the party or POC."""

    code = "signing_key_missing"


class StreamsMissing(AdapterError):
    """DELIVERY, RECEIPTS or DEADLETTER_<cc> does not exist on this NATS: the hub made none."""

    code = "streams_missing"


class HubRefused(AdapterError):
    """The hub refused a message a source published.

    Attributes:
        reason: the hub's reason code.
        message_id: the refused message, when the source knows it.
    """

    code = "hub_refused"

    def __init__(self, reason: str, description: str, message_id: str | None = None) -> None:
        super().__init__(description)
        self.reason = reason
        self.message_id = message_id


class IngressFull(AdapterError):
    """JetStream refused a publish: the country's ingress stream holds its whole quota.

    Nothing was published; the hub has not yet finished what the country sent before.
    Retrying later helps (the quota frees as the hub works through the backlog).

    Attributes:
        country: whose quota is full.
        stream: its ingress stream (``INGRESS_<cc>``).
        quota: the limits, as this side knows them (the hub's settings).
        detail: what JetStream said (``maximum bytes exceeded`` / ``maximum messages
            exceeded``).
        message_id: the message that was not published.
    """

    code = "ingress_full"

    def __init__(
        self, country: str, stream: str, quota: IngressQuota, detail: str, message_id: str
    ) -> None:
        super().__init__(
            f"{country}'s ingress quota is full ({quota.max_bytes} bytes / {quota.max_msgs} "
            f"messages in flight; JetStream: {detail}): the hub has not yet processed what "
            f"{country} sent before (stream {stream}; `enlace status` shows it). Message "
            f"{message_id} was not published: try again later"
        )
        self.country = country
        self.stream = stream
        self.quota = quota
        self.detail = detail
        self.message_id = message_id


class OutcomeTimeout(AdapterError, TimeoutError):
    """The message is in INGRESS (JetStream acked it) but the hub has not answered in time.

    Attributes:
        message_id: the published message.
        subject: the ingress subject it was published on.
        stream_seq: its sequence in its ingress stream.
        wait_seconds: how long the client waited for the hub's outcome.
    """

    code = "outcome_timeout"

    def __init__(self, message_id: str, subject: str, stream_seq: int, wait_seconds: float) -> None:
        super().__init__(
            f"message {message_id} is in INGRESS (seq {stream_seq}) but the hub gave no "
            f"outcome within {wait_seconds:g} s; is `enlace up` running? "
            "(`enlace status` shows pending messages)"
        )
        self.message_id = message_id
        self.subject = subject
        self.stream_seq = stream_seq
        self.wait_seconds = wait_seconds


class NatsUnreachable(AdapterError):
    """No connection to NATS after the few attempts a command makes.

    Attributes:
        url: the server(s) tried (as configured; credentials are never in it).
        reason: the last attempt's error, in a few words.
    """

    code = "nats_unreachable"

    def __init__(self, url: str, reason: str, attempts: int) -> None:
        super().__init__(
            f"cannot reach NATS at {url} ({attempts} attempt(s)): {reason}; is the hub's "
            "`enlace up` running, and is the address right (--nats-url, ENLACE_NATS_URL, "
            "hub.nats_url in enlace.yaml)?"
        )
        self.url = url
        self.reason = reason
        self.attempts = attempts


class PublishForbidden(AdapterError):
    """The server refused a publish (or its reply subscription): this login may not use it.

    A country's login may publish only on its own subjects (``enlace.in.<its cc>.>``).

    Attributes:
        subject: the subject published to.
        login: the NATS login that published (a country code), when known.
        detail: what the server said.
    """

    code = "publish_forbidden"

    def __init__(self, subject: str, login: str | None, detail: str) -> None:
        who = f"login {login}" if login else "this NATS login"
        super().__init__(
            f"the NATS server refused to let {who} publish on {subject} ({detail}): a "
            "country may publish only as itself, on enlace.in.<its country>.>; publish "
            "with the sender's own party kit"
        )
        self.subject = subject
        self.login = login
        self.detail = detail


class OutcomeNotPermitted(AdapterError):
    """The NATS server refused to read a country's kept outcomes to this login: a country's
    login reads its own outcomes only (``OUTCOMES_<cc>``).

    Attributes:
        message_id: the message whose outcome was asked for.
        country: whose outcomes were asked for.
    """

    code = "outcome_not_permitted"

    def __init__(self, message_id: str, country: str) -> None:
        super().__init__(
            f"this NATS login may not read {country}'s outcomes (asked for message "
            f"{message_id}): only {country}'s own login may; connect as {country}"
        )
        self.message_id = message_id
        self.country = country


class WitnessRefusal(AdapterError):
    """A party's witness refuses to cosign a checkpoint of the hub's log.

    ``known_size`` is the size of the checkpoint it cosigned last (0: none yet).
    """

    code = "witness_refused"

    def __init__(self, description: str, known_size: int = 0) -> None:
        super().__init__(description)
        self.known_size = known_size


class WitnessMalformed(WitnessRefusal):
    code = "witness_malformed"


class WitnessUnknownLog(WitnessRefusal):
    code = "witness_unknown_log"


class WitnessUnsigned(WitnessRefusal):
    code = "witness_unsigned"


class WitnessConflict(WitnessRefusal):
    code = "witness_conflict"


class WitnessRollback(WitnessRefusal):
    code = "witness_rollback"


class WitnessFork(WitnessRefusal):
    code = "witness_fork"


class GatewayRefusal(AdapterError):
    """A gateway request is refused; ``status`` is the HTTP status it answers."""

    code = "gateway_refused"
    status: ClassVar[int] = 400


class BadToken(GatewayRefusal):
    code = "bad_token"
    status = 401


class RequestTooLarge(GatewayRefusal):
    code = "too_large"
    status = 413


def reason_of(err: EnlaceError) -> str:
    """The most specific reason code an error carries (``bad_signature``, ``http_400`` …)."""
    reason = getattr(err, "reason", None)
    return reason if isinstance(reason, str) else err.code
