"""Corrections and retractions: routed to exactly the parties that received the original.

A correction or retraction (:mod:`schemas.amendments`) is not routed by the agreements in
force: it goes to the parties that received the message it amends, each in the view it
received, under the agreement that carried it then, even if that agreement has expired or
changed since, and to nobody else. What the hub decided for that message is kept in a
key-value bucket, :data:`ROUTES_BUCKET` (message id → sender, theme, type, version,
recipients with their view specs, and the ingress message it came in). With ``seen_ids:
bucket`` the record *is* the claim of the message's id (:class:`hub.pipeline.replay.SeenIds`:
one create before the deliveries, no write of its own); with ``seen_ids: audit`` it is
written in the same round trip as the deliveries and audit entries. The audit log says the
same (its ``routed`` entries), but finding one message there means reading the whole log;
the bucket is the log's index for this one question, one lookup per amendment. Only a
record with recipients can be amended: a claim of a message delivered to nobody, or of a
retraction, holds none.

The checks, each refused with a reason code (:class:`hub.errors.AmendmentRefused`):

- the message amended is known to the hub (``amend_unknown``);
- it was sent by the amending message's country (``amend_not_sender``);
- same theme, and a correction has the same type (``amend_mismatch``);
- it is the latest version and not withdrawn (``amend_closed``): versions form a chain,
  not a tree.

A correction gets a record of its own (the next version of the same chain), so it can be
corrected in turn; the record it supersedes, or the one a retraction withdraws, is
rewritten to say so (:meth:`AmendmentIndex.mark`), before the amendment's claim and
deliveries, expecting the revision its plan read: of two amendments of one version handled
at once (two workers, two hub processes), the first to mark it passes and the other is
refused ``amend_closed``, so a chain never forks. A redelivery of the same amendment finds
its own id there and passes. An amendment refused at its claim after its mark (its id was
accepted before as another message: an id its sender used twice) leaves the mark; its
sender amends the amending message's id instead.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from hub.errors import AmendsClosed, AmendsForeign, AmendsMismatch, AmendsUnknown
from hub.jetstream.writer import Write
from hub.pipeline.replay import kv_entry, kv_key, record_bytes, refresh_record
from hub.policy import Decision, Refusal, Route
from hub.policy.decide import REASONS
from hub.policy.model import FULL_VIEW, ViewSpec
from schemas.amendments import (
    CORRECTION,
    HDR_AMENDMENT,
    HDR_AMENDS,
    HDR_ORIGINAL_ID,
    HDR_VERSION,
    AmendmentKind,
    amended_id,
    amendment_kind,
)
from schemas.envelope import Envelope

__all__ = ["ROUTES_BUCKET", "Amendment", "AmendmentIndex", "RoutedRecord"]

NOT_RECIPIENT = "not_amended_recipient"
"""The routing reason of a party an amendment does not reach (it had not the original)."""

ROUTES_BUCKET = "enlace_routes"
"""Message id → what the hub routed (:class:`RoutedRecord`); kept without a TTL."""
_MARK_TRIES = 3


@functools.lru_cache(maxsize=256)
def _view_json(view: ViewSpec) -> orjson.Fragment:
    """A view as a record writes it (keys sorted), written once per view, not per message."""
    return orjson.Fragment(record_bytes(view.model_dump(mode="json")))


@dataclass(frozen=True)
class RoutedRecord:
    """What the hub decided for one delivered message, as an amendment of it needs it.

    Attributes:
        message_id: the message.
        sender: its sender's country.
        theme: its theme.
        type: its type.
        original: the first version of its chain (itself for an original).
        version: 1 for an original, n + 1 for a correction of version n.
        routes: who received it, in which view, under which agreement and flow.
        superseded_by: the correction that replaced it, if one did.
        retracted_by: the retraction that withdrew it, if one did.
        ingress: the ingress message it came in (:func:`hub.pipeline.checks.ingress_ref`;
            None in records of earlier versions), which holds its id.
        released: the hub gave up on it (``hub_error``) after it claimed the id: its
            routes are kept, as some may have received it, and the id is free again
            (:meth:`hub.pipeline.replay.SeenIds.release`).
    """

    message_id: str
    sender: str
    theme: str
    type: str
    original: str
    version: int
    routes: tuple[Route, ...]
    superseded_by: str | None = None
    retracted_by: str | None = None
    ingress: str | None = None
    released: bool = False

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "sender": self.sender,
            "theme": self.theme,
            "type": self.type,
            "original": self.original,
            "version": self.version,
            "routes": [
                {
                    "recipient": r.recipient,
                    "view": _view_json(r.view),
                    "agreement": r.agreement,
                    "flow": r.flow,
                    "flow_name": r.flow_name,
                }
                for r in self.routes
            ],
            "superseded_by": self.superseded_by,
            "retracted_by": self.retracted_by,
        }
        if self.ingress is not None:
            doc["ingress"] = self.ingress
        if self.released:
            doc["released"] = True
        return record_bytes(doc)

    @classmethod
    def from_json(cls, message_id: str, raw: bytes) -> RoutedRecord:
        doc = json.loads(raw)
        routes = tuple(
            Route(
                recipient=r["recipient"],
                view=ViewSpec.model_validate(r["view"]),
                agreement=r["agreement"],
                flow=int(r["flow"]),
                flow_name=r["flow_name"],
            )
            for r in doc["routes"]
        )
        return cls(
            message_id=message_id,
            sender=doc["sender"],
            theme=doc["theme"],
            type=doc["type"],
            original=doc["original"],
            version=int(doc["version"]),
            routes=routes,
            superseded_by=doc.get("superseded_by"),
            retracted_by=doc.get("retracted_by"),
            ingress=doc.get("ingress"),
            released=doc.get("released") is True,
        )


@dataclass(frozen=True)
class Amendment:
    """An amendment the hub will route: what it amends and to whom it goes.

    Attributes:
        kind: ``correction`` or ``retraction``.
        amends: the record of the message it corrects or withdraws.
        decision: its routes: the amended message's recipients, each in the view it
            received (a correction; a retraction, which holds nothing of the original,
            goes in full).
        revision: the revision of ``amends`` in the bucket when it was read: its mark
            is written expecting it (:meth:`AmendmentIndex.mark`).
    """

    kind: AmendmentKind
    amends: RoutedRecord
    decision: Decision
    revision: int = 0

    @property
    def version(self) -> int:
        """A correction's version; for a retraction, the version it withdraws."""
        return self.amends.version + (1 if self.kind == CORRECTION else 0)

    @property
    def headers(self) -> dict[str, str]:
        """What each delivery says of the chain, beside the signed body."""
        return {
            HDR_AMENDMENT: self.kind,
            HDR_AMENDS: self.amends.message_id,
            HDR_ORIGINAL_ID: self.amends.original,
            HDR_VERSION: str(self.version),
        }


class AmendmentIndex:
    """The :data:`ROUTES_BUCKET` bucket: looks amended messages up, and says what to write.

    Args:
        kv: the bucket (the hub creates it at start).
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def record(self, message_id: str) -> RoutedRecord | None:
        """What the hub routed for ``message_id`` (None: nothing, or nobody received it)."""
        read = await self._read(message_id)
        return None if read is None else read[0]

    async def _read(self, message_id: str) -> tuple[RoutedRecord, int] | None:
        """:meth:`record` and its revision in the bucket."""
        entry = await kv_entry(self._kv, kv_key(message_id))
        if entry is None or not entry.value:
            return None
        record = RoutedRecord.from_json(message_id, entry.value)
        return (record, entry.revision or 0) if record.routes else None

    async def plan(self, envelope: Envelope, parties: Iterable[str]) -> Amendment | None:
        """The routing of ``envelope`` if it amends a message (None: it amends nothing).

        Every other party of ``parties`` (the directory's) is on the record as not reached:
        ``sender_self``, or ``not_amended_recipient``.

        Raises:
            AmendsUnknown: it names a message the hub did not deliver to anyone.
            AmendsForeign: it names a message another country sent.
            AmendsMismatch: another theme (a correction: or another type) than the original.
            AmendsClosed: the message named was corrected since, or withdrawn.
        """
        kind = amendment_kind(envelope)
        target = amended_id(envelope)
        if kind is None or target is None:
            return None
        read = await self._read(target) if target != envelope.id else None
        if read is None:
            raise _unknown(kind, envelope, target)
        record, revision = read
        if record.sender != envelope.sender.country:
            raise AmendsForeign(
                f"{kind} {envelope.id} names message {target}, which "
                f"{envelope.sender.country} did not send: only the original sender's "
                "country may correct or retract a message",
                envelope.id,
                target,
            )
        _check_same(kind, envelope, record)
        _check_open(kind, envelope, record)
        full = kind != CORRECTION
        routes = [replace(r, view=FULL_VIEW) if full else r for r in record.routes]
        reached = {r.recipient for r in routes}
        excluded = [
            Refusal(cc, why, REASONS[why])
            for cc in parties
            if cc not in reached
            for why in ["sender_self" if cc == envelope.sender.country else NOT_RECIPIENT]
        ]
        decision = Decision(envelope.id, recipients=routes, excluded=excluded)
        return Amendment(kind, record, decision, revision)

    async def mark(self, envelope: Envelope, amendment: Amendment) -> None:
        """Mark the version ``envelope`` amends as superseded or withdrawn by it, expecting
        the revision its plan read; nothing to write when the mark is its own already (a
        redelivery). When the record changed since, read again: still open, marked again;
        marked by another amendment meanwhile, refused.

        Raises:
            AmendsClosed: another amendment marked the version first.
            AmendsUnknown: the record is gone (it is never deleted: a bucket purged by hand).
            KeyWrongLastSequenceError: it kept changing (the message is tried again).
        """
        kind, record, revision = amendment.kind, amendment.amends, amendment.revision
        for _ in range(_MARK_TRIES):
            if envelope.id in (record.superseded_by, record.retracted_by):
                return
            if kind == CORRECTION:
                marked = replace(record, superseded_by=envelope.id)
            else:
                marked = replace(record, retracted_by=envelope.id)
            key = kv_key(record.message_id)
            try:
                await self._kv.update(key, marked.to_json(), last=revision)
                return
            except KeyWrongLastSequenceError:
                read = await self._read(record.message_id)
            if read is None:
                raise _unknown(kind, envelope, record.message_id)
            record, revision = read
            _check_open(kind, envelope, record)
        raise KeyWrongLastSequenceError(description=f"record {record.message_id} kept changing")

    def own_record(
        self, envelope: Envelope, decision: Decision, amendment: Amendment | None, ingress: str
    ) -> RoutedRecord:
        """The record of ``envelope`` itself, routed by ``decision``, as ``ingress`` holds it.

        An original's routes are its recipients; a correction is the next version of its
        chain, with the routes it amends; a retraction holds no routes (it is not amended
        in turn). Without routes the record is only the claim of the id.

        Args:
            envelope: the message routed.
            decision: who receives it.
            amendment: what it amends (None: it amends nothing).
            ingress: the ingress message it came in (:func:`hub.pipeline.checks.ingress_ref`).
        """
        chain: tuple[str, int, tuple[Route, ...]]  # its original, version and routes
        if amendment is None:
            chain = (envelope.id, 1, tuple(decision.recipients))
        elif amendment.kind != CORRECTION:  # a retraction is amended by nothing
            chain = (amendment.amends.original, amendment.version, ())
        else:
            # A redelivered correction finds the version it supersedes marked already:
            # the marks are the superseded record's, never the new version's.
            return replace(
                amendment.amends,
                message_id=envelope.id,
                version=amendment.version,
                superseded_by=None,
                retracted_by=None,
                ingress=ingress,
                released=False,
            )
        sender, theme = envelope.sender.country, envelope.theme.value
        return RoutedRecord(envelope.id, sender, theme, envelope.type, *chain, ingress=ingress)

    async def own_writes(self, own: RoutedRecord, *, again: bool) -> list[Write]:
        """The write of a message's own record beside its deliveries, where its id's claim
        did not write it (``seen_ids: audit``); none for a record without routes.

        A redelivery's record (``again``) is refreshed here instead, expecting the revision
        read and keeping the marks of its amendments (:func:`hub.pipeline.replay.refresh_record`):
        written blind, it would drop the mark of a correction made meanwhile.

        Raises:
            KeyWrongLastSequenceError: a redelivery's record changed since it was read.
        """
        if not own.routes:
            return []
        key = kv_key(own.message_id)
        if again:
            entry = await kv_entry(self._kv, key)
            if entry is not None:
                await refresh_record(self._kv, key, entry, own.to_json())
                return []
        return [Write(f"$KV.{ROUTES_BUCKET}.{key}", own.to_json(), {})]


def _unknown(kind: str, envelope: Envelope, target: str) -> AmendsUnknown:
    return AmendsUnknown(
        f"{kind} {envelope.id} names message {target}, which the hub did not deliver "
        "to anyone: check the id (the outcome of the original names it)",
        envelope.id,
        target,
    )


def _check_same(kind: str, envelope: Envelope, record: RoutedRecord) -> None:
    if record.theme != envelope.theme.value:
        what = f"theme {envelope.theme.value}, not {record.theme}"
    elif kind == CORRECTION and record.type != envelope.type:
        what = f"type {envelope.type}, not {record.type}"
    else:
        return
    raise AmendsMismatch(
        f"{kind} {envelope.id} of message {record.message_id} has {what}: a correction "
        "keeps the original's theme and type, a retraction travels under its theme",
        envelope.id,
        record.message_id,
    )


def _check_open(kind: str, envelope: Envelope, record: RoutedRecord) -> None:
    # The amendment's own mark (a redelivery of it) does not close the record to it.
    retracted = record.retracted_by not in (None, envelope.id)
    superseded = record.superseded_by not in (None, envelope.id)
    if not (retracted or superseded):
        return
    if retracted:
        why = f"was withdrawn by retraction {record.retracted_by}"
    else:
        why = (
            f"was corrected by {record.superseded_by}; correct or retract the latest "
            "version of the chain"
        )
    raise AmendsClosed(
        f"{kind} {envelope.id} names message {record.message_id}, which {why}",
        envelope.id,
        record.message_id,
        record.superseded_by,
    )
