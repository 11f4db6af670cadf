"""One constructor per kind of audit entry: which fields each kind carries, and nothing else.

The pipeline, the receipts, governance and the hub's start and stop record what happened
through these (``kinds.routed(...)``, ``kinds.hub_event("start", ...)``); each validates
the entry it builds and says which field is wrong (:class:`AuditEntryInvalid`), so a
caller cannot put a sentence of payload where a reason code goes. The entry model and its
byte form are :mod:`hub.audit.entries`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hub.audit.entries import REDELIVERED, AuditEntry, EntryKind
from hub.audit.errors import AuditEntryInvalid

__all__ = [
    "consumer_event",
    "dead_lettered",
    "delivered",
    "governance",
    "hub_event",
    "key_event",
    "not_routed",
    "quarantine_viewed",
    "receipt_rejected",
    "received",
    "refused_by_server",
    "rejected",
    "routed",
    "server_restarted",
    "undeliverable",
]


def received(
    *,
    message_id: str,
    sender_country: str,
    poc: str | None,
    type_: str,
    theme: str,
    digest: str,
    size: int,
    again: bool = False,
    conditions: tuple[str, ...] = (),
    amends: str | None = None,
    ingress: str | None = None,
) -> AuditEntry:
    """A message was taken from INGRESS (parsed and verified far enough to name it).

    Args:
        message_id: its id.
        sender_country: the country it came from.
        poc: the point of contact that signed it, when verified.
        type_: its message type.
        theme: its theme.
        digest: ``sha256:<hex>`` of its bytes.
        size: its size in bytes.
        again: the hub had handled this same INGRESS message before and stopped before
            acking it; this decision repeats (or, after a reload, revises) that one.
        conditions: the names of its sender's handling conditions that hold
            (:func:`schemas.handling.condition_names`).
        amends: the message it corrects or withdraws (:mod:`schemas.amendments`).
        ingress: the INGRESS message it came in (:func:`hub.pipeline.checks.ingress_ref`):
            the entry then claims its id for the acceptance window (:mod:`hub.audit.seen`).
    """
    return _build(
        kind=EntryKind.RECEIVED,
        conditions=conditions or None,
        message_id=message_id,
        country=sender_country,
        poc=poc,
        type=type_,
        theme=theme,
        digest=digest,
        size=size,
        detail=REDELIVERED if again else None,
        amends=amends,
        ingress=ingress,
    )


def rejected(
    message_id: str | None,
    sender_country: str | None,
    reason: str,
    digest: str,
    size: int,
    ingress: str | None = None,
) -> AuditEntry:
    """A message was refused with a reason code.

    The hub had the message's bytes: their digest and size are required. For what the
    NATS server refused before it reached the hub, see :func:`refused_by_server`.

    Args:
        message_id: its id (None when unknown: malformed JSON).
        sender_country: the country it came from (None when its subject names none).
        reason: the reason code.
        digest: ``sha256:<hex>`` of its bytes.
        size: its size in bytes.
        ingress: the INGRESS message it came in (:func:`hub.pipeline.checks.ingress_ref`).
    """
    return _build(
        kind=EntryKind.REJECTED,
        message_id=message_id,
        country=sender_country,
        reason=reason,
        digest=digest,
        size=size,
        ingress=ingress,
    )


def refused_by_server(sender_country: str, reason: str, detail: str) -> AuditEntry:
    """The NATS server refused a message before it reached JetStream (a ``rejected``).

    Only what the server reported is recorded. The entry has **no** message id, digest
    or size: no byte of the message arrived, and the server's event says neither which
    message it was nor how large.

    Args:
        sender_country: the sender's country, from its login.
        reason: the reason code.
        detail: what the server did (e.g. its ``max_payload``).
    """
    return _build(kind=EntryKind.REJECTED, country=sender_country, reason=reason, detail=detail)


def routed(
    message_id: str,
    recipient: str,
    agreement: str,
    flow: str | None,
    view: str,
    digest: str,
) -> AuditEntry:
    """A delivery to ``recipient`` was persisted.

    Args:
        message_id: the message delivered.
        recipient: the country it was delivered to.
        agreement: the agreement that allows it.
        flow: the flow of that agreement, when named.
        view: the view delivered.
        digest: ``sha256:<hex>`` of the delivered view.
    """
    return _build(
        kind=EntryKind.ROUTED,
        message_id=message_id,
        recipient=recipient,
        agreement=agreement,
        flow=flow,
        view=view,
        digest=digest,
    )


def undeliverable(message_id: str, refused: list[tuple[str, str]]) -> AuditEntry:
    """No party (or not these parties) may receive the message, and why for each."""
    return _build(
        kind=EntryKind.UNDELIVERABLE,
        message_id=message_id,
        refused=_refusals(refused),
    )


def not_routed(message_id: str, refused: list[tuple[str, str]]) -> AuditEntry:
    """The parties a message routed to others does not reach, each with its reason code.

    With the ``routed`` entries of the same message, every party's decision is on the
    record (``undeliverable`` says the same of a message that reached nobody).
    """
    return _build(
        kind=EntryKind.NOT_ROUTED,
        message_id=message_id,
        refused=_refusals(refused),
    )


def delivered(message_id: str, recipient: str, receipt_digest: str, sink: str) -> AuditEntry:
    """A recipient's sink wrote the delivery and sent a signed receipt.

    Args:
        message_id: the message delivered.
        recipient: the country whose sink wrote it.
        receipt_digest: ``sha256:<hex>`` of the receipt.
        sink: the sink that wrote it.
    """
    return _build(
        kind=EntryKind.DELIVERED,
        message_id=message_id,
        recipient=recipient,
        digest=receipt_digest,
        sink=sink,
    )


def dead_lettered(
    message_id: str, recipient: str, receipt_digest: str, sink: str, reason: str
) -> AuditEntry:
    """A recipient's sink refused the delivery (reason code) and sent a signed receipt.

    Args:
        message_id: the message refused.
        recipient: the country whose sink refused it.
        receipt_digest: ``sha256:<hex>`` of the receipt.
        sink: the sink that refused it.
        reason: the sink's reason code.
    """
    return _build(
        kind=EntryKind.DEAD_LETTERED,
        message_id=message_id,
        recipient=recipient,
        digest=receipt_digest,
        sink=sink,
        reason=reason,
    )


def receipt_rejected(
    message_id: str | None,
    country: str | None,
    reason: str,
    receipt_digest: str,
    size: int,
) -> AuditEntry:
    """A receipt from ``country`` (its subject) failed verification; nothing was recorded.

    Args:
        message_id: the id the receipt claims, when readable: a forged receipt stays
            visible in that message's trail without counting as a delivery.
        country: the country whose subject it came on.
        reason: the reason code.
        receipt_digest: ``sha256:<hex>`` of the receipt's bytes.
        size: its size in bytes.
    """
    return _build(
        kind=EntryKind.RECEIPT_REJECTED,
        message_id=message_id,
        country=country,
        reason=reason,
        digest=receipt_digest,
        size=size,
    )


def governance(
    kind: str, version_or_id: str, outcome: str, detail: str | None = None
) -> AuditEntry:
    """A directory or agreement version was loaded or refused.

    Args:
        kind: ``directory`` or ``agreement``.
        version_or_id: the directory's version or the agreement's id.
        outcome: ``loaded`` or ``refused``.
        detail: the reason code of a refusal.
    """
    return _build(
        kind=EntryKind.GOVERNANCE,
        subject=kind,
        version=version_or_id,
        outcome=outcome,
        detail=detail,
    )


def key_event(event: str, kid: str, owner: str | None = None) -> AuditEntry:
    """A key was created, rotated in, revoked or found expired (kid only, never key bytes).

    Args:
        event: what happened (``created``, ``revoked`` …).
        kid: the key's id.
        owner: who holds it (a POC id, a country, the hub).
    """
    return _build(kind=EntryKind.KEY_EVENT, outcome=event, version=kid, owner=owner)


def consumer_event(stream: str, consumer: str, outcome: str, detail: str) -> AuditEntry:
    """A durable consumer was found changed at start: ``repaired`` or ``refused``.

    Args:
        stream: the consumer's stream (``subject``).
        consumer: its durable name (``version``).
        outcome: ``repaired`` (put back in place) or ``refused`` (the hub stopped).
        detail: what differed, or the reason code (no payload, config values only).
    """
    return _build(
        kind=EntryKind.CONSUMER,
        subject=stream.lower(),
        version=consumer,
        outcome=outcome,
        detail=detail[:300],
    )


VIEWING_ACTIONS = ("shown", "exported")


def quarantine_viewed(
    operator: str, seq: int, digest: str, action: str, country: str | None = None
) -> AuditEntry:
    """An operator was shown (or exported) the bytes of a quarantined message.

    Who, which copy and the digest of its bytes: never the bytes themselves.

    Args:
        operator: who (an operator account or the OS user of the CLI).
        seq: the copy's sequence in the QUARANTINE stream.
        digest: ``sha256:<hex>`` of the bytes shown.
        action: ``shown`` or ``exported``.
        country: the country token of the copy's subject, when one.
    """
    if action not in VIEWING_ACTIONS:
        raise AuditEntryInvalid(f"a viewing is 'shown' or 'exported', not {action!r}")
    return _build(
        kind=EntryKind.QUARANTINE_VIEWED,
        owner=operator,
        seq=seq,
        digest=digest,
        outcome=action,
        country=country,
    )


def hub_event(event: str, hub_id: str) -> AuditEntry:
    """The hub started (``event="start"``) or stopped (``"stop"``)."""
    kinds = {"start": EntryKind.HUB_START, "stop": EntryKind.HUB_STOP}
    if event not in kinds:
        raise AuditEntryInvalid(f"hub event must be 'start' or 'stop', not {event!r}")
    return _build(kind=kinds[event], hub_id=hub_id)


def server_restarted(hub_id: str, exit_code: int, attempt: int) -> AuditEntry:
    """``enlace up`` found its embedded nats-server dead and started it again.

    Args:
        hub_id: the hub whose server it is.
        exit_code: how the server ended (negative: the signal that killed it).
        attempt: the how-manieth restart within the supervisor's window.
    """
    how = f"killed by signal {-exit_code}" if exit_code < 0 else f"exited with {exit_code}"
    return _build(
        kind=EntryKind.SERVER_RESTARTED,
        hub_id=hub_id,
        detail=f"nats-server {how}; started again (restart {attempt} in a row)",
    )


def _refusals(refused: list[tuple[str, str]]) -> tuple[dict[str, str], ...]:
    # Plain dicts, validated into Refusal entries with the entry in one call (a Refusal
    # model each cost ~3 us more per party) and named in its AuditEntryInvalid if wrong.
    return tuple({"country": cc, "reason": reason} for cc, reason in refused)


def _build(**fields: Any) -> AuditEntry:
    try:
        return AuditEntry(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AuditEntryInvalid(
            f"audit entry {fields.get('kind')}: field {where}: {err['msg']}"
        ) from None
