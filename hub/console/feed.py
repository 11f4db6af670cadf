"""The audit log as the console reads it: filtered entries with resumable event ids.

An entry's event id is ``<AUDIT stream sequence>-<leaf index>``: the sequence says where
to start reading again, the index which entries of that batch were already seen, so a
client reconnecting with ``Last-Event-ID`` gets exactly the entries after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hub.audit import AuditError, AuditReader, EntryKind, parse_entry
from hub.audit.entries import AuditEntry

__all__ = [
    "KIND_GROUPS",
    "EventId",
    "FeedEntry",
    "TailFilter",
    "follow",
    "recent",
]

KIND_GROUPS: dict[str, frozenset[EntryKind]] = {
    "received": frozenset({EntryKind.RECEIVED}),
    "routed": frozenset({EntryKind.ROUTED, EntryKind.UNDELIVERABLE, EntryKind.NOT_ROUTED}),
    "rejected": frozenset({EntryKind.REJECTED}),
    "delivered": frozenset({EntryKind.DELIVERED}),
    "receipt_problems": frozenset({EntryKind.DEAD_LETTERED, EntryKind.RECEIPT_REJECTED}),
    "governance": frozenset(
        {
            EntryKind.GOVERNANCE,
            EntryKind.KEY_EVENT,
            EntryKind.CONSUMER,
            EntryKind.QUARANTINE_VIEWED,
            EntryKind.HUB_START,
            EntryKind.HUB_STOP,
            EntryKind.SERVER_RESTARTED,
        }
    ),
}
"""The tail's ``kind`` filter: what an operator asks for, as the entry kinds it covers."""


@dataclass(frozen=True, order=True)
class EventId:
    """Where an entry sits: its AUDIT message (``seq``) and its leaf ``index``."""

    seq: int
    index: int

    def __str__(self) -> str:
        return f"{self.seq}-{self.index}"

    @classmethod
    def parse(cls, text: str | None) -> EventId | None:
        """The id of ``text`` (``"12-40"``), or None if absent or not one."""
        seq, sep, index = (text or "").strip().partition("-")
        if not sep or not seq.isdigit() or not index.isdigit():
            return None
        return cls(int(seq), int(index))


@dataclass(frozen=True)
class FeedEntry:
    """An entry with its event id, its batch's time and what the trail knows of its message."""

    event_id: EventId
    entry: AuditEntry
    theme: str | None
    type: str | None
    stored: datetime | None


@dataclass
class TailFilter:
    """The tail's filters, as given in the URL (each empty = any)."""

    country: str = ""
    theme: str = ""
    type: str = ""
    kind: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TailFilter:
        return cls(
            country=query.get("country", "").strip().upper()[:2],
            theme=query.get("theme", "").strip()[:40],
            type=query.get("type", "").strip()[:40],
            kind=query.get("kind", "").strip() if query.get("kind", "") in KIND_GROUPS else "",
        )

    def query(self) -> dict[str, str]:
        """The non-empty filters, for links that keep them."""
        return {k: v for k, v in vars(self).items() if v}

    def matches(self, item: FeedEntry) -> bool:
        entry = item.entry
        if self.kind and entry.kind not in KIND_GROUPS[self.kind]:
            return False
        if self.theme and item.theme != self.theme:
            return False
        if self.type and item.type != self.type:
            return False
        if self.country:
            involved = {entry.country, entry.recipient, *(r.country for r in entry.refused or ())}
            if self.country not in involved:
                return False
        return True


@dataclass
class _Known:
    """Theme and type of the messages seen so far (only ``received`` entries carry them)."""

    of: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def learn(self, entry: AuditEntry) -> tuple[str | None, str | None]:
        if entry.kind is EntryKind.RECEIVED and entry.message_id:
            self.of[entry.message_id] = (entry.theme, entry.type)
        if entry.theme or entry.type:
            return entry.theme, entry.type
        return self.of.get(entry.message_id or "", (None, None))


async def _items(
    reader: AuditReader, start_seq: int, after: EventId | None, follow_log: bool, known: _Known
) -> AsyncIterator[FeedEntry]:
    async for batch in reader.batches(start_seq=max(start_seq, 1), follow=follow_log):
        first = batch.first or 0
        for offset, raw in enumerate(batch.entries):
            event_id = EventId(batch.seq, first + offset)
            try:
                entry = parse_entry(raw)
            except AuditError:
                continue  # `enlace audit verify` and the integrity page name bad entries
            theme, type_ = known.learn(entry)
            if after is not None and event_id <= after:
                continue
            yield FeedEntry(event_id, entry, theme, type_, batch.time)


async def recent(
    reader: AuditReader, flt: TailFilter, limit: int, window: int = 500
) -> tuple[list[FeedEntry], int]:
    """The last ``limit`` matching entries among the last ``window`` AUDIT messages.

    Returns them oldest first, with the last stream sequence read (where to follow from).

    Args:
        reader: the audit log.
        flt: what the operator asked to see.
        limit: the most entries returned.
        window: how many of the newest AUDIT messages are searched.
    """
    last = await reader.last_seq()
    if last == 0:
        return [], 0
    found: list[FeedEntry] = []
    known = _Known()
    async for item in _items(reader, max(1, last - window + 1), None, False, known):
        if flt.matches(item):
            found.append(item)
            del found[:-limit]
    return found, last


async def follow(
    reader: AuditReader, flt: TailFilter, after: EventId | None, from_seq: int
) -> AsyncIterator[FeedEntry]:
    """Matching entries after ``after`` (else after stream sequence ``from_seq``), as appended.

    A resumed read starts at ``after``'s own AUDIT message, so entries of that batch
    that came after it are not skipped; earlier ones are, so none is sent twice.

    Args:
        reader: the audit log.
        flt: what the operator asked to see.
        after: the last event the browser received (``Last-Event-ID``), if any.
        from_seq: the last stream sequence already shown, when there is no ``after``.
    """
    start = after.seq if after is not None else from_seq + 1
    async for item in _items(reader, start, after, True, _Known()):
        if flt.matches(item):
            yield item
