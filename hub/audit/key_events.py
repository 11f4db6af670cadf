"""Key events for the audit log: what changed in the directory's keys between two versions.

The keys themselves change offline (``enlace keys new|rotate|revoke`` write a new signed
directory); the hub learns of it when it loads that directory, and records one
``key_event`` entry per change: ``created``, ``revoked``, ``expiry_changed``, ``removed``.
Key ids and their holders only, never key material.
"""

from __future__ import annotations

from hub.audit import kinds
from hub.audit.entries import AuditEntry
from schemas.directory import Directory, KeyOwner, PublicKeyRecord

__all__ = ["key_events"]


def _keys(directory: Directory) -> dict[str, tuple[PublicKeyRecord, KeyOwner]]:
    table: dict[str, tuple[PublicKeyRecord, KeyOwner]] = {}
    for kid in (k.kid for k in directory.hub.keys):
        table[kid] = directory.key(kid)
    for party in directory.parties:
        for key in party.keys:
            table[key.kid] = directory.key(key.kid)
    for poc in directory.pocs:
        for key in poc.keys:
            table[key.kid] = directory.key(key.kid)
    return table


def key_events(before: Directory, after: Directory) -> list[AuditEntry]:
    """One entry per key created, revoked, removed or whose expiry changed, sorted by kid."""
    old, new = _keys(before), _keys(after)
    entries: list[AuditEntry] = []
    for kid in sorted(old.keys() | new.keys()):
        if kid not in old:
            entries.append(kinds.key_event("created", kid, new[kid][1].id))
            continue
        if kid not in new:
            entries.append(kinds.key_event("removed", kid, old[kid][1].id))
            continue
        (was, owner), (now, _) = old[kid], new[kid]
        if was.revoked_at is None and now.revoked_at is not None:
            entries.append(kinds.key_event("revoked", kid, owner.id))
        elif was.not_after != now.not_after:
            entries.append(kinds.key_event("expiry_changed", kid, owner.id))
    return entries
