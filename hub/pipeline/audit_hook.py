"""The pipeline's audit hook: each outcome becomes audit log entries, persisted before the ack.

========================  =====================================================
outcome                   entries
========================  =====================================================
rejected                  ``rejected`` (reason code, digest, size)
accepted / partial        ``received`` + one ``routed`` per recipient (its view's digest)
                          + ``not_routed`` (each party not reached and why)
undeliverable             ``received`` + ``undeliverable`` (every party and why not)
========================  =====================================================

When the writer arbitrates accepted ids (:mod:`hub.audit.seen`, the hub with an audit
log), the ``received`` entry is written earlier, by :class:`AuditSeenIds`, as the claim of
the message's id before its deliveries; the outcome's entries then follow without it.

Metadata and digests only: the audit log never holds payload content.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hub.audit import AuditEntry, AuditWriter, kinds
from hub.audit.seen import Claim
from hub.pipeline.amendments import RoutedRecord
from hub.pipeline.checks import Checked
from hub.pipeline.ingress import MessageContext
from hub.pipeline.replay import amended_since, duplicate
from schemas.amendments import amended_id
from schemas.countersign import sha256_digest
from schemas.envelope import Envelope
from schemas.handling import condition_names
from schemas.outcomes import OutcomeStatus
from schemas.subjects import UNKNOWN_COUNTRY

__all__ = ["AuditLogHook", "AuditSeenIds", "entries_for", "received_entry"]


def received_entry(
    envelope: Envelope, digest: str, size: int, ingress: str | None, again: bool = False
) -> AuditEntry:
    """The ``received`` entry of an accepted message (see :func:`hub.audit.kinds.received`).

    Args:
        envelope: the message.
        digest: ``sha256:<hex>`` of its bytes.
        size: its size in bytes.
        ingress: the INGRESS message it came in (its claim, :mod:`hub.audit.seen`).
        again: a redelivery of that same INGRESS message.
    """
    return kinds.received(
        message_id=envelope.id,
        sender_country=envelope.sender.country,
        poc=envelope.sender.poc,
        type_=envelope.type,
        theme=envelope.theme.value,
        digest=digest,
        size=size,
        again=again,
        conditions=condition_names(envelope.conditions),
        amends=amended_id(envelope),
        ingress=ingress,
    )


def entries_for(context: MessageContext, received: bool = True) -> list[AuditEntry]:
    """The audit entries that record one handled message.

    Args:
        context: the message and its outcome.
        received: with the ``received`` entry of an accepted message (False when the
            claim of its id wrote it: :class:`AuditSeenIds`).
    """
    outcome = context.outcome
    if outcome.status is OutcomeStatus.REJECTED or context.envelope is None:
        return [
            kinds.rejected(
                outcome.message_id,
                context.sender_country if context.sender_country != UNKNOWN_COUNTRY else None,
                outcome.reason,
                context.digest,
                context.size,
                context.ingress_ref,
            )
        ]
    envelope = context.envelope
    entries = []
    if received:
        entries.append(
            received_entry(
                envelope, context.digest, context.size, context.ingress_ref, context.again
            )
        )
    decision = context.decision
    if decision is None:
        return entries
    for route in decision.recipients:
        entries.append(
            kinds.routed(
                envelope.id,
                route.recipient,
                route.agreement,
                # An unnamed flow is labelled "#<index>"; the log's ids start alphanumeric.
                route.flow_name.removeprefix("#"),
                route.view_name,
                context.view_digests.get(route.recipient, context.digest),
            )
        )
    refused = [(r.recipient, r.reason) for r in (*decision.refused, *decision.excluded)]
    if decision.undeliverable:
        entries.append(kinds.undeliverable(envelope.id, refused))
    elif refused:
        entries.append(kinds.not_routed(envelope.id, refused))
    return entries


class AuditLogHook:
    """An :class:`~hub.pipeline.ingress.AuditHook` that appends to the audit log (H4's writer).

    ``append`` returns once the entries are persisted in stream AUDIT, so the pipeline
    acks INGRESS only after its decision is on the record.
    """

    def __init__(self, writer: AuditWriter) -> None:
        self._writer = writer

    @property
    def writer(self) -> AuditWriter:
        """The audit log: the hub app records receipts and consumer repairs there too."""
        return self._writer

    def record(self, context: MessageContext) -> Awaitable[object]:
        """Queue the entries of ``context``; the future is done once they are persisted."""
        return self._writer.submit(entries_for(context, self._writer.arbiter is None))


class AuditSeenIds:
    """Claims each accepted id in the audit log (:mod:`hub.audit.seen`): the message's
    ``received`` entry, written before its deliveries, is the claim; no write of its own.

    Args:
        writer: the hub's audit writer, arbitrating (:meth:`AuditWriter.arbitrate`).
    """

    def __init__(self, writer: AuditWriter) -> None:
        self._writer = writer

    @property
    def keeps_routes(self) -> bool:
        """False: the routing record is a write of its own, beside the deliveries."""
        return False

    async def admit(self, item: Checked, routed: RoutedRecord) -> bool:
        """Write the ``received`` entry of ``item`` if its id is free; True when this same
        ingress message holds it already (a redelivery: the entry says so). ``routed`` (the
        routing record) is not kept here.

        Raises:
            DuplicateMessage: another ingress message holds the id (nothing is written).
        """
        envelope = item.envelope
        if envelope is None:
            raise ValueError("only a message that passed the checks is claimed")
        data = item.msg.data
        entry = received_entry(envelope, sha256_digest(data), len(data), item.ref)
        claim = Claim(envelope.id, item.ref, amends=entry.amends)
        await self._writer.submit([entry], claim)
        if claim.amended_by is not None:
            raise amended_since(envelope.id)
        if claim.refused:
            raise duplicate(envelope.id)
        return claim.again

    async def release(self, message_id: str, ingress: str) -> bool:
        """True once ``ingress`` no longer holds ``message_id``: the ``rejected`` entry
        (``hub_error``) of a message the hub gave up on released it as it was written."""
        arbiter = self._writer.arbiter
        return arbiter is not None and arbiter.index.holder(message_id) != ingress
