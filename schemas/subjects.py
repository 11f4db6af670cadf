"""NATS subjects, streams and headers: the wire contract between hub, adapters and operators.

Subjects are country-first so that NATS permissions can be per country::

    enlace.in.<cc>.<theme>.<type>     a POC publishes (stream INGRESS_<cc>)
    enlace.out.<cc>.<theme>.<type>    the hub delivers to recipient <cc> (stream DELIVERY)
    enlace.rejected.<cc>              notices to sender <cc> (stream REJECTED)
    enlace.receipt.<cc>               signed receipts from <cc>'s sinks (stream RECEIPTS)
    enlace.quarantine.<cc>            raw refused bytes + reason (stream QUARANTINE)
    enlace.operator.viewed            an operator asks the hub to record a viewing of a
                                      quarantined message (request; no stream)
    enlace.audit                      audit log entries (stream AUDIT)
    enlace.deadletter.<cc>            deliveries a sink could not write (stream DEADLETTER_<cc>)
    enlace.outcome.<cc>.<id>          the hub's outcome of <cc>'s message <id> (stream
                                      OUTCOMES_<cc>: the last one per id, for a while)
    enlace.outcome.<cc>.<id>.<r>.<s>  the ledger: what recipient <r>'s sink <s> receipted
                                      of it (same stream, the last one per sink)

``<id>`` is :func:`outcome_token` of the message id: the id itself (a ULID, a UUIDv7, an
ingress reference such as ``INGRESS_GT-42``), or a digest of it when it could not be one
subject token.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = [
    "HDR_AGREEMENT",
    "HDR_COUNTERSIGNATURE",
    "HDR_EXPECTED_LAST_SUBJECT_SEQ",
    "HDR_MSG_ID",
    "HDR_ORIGINAL_DIGEST",
    "HDR_REASON",
    "HDR_RECEIPT_BATCH",
    "HDR_RECIPIENT",
    "HDR_SIGNATURE",
    "HDR_VIEW",
    "INBOX",
    "STREAMS",
    "UNKNOWN_COUNTRY",
    "IngressSubject",
    "deadletter_stream",
    "deadletter_subject",
    "delivery_filter",
    "delivery_msg_id",
    "delivery_subject",
    "every_subject",
    "header_line",
    "inbox_filter",
    "inbox_prefix",
    "ingress_filter",
    "ingress_stream",
    "ingress_subject",
    "is_delivery_to",
    "ledger_filter",
    "ledger_subject",
    "outcome_filter",
    "outcome_stream",
    "outcome_subject",
    "outcome_token",
    "parse_ingress_subject",
    "quarantine_subject",
    "quarantine_viewed_subject",
    "receipt_country",
    "receipt_subject",
    "rejected_subject",
    "sender_token",
    "sink_consumer",
    "witness_cosigned_subject",
    "witness_country",
    "witness_refused_subject",
    "witness_request_subject",
    "witness_requests",
]

PREFIX = "enlace"

HDR_SIGNATURE = "Enlace-Signature"  # the sender's detached JWS over the exact message bytes
HDR_COUNTERSIGNATURE = "Enlace-Countersignature"  # the hub's JWS over a redacted view
HDR_VIEW = "Enlace-View"  # "full" or the name of a redaction
HDR_ORIGINAL_DIGEST = "Enlace-Original-Digest"  # sha256:<hex> of the original message bytes
HDR_AGREEMENT = "Enlace-Agreement"  # agreement id under which a delivery travels
HDR_RECIPIENT = "Enlace-Recipient"
HDR_REASON = "Enlace-Reason"  # reason code on quarantine and dead-letter copies
HDR_MSG_ID = "Nats-Msg-Id"  # JetStream de-duplication
# On a RECEIPTS message of many signed receipts: how many (absent: one, in Enlace-Signature).
HDR_RECEIPT_BATCH = "Enlace-Receipt-Batch"
# JetStream stores the write only if the subject's last message has this sequence (0: none).
HDR_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
JS_WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code (JSStreamWrongLastSequenceErr) when an expected last sequence
(of the stream or of the subject) does not hold."""

# Ingress, dead letters and outcomes are not here: each country has its own ingress stream
# (ingress_stream), so that its quota is its own, its own dead-letter stream
# (deadletter_stream), so that its login can read and delete its dead letters only, and its
# own outcome stream (outcome_stream), so that its login can read its outcomes only.
STREAMS: dict[str, list[str]] = {
    "DELIVERY": [f"{PREFIX}.out.>"],
    "REJECTED": [f"{PREFIX}.rejected.>"],
    "QUARANTINE": [f"{PREFIX}.quarantine.>"],
    "RECEIPTS": [f"{PREFIX}.receipt.>"],
    "AUDIT": [f"{PREFIX}.audit"],
    "AUDIT_WITNESS": [f"{PREFIX}.witness.*.cosigned", f"{PREFIX}.witness.*.refused"],
}

_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")
_CC = re.compile(r"^[A-Z]{2}$")


def _check(cc: str, *tokens: str) -> None:
    if not _CC.fullmatch(cc):
        raise ValueError(f"{cc!r} is not a country code token")
    for token in tokens:
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"{token!r} is not a subject token")


def ingress_subject(cc: str, theme: str, type_: str) -> str:
    """Where ``cc``'s points of contact publish a message.

    Args:
        cc: the sender's country code.
        theme: the message's theme.
        type_: the message's type.

    Raises:
        ValueError: a token is not a country code or subject token (no wildcards).
    """
    _check(cc, theme, type_)
    return f"{PREFIX}.in.{cc}.{theme}.{type_}"


def ingress_filter(cc: str) -> str:
    """Every subject ``cc`` publishes on: the subjects of its stream :func:`ingress_stream`."""
    _check(cc)
    return f"{PREFIX}.in.{cc}.>"


def ingress_stream(cc: str) -> str:
    """The stream of what ``cc`` publishes (subjects :func:`ingress_filter`).

    One per country rather than one shared: its byte and message limits are then ``cc``'s
    quota, and a country that fills its own cannot refuse the others' messages.
    """
    _check(cc)
    return f"INGRESS_{cc}"


def delivery_subject(recipient: str, theme: str, type_: str) -> str:
    """Where the hub delivers a message to ``recipient``.

    Args:
        recipient: the receiving country's code.
        theme: the message's theme.
        type_: the message's type.

    Raises:
        ValueError: a token is not a country code or subject token (no wildcards).
    """
    _check(recipient, theme, type_)
    return f"{PREFIX}.out.{recipient}.{theme}.{type_}"


def delivery_filter(recipient: str) -> str:
    """Every delivery to ``recipient``: the filter of each of its sinks' consumers."""
    _check(recipient)
    return f"{PREFIX}.out.{recipient}.>"


def every_subject() -> str:
    """Every Enlace subject: what the hub publishes and subscribes to."""
    return f"{PREFIX}.>"


INBOX = "_INBOX"
"""nats-py's reply inbox prefix: each NATS login but the hub's replies under its own."""

_LOGIN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def inbox_prefix(login: str | None = None) -> str:
    """The reply inbox prefix of NATS login ``login`` (a country code, ``operator``, …).

    A login may subscribe to its own inbox only, so that no one hears another's replies:
    its clients connect with this prefix. None: the prefix of every inbox (the hub's).

    Raises:
        ValueError: ``login`` is not a login name (letters, digits, ``-`` and ``_``).
    """
    if login is None:
        return INBOX
    if not _LOGIN.fullmatch(login):
        raise ValueError(f"{login!r} is not a NATS login name")
    return f"{INBOX}.{login}"


def inbox_filter(login: str | None = None) -> str:
    """Every reply inbox of ``login`` (of every login when None): a subscribe permission."""
    return f"{inbox_prefix(login)}.>"


_SINK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def sink_consumer(cc: str, sink_name: str) -> str:
    """The durable DELIVERY consumer of ``cc``'s sink ``sink_name`` (one per sink: each
    gets every delivery to ``cc``). The hub creates it; ``cc``'s login may only use it."""
    _check(cc)
    if not _SINK_NAME.fullmatch(sink_name):
        raise ValueError(f"{sink_name!r} is not a sink name (a-z, 0-9, _ and -)")
    return f"sink-{cc}-{sink_name}"


def rejected_subject(cc: str) -> str:
    """Where ``cc`` gets the kept notices of its refused or partly delivered messages."""
    _check(cc)
    return f"{PREFIX}.rejected.{cc}"


def receipt_subject(cc: str) -> str:
    """Where ``cc``'s sinks publish their signed receipts."""
    _check(cc)
    return f"{PREFIX}.receipt.{cc}"


def quarantine_subject(cc: str) -> str:
    """Quarantine by the subject's country token; ``XX`` when even that is unreadable."""
    _check(cc)
    return f"{PREFIX}.quarantine.{cc}"


def witness_request_subject(cc: str) -> str:
    """Where ``cc``'s witness asks the hub for its latest checkpoint and a consistency proof
    (core request/reply: the answer is a tlog-witness ``add-checkpoint`` body)."""
    _check(cc)
    return f"{PREFIX}.witness.{cc}.checkpoint"


def witness_requests() -> str:
    """What the hub answers: every country's witness requests."""
    return f"{PREFIX}.witness.*.checkpoint"


def witness_cosigned_subject(cc: str) -> str:
    """Where ``cc``'s witness stores its cosigned checkpoints (stream AUDIT_WITNESS)."""
    _check(cc)
    return f"{PREFIX}.witness.{cc}.cosigned"


def witness_refused_subject(cc: str) -> str:
    """Where ``cc``'s witness stores the checkpoints it refused and why (AUDIT_WITNESS)."""
    _check(cc)
    return f"{PREFIX}.witness.{cc}.refused"


def witness_country(subject: str) -> str | None:
    """The country of a witness subject (None when it is not one)."""
    parts = subject.split(".")
    if len(parts) == 4 and parts[:2] == [PREFIX, "witness"] and _CC.fullmatch(parts[2]):
        return parts[2]
    return None


def quarantine_viewed_subject() -> str:
    """Where an operator's tool asks the hub to record that it shows quarantined bytes."""
    return f"{PREFIX}.operator.viewed"


def outcome_subject(cc: str, message_id: str) -> str:
    """Where the hub says what became of ``cc``'s message ``message_id`` (accepted or not).

    Stream :func:`outcome_stream` keeps the last outcome of each message, so that a sender
    who stopped waiting collects it later (by this subject: a direct get of the last
    message). ``enlace publish`` subscribes to it before it publishes. Refusals are also
    kept as notices in REJECTED.

    Args:
        cc: the sender's country code.
        message_id: the message's id as the outcome names it (any string).

    Raises:
        ValueError: ``cc`` is not a country code.
    """
    _check(cc)
    return f"{PREFIX}.outcome.{cc}.{outcome_token(message_id)}"


def outcome_filter(cc: str) -> str:
    """Every outcome of ``cc``'s messages: the subjects of :func:`outcome_stream`."""
    _check(cc)
    return f"{PREFIX}.outcome.{cc}.>"


def ledger_subject(cc: str, message_id: str, recipient: str, sink: str) -> str:
    """Where the hub tells sender ``cc`` what ``recipient``'s sink ``sink`` receipted of
    its message ``message_id`` (the originator's delivery ledger, kept beside the outcome
    in :func:`outcome_stream`, the last receipt per sink).

    Args:
        cc: the sender's country code.
        message_id: the message's id.
        recipient: the country whose sink receipted it.
        sink: the sink's name (``[a-z][a-z0-9_-]*``, checked against the register).

    Raises:
        ValueError: a country code is not one, or ``sink`` cannot be a subject token.
    """
    _check(recipient)
    if not _SINK_NAME.fullmatch(sink):
        raise ValueError(f"sink name {sink!r} cannot be a subject token")
    return f"{outcome_subject(cc, message_id)}.{recipient}.{sink}"


def ledger_filter(cc: str, message_id: str) -> str:
    """Every ledger entry of ``cc``'s message ``message_id`` (not its outcome)."""
    return f"{outcome_subject(cc, message_id)}.>"


def outcome_stream(cc: str) -> str:
    """The stream of the outcomes of ``cc``'s messages (subjects :func:`outcome_filter`).

    One per country rather than one shared: its login may then read its own outcomes, by
    id, and no other country's.
    """
    _check(cc)
    return f"OUTCOMES_{cc}"


_SINK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def outcome_token(message_id: str) -> str:
    """``message_id`` as one subject token: itself when it is plain (letters, digits, ``-``
    and ``_``, as every ULID, UUIDv7 and ingress reference is), else ``~`` and the first 32
    hex digits of its SHA-256 (an id read from a refused message may hold anything)."""
    if _PLAIN_ID.fullmatch(message_id):
        return message_id
    return "~" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def deadletter_subject(cc: str) -> str:
    """Where ``cc``'s sinks put what they could not write (:func:`deadletter_stream`)."""
    _check(cc)
    return f"{PREFIX}.deadletter.{cc}"


def deadletter_stream(cc: str) -> str:
    """The stream of ``cc``'s dead letters (subject :func:`deadletter_subject` only).

    One per country rather than one shared: a country's login may then read the info of,
    and delete from, its own dead letters without reaching another country's by sequence.
    """
    _check(cc)
    return f"DEADLETTER_{cc}"


@dataclass(frozen=True)
class IngressSubject:
    country: str
    theme: str
    type: str


def parse_ingress_subject(subject: str) -> IngressSubject | None:
    """The tokens of ``enlace.in.<cc>.<theme>.<type>``, or None when it is not of that form."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[0] != PREFIX or parts[1] != "in":
        return None
    cc, theme, type_ = parts[2:]
    if not _CC.fullmatch(cc) or not _TOKEN.fullmatch(theme) or not _TOKEN.fullmatch(type_):
        return None
    return IngressSubject(cc, theme, type_)


# -- reading subjects and header values (the hub's and the adapters' one grammar) ---------------

UNKNOWN_COUNTRY = "XX"
"""The country token of a subject that names no country code (``enlace.in.gt…``): its
quarantine copy goes to ``enlace.quarantine.XX`` and nobody gets a notice or outcome."""


def sender_token(subject: str) -> str:
    """The country token of an ingress subject, :data:`UNKNOWN_COUNTRY` when it is none.

    NATS permissions let a country publish only under its own code, so this token names
    who published, whatever the body claims.
    """
    parts = subject.split(".")
    cc = parts[2] if len(parts) > 2 else ""
    return cc if _CC.fullmatch(cc) else UNKNOWN_COUNTRY


def receipt_country(subject: str) -> str | None:
    """The ``<cc>`` of ``enlace.receipt.<cc>``, or None when ``subject`` is not of that form."""
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or parts[1] != "receipt":
        return None
    return parts[2] if _CC.fullmatch(parts[2]) else None


def is_delivery_to(subject: str, recipient: str) -> bool:
    """Whether ``subject`` is a delivery to ``recipient`` (under :func:`delivery_filter`)."""
    return subject.startswith(f"{PREFIX}.out.{recipient}.")


def delivery_msg_id(message_id: str, recipient: str) -> str:
    """The ``Nats-Msg-Id`` of the delivery of ``message_id`` to ``recipient``: one per pair."""
    return f"{message_id}:{recipient}"


def header_line(text: str, limit: int) -> str:
    """``text`` as a header value: one line (runs of whitespace made one space), at most
    ``limit`` characters. A reason sentence may quote hostile input or a sink's message."""
    return " ".join(text.split())[:limit]
