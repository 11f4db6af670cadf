"""The trail of one message: for every party, what the audit log says happened to it.

Pure logic over parsed entries (the route reads them): one :class:`PartyTrail` per party
of the directory, in the directory's order, plus any other country the log names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from hub.audit.entries import AuditEntry, EntryKind

__all__ = ["MessageTrail", "PartyTrail", "build_trail"]


@dataclass
class PartyTrail:
    """What happened between one message and one party.

    ``status``: ``sender``, ``routed`` (a delivery was persisted), ``not_routed`` (with
    ``reason``) or ``unknown`` (no decision on the record: a log from before every
    party's decision was recorded).
    """

    country: str
    name: str
    status: str = "unknown"
    reason: str | None = None
    agreement: str | None = None
    flow: str | None = None
    view: str | None = None
    digest: str | None = None
    routed_at: datetime | None = None
    receipts: list[AuditEntry] = field(default_factory=list)
    problems: list[AuditEntry] = field(default_factory=list)

    @property
    def delivered(self) -> AuditEntry | None:
        return next((r for r in self.receipts if r.kind is EntryKind.DELIVERED), None)

    @property
    def dead_lettered(self) -> AuditEntry | None:
        return next((r for r in self.receipts if r.kind is EntryKind.DEAD_LETTERED), None)


@dataclass
class MessageTrail:
    """Every entry of one message and the per-party view of them."""

    message_id: str
    entries: list[AuditEntry]
    parties: list[PartyTrail]

    @property
    def received(self) -> AuditEntry | None:
        return next((e for e in self.entries if e.kind is EntryKind.RECEIVED), None)

    @property
    def rejected(self) -> AuditEntry | None:
        return next((e for e in self.entries if e.kind is EntryKind.REJECTED), None)


def build_trail(
    message_id: str, entries: Iterable[AuditEntry], parties: Iterable[tuple[str, str]]
) -> MessageTrail:
    """The trail of ``message_id`` from its entries and the directory's parties.

    Args:
        message_id: the message whose trail it is.
        entries: audit entries (of that message and others: the others are skipped).
        parties: the directory's parties as (code, name), one row each.
    """
    mine = [e for e in entries if e.message_id == message_id]
    rows = {code: PartyTrail(code, name) for code, name in parties}

    def row(cc: str) -> PartyTrail:
        return rows.setdefault(cc, PartyTrail(cc, cc))

    for entry in mine:
        if entry.kind is EntryKind.RECEIVED and entry.country:
            sender = row(entry.country)
            sender.status, sender.reason = "sender", None
        elif entry.kind is EntryKind.ROUTED and entry.recipient:
            r = row(entry.recipient)
            r.status, r.reason = "routed", None
            r.agreement, r.flow, r.view = entry.agreement, entry.flow, entry.view
            r.digest, r.routed_at = entry.digest, entry.time
        elif entry.kind in (EntryKind.UNDELIVERABLE, EntryKind.NOT_ROUTED):
            for refusal in entry.refused or ():
                r = row(refusal.country)
                if r.status == "sender":
                    r.reason = refusal.reason  # sender_self: said, though never in doubt
                elif r.status != "routed":
                    r.status, r.reason = "not_routed", refusal.reason
        elif entry.kind in (EntryKind.DELIVERED, EntryKind.DEAD_LETTERED) and entry.recipient:
            row(entry.recipient).receipts.append(entry)
        elif entry.kind is EntryKind.RECEIPT_REJECTED and entry.country:
            row(entry.country).problems.append(entry)
    return MessageTrail(message_id, mine, list(rows.values()))
