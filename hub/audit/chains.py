"""The versions of a message in the audit log: its corrections and its retraction.

The ``received`` entry of a correction or retraction names the message it amends
(``amends``, :mod:`schemas.amendments`). From those links, :func:`build_chain` gives the
chain a message belongs to: the original first, then each correction in the order they
amend one another, and the retraction (if any) that withdrew the latest. ``enlace audit
show`` and the console's trail show it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.audit.entries import AuditEntry, EntryKind, parse_entry
from hub.audit.errors import AuditError
from hub.audit.reader import AuditReader

__all__ = ["Chain", "Version", "build_chain", "read_chain"]

_AMENDS = b'"amends":'


@dataclass(frozen=True)
class Version:
    """One message of a chain: ``number`` 1 is the original; a retraction has ``kind``
    ``retraction`` and the number of the version it withdrew."""

    message_id: str
    number: int
    kind: str


@dataclass(frozen=True)
class Chain:
    """Every version of one message, oldest first (a retraction last)."""

    versions: tuple[Version, ...]

    @property
    def ids(self) -> set[str]:
        return {v.message_id for v in self.versions}

    @property
    def amended(self) -> bool:
        """More than the message itself: it was corrected or withdrawn, or it amends one."""
        return len(self.versions) > 1

    def describe(self) -> str:
        """One line for people: ``A (v1) → B (v2), withdrawn by C``."""
        kept = [f"{v.message_id} (v{v.number})" for v in self.versions if v.kind != "retraction"]
        text = " → ".join(kept)
        withdrawn = [v.message_id for v in self.versions if v.kind == "retraction"]
        return text + (f", withdrawn by {withdrawn[0]}" if withdrawn else "")


def build_chain(message_id: str, links: Iterable[AuditEntry]) -> Chain:
    """The chain of ``message_id`` from ``received`` entries (others are skipped).

    Args:
        message_id: any version of the chain (the original, a correction, a retraction).
        links: audit entries; those received with ``amends`` link the versions.
    """
    amends: dict[str, str] = {}
    amended_by: dict[str, list[tuple[str, str]]] = {}
    for e in links:
        if e.kind is EntryKind.RECEIVED and e.amends and e.message_id:
            if e.message_id in amends:
                continue  # a redelivery's second received entry
            amends[e.message_id] = e.amends
            kind = "retraction" if e.type == "retraction" else "correction"
            amended_by.setdefault(e.amends, []).append((e.message_id, kind))
    root, walked = message_id, {message_id}
    while root in amends and amends[root] not in walked:  # a broken log may hold a cycle
        root = amends[root]
        walked.add(root)
    versions = [Version(root, 1, "original")]
    placed, pending = {root}, [(root, 1)]
    while pending:
        current, number = pending.pop(0)
        for child, kind in amended_by.get(current, []):
            if child in placed:
                continue
            placed.add(child)
            step = number + 1 if kind == "correction" else number
            versions.append(Version(child, step, kind))
            if kind == "correction":
                pending.append((child, step))
    versions.sort(key=lambda v: (v.number, v.kind == "retraction"))
    return Chain(tuple(versions))


async def read_chain(reader: AuditReader, message_id: str) -> tuple[Chain, list[AuditEntry]]:
    """The chain of ``message_id`` and the entries of every version, in log order.

    One read of the log, and a second only when the message was amended (the first cannot
    know, reading an original, which later entries will name it).
    """
    links: list[AuditEntry] = []
    mine: list[AuditEntry] = []
    async for raw in reader.entries():
        linked = _AMENDS in raw
        if not linked and message_id.encode() not in raw:
            continue  # most entries are another message's: skip parsing them
        entry = _parsed(raw)
        if entry is None:
            continue
        if linked:
            links.append(entry)
        if entry.message_id == message_id:
            mine.append(entry)
    chain = build_chain(message_id, links)
    if not chain.amended:
        return chain, mine
    ids = chain.ids
    keys = [i.encode() for i in ids]
    entries = []
    async for raw in reader.entries():
        if any(k in raw for k in keys) and (entry := _parsed(raw)) and entry.message_id in ids:
            entries.append(entry)
    return chain, entries


def _parsed(raw: bytes) -> AuditEntry | None:
    try:
        return parse_entry(raw)
    except AuditError:
        return None
