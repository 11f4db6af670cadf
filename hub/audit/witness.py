"""Every party a witness of the record: the hub's side.

Each party runs a witness (:mod:`adapters.witness`, in its party kit) that keeps the last
checkpoint it cosigned. It asks the hub, on ``enlace.witness.<CC>.checkpoint`` with the
body ``old <size>`` (the size it cosigned last, 0 at first), for the latest checkpoint;
:func:`serve_witnesses` answers with a C2SP tlog-witness ``add-checkpoint`` body: the
RFC 9162 consistency proof from that size to the latest checkpoint, and the signed
checkpoint. The witness checks the hub's signature and the proof against what it kept,
and stores either its cosignature (C2SP tlog-cosignature/v1, by its party's system key,
named :func:`schemas.tlog.cosigner_name`) on ``enlace.witness.<CC>.cosigned`` or its
refusal (reason code, both signed checkpoints as evidence) on ``….refused``: stream
AUDIT_WITNESS, append-only like AUDIT. A hub that forked or rolled back its log cannot
obtain the cosignature of any party that saw the earlier checkpoint.

:func:`witness_report` is what ``enlace audit verify`` and the console say of it: how
many parties cosigned the latest checkpoint (each cosignature verified with the party's
keys of the directory), and the refusals.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from hub.audit.errors import AuditError
from hub.audit.merkle import Memo, consistency_proof, leaf_hash
from hub.audit.proofs import peek_checkpoint
from hub.audit.reader import AuditReader, WitnessRecord
from schemas.directory import Directory
from schemas.errors import TlogError
from schemas.subjects import witness_requests
from schemas.tlog import (
    ANSWER_ERROR,
    AddCheckpoint,
    checkpoint_head,
    cosigner_name,
    open_cosignature,
    split_note,
)

__all__ = [
    "CAUGHT",
    "LeafCache",
    "Refusal",
    "WitnessReport",
    "party_system_keys",
    "serve_witnesses",
    "witness_report",
]

log = structlog.get_logger("enlace.hub.witness")
WITNESS_QUEUE = "hub-witnesses"
CAUGHT = frozenset({"witness_fork", "witness_rollback"})
"""Refusals that catch the hub: its log forked, was rewritten or rolled back."""
_OLD = re.compile(r"^old (0|[1-9][0-9]{0,18})\n?$")


class LeafCache:
    """The log's leaf hashes, read once and then only what was appended since."""

    def __init__(self, reader: AuditReader) -> None:
        self._reader = reader
        self.leaves: list[bytes] = []
        self.memo: Memo = {}  # perfect subtrees' roots: each proof then costs O(log² n)
        self._seq = 0

    async def at_least(self, size: int) -> list[bytes]:
        """The leaf hashes, after reading the batches appended since the last call."""
        if len(self.leaves) < size:
            async for batch in self._reader.batches(start_seq=self._seq + 1):
                self.leaves.extend(leaf_hash(raw) for raw in batch.entries)
                self._seq = batch.seq
        return self.leaves


async def answer(reader: AuditReader, cache: LeafCache, old_size: int) -> AddCheckpoint | None:
    """The add-checkpoint body for a witness that cosigned size ``old_size`` (None: no
    checkpoint yet).

    A witness ahead of the log (``old_size`` above the latest size) gets the latest
    checkpoint with no proof: it refuses it as a rollback, as it should.

    Args:
        reader: the live log.
        cache: its leaf hashes, kept between requests.
        old_size: the size the witness cosigned last.

    Raises:
        AuditError: the log holds fewer entries than its checkpoint signed.
    """
    note = await reader.latest_checkpoint()
    if note is None:
        return None
    size = peek_checkpoint(note).size
    proof: list[bytes] = []
    if 0 < old_size < size:
        leaves = await cache.at_least(size)
        proof = consistency_proof(leaves, old_size, size, cache.memo)
    return AddCheckpoint(old_size, tuple(proof), note)


async def serve_witnesses(nc: NatsClient) -> Subscription:
    """Answer the parties' witnesses on ``nc`` (the hub's connection) until it closes."""
    reader = AuditReader(nc.jetstream(timeout=10))
    cache = LeafCache(reader)
    lock = asyncio.Lock()  # one reading of the log at a time

    async def respond(msg: Msg) -> None:
        found = _OLD.fullmatch(msg.data.decode("ascii", errors="replace"))
        if found is None:
            body = f"{ANSWER_ERROR}the request must be 'old <size>'".encode()
        else:
            try:
                async with lock:
                    request = await answer(reader, cache, int(found.group(1)))
                body = request.text().encode() if request is not None else b""
            except (AuditError, nats.errors.Error) as exc:
                log.warning("witness_not_answered", subject=msg.subject, why=str(exc)[:300])
                body = f"{ANSWER_ERROR}{exc}"[:300].encode()
        if msg.reply:
            await msg.respond(body)

    # One group: of several hubs on one cluster, one answers each request.
    return await nc.subscribe(witness_requests(), queue=WITNESS_QUEUE, cb=respond)


@dataclass(frozen=True)
class Refusal:
    """A witness's refusal as stored: who, why, and the size of the checkpoint refused."""

    country: str
    reason: str
    detail: str
    offered_size: int | None
    known_size: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "reason": self.reason,
            "detail": self.detail,
            "offered_size": self.offered_size,
            "known_size": self.known_size,
        }


@dataclass
class WitnessReport:
    """Who witnessed the latest checkpoint, and who refused what."""

    size: int | None  # the latest checkpoint's size (None: no checkpoint)
    parties: int = 0  # the parties of the directory: each may witness
    witnesses: list[str] = field(default_factory=list)  # valid cosignatures of it
    latest_cosigned: dict[str, int] = field(default_factory=dict)  # party → largest size
    forged: list[str] = field(default_factory=list)  # records whose cosignature fails
    refusals: list[Refusal] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint_size": self.size,
            "count": len(self.witnesses),
            "of": self.parties,
            "parties": self.witnesses,
            "latest_cosigned": self.latest_cosigned,
            "forged": self.forged,
            "refusals": [r.to_json() for r in self.refusals],
        }


def _refusal(record: WitnessRecord) -> Refusal:
    try:
        data = json.loads(record.data)
        offered = data.get("offered")
        size = peek_checkpoint(offered).size if isinstance(offered, str) else None
        known = data.get("known_size")
        return Refusal(
            record.country,
            str(data.get("reason", "witness_refused")),
            str(data.get("detail", ""))[:500],
            size,
            known if isinstance(known, int) else None,
        )
    except (ValueError, AttributeError, AuditError):
        return Refusal(record.country, "witness_refused", "unreadable refusal record", None, None)


def party_system_keys(directory: Directory) -> dict[str, list[Ed25519PublicKey]]:
    """Each party's system keys: the keys its witness cosigns with."""
    return {p.code: [k.public_key for k in p.keys] for p in directory.parties}


def witness_report(
    latest_note: str | None,
    records: Iterable[WitnessRecord],
    party_keys: Mapping[str, Sequence[Ed25519PublicKey]],
) -> WitnessReport:
    """Count the parties whose valid cosignature covers ``latest_note``.

    Args:
        latest_note: the latest checkpoint (already verified as the hub's), or None.
        records: what AUDIT_WITNESS holds.
        party_keys: each party's system keys (the directory's); a record of a country
            not here counts for nothing.
    """
    # What a cosignature vouches for is the first three lines (C2SP tlog-cosignature): a
    # checkpoint signed again at the same size (a restart) is witnessed by the earlier one's.
    head = checkpoint_head(split_note(latest_note)[0]) if latest_note else None
    report = WitnessReport(
        peek_checkpoint(latest_note).size if latest_note else None, len(party_keys)
    )
    for record in records:
        if record.kind == "refused":
            report.refusals.append(_refusal(record))
            continue
        note = record.data.decode("utf-8", errors="replace")
        try:
            cosigned = checkpoint_head(split_note(note)[0])
            cp = peek_checkpoint(note)
        except (TlogError, AuditError):
            report.forged.append(record.country)
            continue
        name = cosigner_name(cp.origin, record.country)
        valid = False
        for key in party_keys.get(record.country, ()):
            try:
                valid = open_cosignature(note, name, key) is not None
            except TlogError:
                valid = False
            if valid:
                break
        if not valid:
            report.forged.append(record.country)
            continue
        best = report.latest_cosigned.get(record.country, -1)
        report.latest_cosigned[record.country] = max(best, cp.size)
        if cosigned == head and record.country not in report.witnesses:
            report.witnesses.append(record.country)
    report.witnesses.sort()
    report.forged = sorted(set(report.forged))
    return report
