"""Counting what became of each message: the hub's audit log says what it accepted and
refused, US's inbox (and the writes seen there) what was delivered, and ``enlace audit
verify`` whether the log still holds together.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field

from hub.audit import AuditEntry, AuditReader, EntryKind, parse_entry
from hub.server.operator_access import connect_operator
from tests.faults.harness import RECIPIENT, FaultUp
from tests.faults.table import ROWS, Row
from tests.faults.traffic import Sent

__all__ = [
    "RECOVER_WITHIN",
    "Verdicts",
    "assert_sound",
    "audit_verifies",
    "delivered",
    "read_verdicts",
    "record",
    "settle",
]

_POLL = 1.0
_READ_WITHIN = 20.0
RECOVER_WITHIN = 150.0
"""How long a row waits for every accepted message to reach US before counting the rest
as lost: longer than the sink consumers' ``ack_wait`` (120 s), after which a delivery
taken by a dead process comes again."""


@dataclass
class Verdicts:
    """The hub's decisions on the sent messages, from its audit log.

    Attributes:
        accepted: ids routed to the recipient.
        rejected: ids the hub refused (and never accepted), with the reason code.
        dead_lettered: ids the recipient's sink refused, with the reason code.
    """

    accepted: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)
    dead_lettered: dict[str, str] = field(default_factory=dict)


async def _entries(fault: FaultUp) -> list[AuditEntry]:
    nc = await connect_operator(fault.dep, fault.url, "enlace-fault-tally")
    try:
        return [parse_entry(raw) for raw in await AuditReader(nc.jetstream()).read_all()]
    finally:
        await nc.close()


async def read_verdicts(fault: FaultUp, ids: set[str]) -> Verdicts:
    verdicts = Verdicts()
    for entry in await _entries(fault):
        if entry.message_id not in ids:
            continue
        if entry.kind is EntryKind.ROUTED and entry.recipient == RECIPIENT:
            verdicts.accepted.add(entry.message_id)
        elif entry.kind is EntryKind.REJECTED:
            verdicts.rejected[entry.message_id] = entry.reason or ""
        elif entry.kind is EntryKind.DEAD_LETTERED:
            verdicts.dead_lettered[entry.message_id] = entry.reason or ""
    for mid in verdicts.accepted:
        verdicts.rejected.pop(mid, None)  # a retry refused as a duplicate of an accepted one
    return verdicts


def delivered(fault: FaultUp, ids: set[str]) -> set[str]:
    return {mid for mid in ids if (fault.inbox / f"{mid}.json").is_file()}


async def settle(fault: FaultUp, sent: Sent, seconds: float) -> Verdicts:
    """Wait until the hub decided every stored message and US has every accepted one
    (or ``seconds`` passed: what is missing then is lost)."""
    ids = set(sent.ids)
    deadline = time.monotonic() + seconds
    while True:
        try:
            verdicts = await asyncio.wait_for(read_verdicts(fault, ids), _READ_WITHIN)
        except Exception:  # the server is not back yet, or cannot answer: ask again
            verdicts = None
        if verdicts is not None:
            decided = verdicts.accepted | set(verdicts.rejected)
            # A dead-lettered delivery does not come again: waiting longer cannot help.
            landed = delivered(fault, ids) | set(verdicts.dead_lettered)
            if sent.stored <= decided and verdicts.accepted <= landed:
                return verdicts
        if time.monotonic() > deadline:
            return verdicts or Verdicts()
        await asyncio.sleep(_POLL)


def audit_verifies(fault: FaultUp) -> bool:
    try:
        return fault.running.enlace("audit", "verify", "--json").returncode == 0
    except subprocess.TimeoutExpired:
        return False


def record(
    fault: FaultUp, name: str, sent: Sent, verdicts: Verdicts, fault_end: float, note: str = ""
) -> Row:
    """The row of this fault, added to the run's table."""
    ids = set(sent.ids)
    got = delivered(fault, ids)
    refused = Counter(sent.refused.values())
    refused.update(verdicts.rejected.values())
    unanswered = ids - verdicts.accepted - set(sent.refused) - set(verdicts.rejected)
    refused[""] += len(unanswered)
    refused = Counter({code or "no reason": n for code, n in refused.items() if n})
    times = [fault.writes.first[mid] for mid in verdicts.accepted if mid in fault.writes.first]
    all_in = verdicts.accepted <= got and bool(times)
    first = fault.writes.first_after(fault_end)
    notes = [note] if note else []
    if verdicts.dead_lettered:
        codes = Counter(verdicts.dead_lettered.values())
        notes.append("dead-lettered: " + ", ".join(f"{n} {c}" for c, n in codes.items()))
    row = Row(
        fault=name,
        messages=len(ids),
        accepted=len(verdicts.accepted),
        refused=refused,
        delivered=len(got),
        lost=len(verdicts.accepted - got),
        duplicated=sum(1 for mid in ids if fault.writes.per_id[mid] > 1),
        first_delivery=None if first is None else first - fault_end,
        all_delivered=max(0.0, max(times) - fault_end) if all_in else None,
        audit_ok=audit_verifies(fault),
        note="; ".join(notes),
    )
    ROWS.append(row)
    return row


def assert_sound(row: Row) -> None:
    """What every row must show: nothing lost or written twice, the audit log verifies,
    every message accepted or refused with a reason code."""
    assert row.lost == 0, row
    assert row.duplicated == 0, row
    assert row.audit_ok, row
    assert "no reason" not in row.refused, row
    assert row.accepted + sum(row.refused.values()) == row.messages, row
    assert row.delivered == row.accepted, row
