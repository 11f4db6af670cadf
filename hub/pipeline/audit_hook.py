"""The pipeline's audit hook: each outcome becomes audit log entries, persisted before the ack.

========================  =====================================================
outcome                   entries
========================  =====================================================
rejected                  ``rejected`` (reason code, digest, size)
accepted / partial        ``received`` + one ``routed`` per recipient (its view's digest)
                          + ``not_routed`` (each party not reached and why)
undeliverable             ``received`` + ``undeliverable`` (every party and why not)
========================  =====================================================

Metadata and digests only: the audit log never holds payload content.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hub.audit import AuditEntry, AuditWriter, kinds
from hub.pipeline.ingress import MessageContext
from schemas.amendments import amended_id
from schemas.handling import condition_names
from schemas.outcomes import OutcomeStatus
from schemas.subjects import UNKNOWN_COUNTRY

__all__ = ["AuditLogHook", "entries_for"]


def entries_for(context: MessageContext) -> list[AuditEntry]:
    """The audit entries that record one handled message."""
    outcome = context.outcome
    if outcome.status is OutcomeStatus.REJECTED or context.envelope is None:
        return [
            kinds.rejected(
                outcome.message_id,
                context.sender_country if context.sender_country != UNKNOWN_COUNTRY else None,
                outcome.reason,
                context.digest,
                context.size,
            )
        ]
    envelope = context.envelope
    entries = [
        kinds.received(
            message_id=envelope.id,
            sender_country=envelope.sender.country,
            poc=envelope.sender.poc,
            type_=envelope.type,
            theme=envelope.theme.value,
            digest=context.digest,
            size=context.size,
            again=context.again,
            conditions=condition_names(envelope.conditions),
            amends=amended_id(envelope),
        )
    ]
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
        return self._writer.submit(entries_for(context))
