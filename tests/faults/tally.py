"""Counting what became of each message: the hub's audit log says what it accepted and
refused, and to whom it routed it; the counted sinks' inboxes (US's, or each of
:attr:`FaultUp.sinks`), and the writes seen there, what was delivered; ``enlace audit
verify`` whether the log still holds together. A delivery is a (recipient, message id)
pair: with US's sink alone there is one per accepted message.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field

from hub.audit import AuditEntry, AuditReader, EntryKind, parse_entry
from hub.server.operator_access import connect_operator
from tests.faults.harness import FaultUp
from tests.faults.table import ROWS, Row
from tests.faults.traffic import Sent

__all__ = [
    "RECOVER_WITHIN",
    "Verdicts",
    "assert_sound",
    "audit_end",
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
        accepted: ids routed to a counted sink's country.
        routed: the deliveries due: (recipient, id) for each counted sink's country.
        rejected: ids the hub refused (and never accepted), with the reason code.
        dead_lettered: ids a recipient's sink refused, with the reason code.
        refused_by_sink: those deliveries, as (recipient, id).
    """

    accepted: set[str] = field(default_factory=set)
    routed: set[tuple[str, str]] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)
    dead_lettered: dict[str, str] = field(default_factory=dict)
    refused_by_sink: set[tuple[str, str]] = field(default_factory=set)


class AuditTail:
    """The AUDIT stream's entries from message ``since`` on, each read once: every
    :meth:`read` adds what was appended after the last (a long row's log, read whole at
    each look, took seconds of a core every time)."""

    def __init__(self, fault: FaultUp, since: int = 1) -> None:
        self.fault = fault
        self.next = since
        self.entries: list[AuditEntry] = []

    async def read(self) -> list[AuditEntry]:
        """Every entry so far (a read cut short keeps the messages it finished)."""
        nc = await connect_operator(self.fault.dep, self.fault.url, "enlace-fault-tally")
        try:
            async for batch in AuditReader(nc.jetstream()).batches(start_seq=self.next):
                self.entries.extend(parse_entry(raw) for raw in batch.entries)
                self.next = batch.seq + 1
        finally:
            await nc.close()
        return self.entries


async def audit_end(fault: FaultUp) -> int:
    """The sequence of the AUDIT stream's last message: a row's entries come after it."""
    nc = await connect_operator(fault.dep, fault.url, "enlace-fault-tally")
    try:
        return await AuditReader(nc.jetstream()).last_seq()
    finally:
        await nc.close()


async def read_verdicts(fault: FaultUp, ids: set[str] | None, since: int = 1) -> Verdicts:
    """The decisions on ``ids`` (on every message when None), from the AUDIT stream's
    message ``since`` on (a row's own)."""
    return _verdicts(fault, await AuditTail(fault, since).read(), ids)


def _verdicts(fault: FaultUp, entries: list[AuditEntry], ids: set[str] | None) -> Verdicts:
    verdicts = Verdicts()
    for entry in entries:
        if entry.message_id is None or (ids is not None and entry.message_id not in ids):
            continue
        if entry.kind is EntryKind.ROUTED and entry.recipient in fault.sinks:
            verdicts.accepted.add(entry.message_id)
            verdicts.routed.add((entry.recipient, entry.message_id))
        elif entry.kind is EntryKind.REJECTED:
            verdicts.rejected[entry.message_id] = entry.reason or ""
        elif entry.kind is EntryKind.DEAD_LETTERED and entry.recipient in fault.sinks:
            verdicts.dead_lettered[entry.message_id] = entry.reason or ""
            verdicts.refused_by_sink.add((entry.recipient, entry.message_id))
    for mid in verdicts.accepted:
        verdicts.rejected.pop(mid, None)  # a retry refused as a duplicate of an accepted one
    return verdicts


def delivered(fault: FaultUp, ids: set[str]) -> set[tuple[str, str]]:
    """The deliveries of ``ids`` in the counted sinks' inboxes: (recipient, id)."""
    inboxes = {cc: fault.dep.home / "inbox" / cc for cc in fault.sinks}
    return {
        (cc, mid) for cc, box in inboxes.items() for mid in ids if (box / f"{mid}.json").is_file()
    }


async def settle(fault: FaultUp, sent: Sent, seconds: float, since: int = 1) -> Verdicts:
    """Wait until the hub decided every stored message and US has every accepted one
    (or ``seconds`` passed: what is missing then is lost); the decisions are read from
    the AUDIT stream's message ``since`` on."""
    ids = set(sent.ids)
    deadline = time.monotonic() + seconds
    tail = AuditTail(fault, since)
    while True:
        started = time.monotonic()
        with contextlib.suppress(Exception):  # the server is not back yet: ask again
            await asyncio.wait_for(tail.read(), _READ_WITHIN)
        verdicts = _verdicts(fault, tail.entries, ids)
        # A read of many new entries takes seconds of a core: the next look comes after
        # twice that (10 s at most), so the hub and the sinks keep the machine.
        pause = min(10.0, max(_POLL, 2 * (time.monotonic() - started)))
        decided = verdicts.accepted | set(verdicts.rejected)
        # A dead-lettered delivery does not come again: waiting longer cannot help.
        landed = delivered(fault, ids) | verdicts.refused_by_sink
        if sent.stored <= decided and verdicts.routed <= landed:
            return verdicts
        if time.monotonic() > deadline:
            return verdicts
        await asyncio.sleep(pause)


def audit_verifies(fault: FaultUp) -> tuple[bool, str]:
    """Whether ``enlace audit verify`` passes; when not, why (its exit code and last words)."""
    try:
        result = fault.running.enlace("audit", "verify", "--json")
    except subprocess.TimeoutExpired:
        return False, "enlace audit verify did not finish"
    if result.returncode == 0:
        return True, ""
    said = (result.stderr.strip() or result.stdout.strip())[-300:]
    return False, f"enlace audit verify exited {result.returncode}: {said}"


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
    writes = fault.sink_writes
    times = [writes[cc].first[mid] for cc, mid in verdicts.routed if mid in writes[cc].first]
    all_in = verdicts.routed <= got and bool(times)
    first = min((t for w in writes.values() if (t := w.first_after(fault_end))), default=None)
    notes = [note] if note else []
    audit_ok, why = audit_verifies(fault)
    if why:
        notes.append(why)
    if len(writes) > 1:
        notes.append(
            f"{len(writes)} sinks, {len(verdicts.routed)} deliveries due: delivered, lost and "
            "duplicated count deliveries"
        )
    if verdicts.dead_lettered:
        codes = Counter(verdicts.dead_lettered.values())
        notes.append("dead-lettered: " + ", ".join(f"{n} {c}" for c, n in codes.items()))
    row = Row(
        fault=name,
        messages=len(ids),
        accepted=len(verdicts.accepted),
        refused=refused,
        due=len(verdicts.routed),
        delivered=len(got),
        lost=len(verdicts.routed - got),
        duplicated=sum(1 for w in writes.values() for mid in ids if w.per_id[mid] > 1),
        first_delivery=None if first is None else first - fault_end,
        all_delivered=max(0.0, max(times) - fault_end) if all_in else None,
        audit_ok=audit_ok,
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
    assert row.delivered == row.due, row
