"""Replay and duplicate refusal: the acceptance window and the ids the hub has accepted.

JetStream's duplicate window (minutes) is not enough against replay: a captured signed
message could be published again hours later. So the hub

- refuses a message whose ``issued_at`` is older than the acceptance window (default 24 h)
  or later than now + the allowed clock skew (default 5 min), and
- keeps every accepted id for at least as long as a message with that id could still be
  accepted (window + skew), and refuses an id it has seen. By default (``seen_ids:
  bucket``) :class:`SeenIds` claims the id in the routes bucket (``enlace_routes``, no
  TTL): the claim's value is the message's routing record
  (:class:`hub.pipeline.amendments.RoutedRecord`), which corrections and retractions read,
  so the claim and the record are one synced write. With ``seen_ids: audit`` the
  message's ``received`` audit entry is the claim and the audit writer the arbiter
  (:mod:`hub.audit.seen`, :class:`hub.pipeline.audit_hook.AuditSeenIds`). Earlier
  versions claimed in ``enlace_seen`` (TTL: the window); a hub reads what is left there at
  start and holds it too.

The claim names the ingress message that was accepted, its stream and sequence
(:func:`hub.pipeline.checks.ingress_ref`, e.g. ``INGRESS_GT-42``): when JetStream redelivers that
same message (the hub crashed before acking), the hub knows it is its own redelivery, not a
replay, and finishes it; the writes it repeats carry the same ``Nats-Msg-Id`` and JetStream
keeps each once. The stream matters: each country has its own ingress stream, so GT's
message 42 and HN's message 42 are two messages, and a replay of GT's id by HN must not
pass for a redelivery. A bare sequence (the one INGRESS stream of earlier versions) reads
as ``in<seq>``, that stream's name for its messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from nats.js import JetStreamContext
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from hub.errors import DuplicateMessage, MessageFromFuture, MessageTooOld
from hub.jetstream.streams import SEEN_BUCKET
from hub.jetstream.writer import JetStreamWriter, Write
from schemas.govdoc import rfc3339
from schemas.subjects import HDR_EXPECTED_LAST_SUBJECT_SEQ, JS_WRONG_LAST_SEQUENCE

if TYPE_CHECKING:
    from hub.pipeline.amendments import RoutedRecord
    from hub.pipeline.checks import Checked

__all__ = [
    "SeenIdStore",
    "SeenIds",
    "amended_since",
    "check_window",
    "duplicate",
    "kv_claims",
    "kv_entry",
    "kv_key",
    "kv_text",
    "record_bytes",
    "refresh_record",
]

_AMENDMENT_MARKS = ("superseded_by", "retracted_by")
_RELEASE_TRIES = 3


class SeenIdStore(Protocol):
    """Where the pipeline claims each id it accepts: the routes bucket (:class:`SeenIds`)
    or the audit log (:class:`hub.pipeline.audit_hook.AuditSeenIds`)."""

    @property
    def keeps_routes(self) -> bool:
        """Whether a claim keeps the message's routing record (no write of its own)."""

    async def admit(self, item: Checked, routed: RoutedRecord) -> bool:
        """Claim the id of ``item`` (it passed every check); True for a redelivery.

        Args:
            item: the message.
            routed: its routing record, naming ``item``'s ingress message (serialised
                only by a store that keeps it).

        Raises:
            DuplicateMessage: another ingress message holds the id.
        """

    async def release(self, message_id: str, ingress: str) -> bool:
        """Forget ``message_id`` if ``ingress`` holds it (the hub gave up on it)."""


def duplicate(message_id: str) -> DuplicateMessage:
    """The refusal of a message whose id was accepted before under another message."""
    return DuplicateMessage(
        f"message id {message_id} was already accepted; a message is accepted "
        "once (a new report needs a new id)",
        message_id,
    )


def _ref(value: str) -> str:
    # Earlier versions stored the bare sequence in their one INGRESS stream.
    return f"in{value}" if value.isdigit() else value


def _holder(value: bytes | None) -> str | None:
    """The ingress message a claim names: a routing record's ``ingress``, or the plain name
    an earlier version stored (None: no claim, a record of an earlier version, which names
    none, or a released one, which nobody holds)."""
    if not value:
        return None
    if not value.startswith(b"{"):
        return _ref(value.decode(errors="replace"))
    doc = _record(value)
    ingress = None if doc is None or doc.get("released") else doc.get("ingress")
    return ingress if isinstance(ingress, str) else None


def _record(value: bytes | None) -> dict[str, Any] | None:
    """A routing record's JSON object (None: not one, e.g. an earlier version's claim)."""
    if not value or not value.startswith(b"{"):
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def record_bytes(doc: dict[str, Any]) -> bytes:
    """A routing record's bytes: keys sorted, compact, UTF-8 (orjson: ~7 times faster than
    the json module, which escaped non-ASCII in records of earlier versions; both read back
    the same). :meth:`RoutedRecord.to_json` writes them too."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _amended(value: bytes | None) -> bool:
    """Whether ``value`` is a routing record a correction or retraction has marked."""
    doc = _record(value)
    return doc is not None and any(doc.get(mark) for mark in _AMENDMENT_MARKS)


def amended_since(message_id: str) -> DuplicateMessage:
    """The refusal of an id the hub gave up on and whose sender has amended it since."""
    return DuplicateMessage(
        f"message id {message_id} is taken: the hub gave up on a message with this id, "
        "which its sender has corrected or retracted since; send a new report with a new id",
        message_id,
    )


def _released(value: bytes | None) -> bool:
    """Whether ``value`` is a routing record whose id was released (:meth:`SeenIds.release`)."""
    doc = _record(value)
    return doc is not None and doc.get("released") is True


async def kv_claims(js: JetStreamContext, bucket: str) -> list[tuple[str, str]]:
    """Every claim in ``bucket`` (key, ingress message): what an earlier version left.

    Read once at start, message by message (one request each, no consumer: the hub's
    login answers flow control for the audit streams only); the bucket's TTL empties it
    within one window of an upgrade, after which this is one stream-info request.

    Args:
        js: the hub's JetStream context.
        bucket: the bucket (``enlace_seen``).
    """
    stream, prefix = f"KV_{bucket}", f"$KV.{bucket}."
    state = (await js.stream_info(stream)).state
    claims: dict[str, str] = {}
    seq = state.first_seq if state.messages else state.last_seq + 1
    while seq <= state.last_seq:
        try:
            msg = await js.get_msg(stream, seq, subject=f"{prefix}>", next=True)
        except NotFoundError:  # nothing at or after seq (expired meanwhile)
            break
        key = (msg.subject or "").removeprefix(prefix)
        if (msg.headers or {}).get("KV-Operation") or not msg.data:  # deleted or purged
            claims.pop(key, None)
        else:
            claims[key] = _ref(msg.data.decode(errors="replace"))
        seq = (msg.seq or seq) + 1
    return list(claims.items())


def check_window(
    message_id: str, issued_at: datetime, now: datetime, window: timedelta, skew: timedelta
) -> None:
    """Refuse a message issued before ``now - window`` or after ``now + skew``.

    Args:
        message_id: its id, for the refusal's sentence.
        issued_at: its ``issued_at``.
        now: the hub's time.
        window: the acceptance window (``acceptance_window``).
        skew: the clock skew allowed into the future (``clock_skew``).

    Raises:
        MessageTooOld: issued before the window.
        MessageFromFuture: issued after now plus the skew.
    """
    if issued_at < now - window:
        raise MessageTooOld(
            f"message {message_id} was issued at {rfc3339(issued_at)}, more than "
            f"{window} before the hub received it; send a new message with a new id",
            message_id,
        )
    if issued_at > now + skew:
        raise MessageFromFuture(
            f"message {message_id} is issued at {rfc3339(issued_at)}, more than {skew} "
            f"after the hub's clock ({rfc3339(now)}); check the sending system's clock",
            message_id,
        )


# JetStream's "wrong last sequence" (JSStreamWrongLastSequenceErr and its constant form):
# the key holds a value (or the tombstone of a deleted one).
_WRONG_LAST_SEQUENCE = (JS_WRONG_LAST_SEQUENCE, 10164)
_KEY_AS_IS = re.compile(r"[A-Za-z0-9_-]*")


def kv_key(message_id: str) -> str:
    """A KV key for a message id (ids are ULIDs or UUIDs: letters, digits and dashes)."""
    if _KEY_AS_IS.fullmatch(message_id):  # every valid id: one match, no loop per character
        return message_id
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in message_id)


async def kv_entry(kv: KeyValue, key: str) -> KeyValue.Entry | None:
    """What ``kv`` holds at ``key``; None when it holds nothing."""
    try:
        return await kv.get(key)
    except KeyNotFoundError:
        return None


async def kv_text(kv: KeyValue, message_id: str) -> str | None:
    """What ``kv`` holds for ``message_id`` as text; None when it holds nothing."""
    entry = await kv_entry(kv, kv_key(message_id))
    return entry.value.decode(errors="replace") if entry is not None and entry.value else None


async def refresh_record(kv: KeyValue, key: str, entry: KeyValue.Entry, value: bytes) -> None:
    """A redelivery's routing record, as the hub decides now (a reload may have changed
    the routes), over the one its first try wrote, the marks of its amendments kept;
    written only if it changed, expecting the revision read.

    Written by the claim (or, with ``seen_ids: audit``, before the deliveries), not blind
    beside the deliveries: such a write raced with :meth:`SeenIds.release` when the hub
    gave up on the message (the record stayed held) and dropped a correction's
    ``superseded_by``.

    Args:
        kv: the routes bucket.
        key: the message's key there.
        entry: what ``key`` held when read.
        value: the record as the hub decides now.

    Raises:
        KeyWrongLastSequenceError: the record changed since it was read (the message is
            tried again).
    """
    stored, fresh = _record(entry.value), _record(value)
    if stored is None or fresh is None:
        return  # a plain claim (enlace_seen, or no record given): nothing to refresh
    merged = fresh | {k: stored[k] for k in _AMENDMENT_MARKS if stored.get(k)}
    if merged != stored:
        await kv.update(key, record_bytes(merged), last=entry.revision)


class SeenIds:
    """The ids the hub has accepted, claimed in a key-value bucket.

    One write per message: :meth:`claim` creates the key (the server refuses to create it
    twice), before any delivery is written. The value names the ingress message (stream
    and sequence) that claimed it, so a redelivery of that same message (the hub failed
    before acking) is told apart from a replay, in any stream. With ``routes`` the bucket
    is ``enlace_routes`` and the value the message's routing record, which names it.

    Args:
        kv: the bucket.
        writer: the hub's writer (the common create, cheaper than nats-py's).
        bucket: ``kv``'s name.
        routes: the claim's value is the routing record (:attr:`keeps_routes`).
        earlier: claims an earlier version left in ``enlace_seen`` (id → ingress).
    """

    def __init__(
        self,
        kv: KeyValue,
        writer: JetStreamWriter | None = None,
        bucket: str = SEEN_BUCKET,
        *,
        routes: bool = False,
        earlier: Mapping[str, str] | None = None,
    ) -> None:
        self._kv = kv
        self._writer = writer
        self._subject = f"$KV.{bucket}."  # the bucket ``kv`` is
        self._routes = routes
        self._earlier = dict(earlier or {})

    @property
    def keeps_routes(self) -> bool:
        """Whether a claim is the message's routing record."""
        return self._routes

    async def accepted_as(self, message_id: str) -> str | None:
        """The ingress message that claimed ``message_id``
        (:func:`hub.pipeline.checks.ingress_ref`)."""
        held = self._earlier.get(message_id)
        if held is not None:
            return held
        entry = await self._entry(kv_key(message_id))
        return _holder(entry.value if entry else None)

    async def admit(self, item: Checked, routed: RoutedRecord) -> bool:
        """:meth:`claim` the id of ``item`` (:class:`SeenIdStore`).

        Raises:
            DuplicateMessage: the id was accepted before under another ingress message.
        """
        if item.envelope is None:
            raise ValueError("only a message that passed the checks is claimed")
        value = routed.to_json() if self._routes else None
        return await self.claim(item.envelope.id, item.ref, value)

    async def claim(self, message_id: str, ingress: str, value: bytes | None = None) -> bool:
        """Claim ``message_id`` for ingress message ``ingress``; True if it already was.

        True means a redelivery of the same ingress message: its writes may have been made
        already, and are made again (JetStream de-duplicates them by ``Nats-Msg-Id``). A
        routing record whose id was released (:meth:`release`) is taken over.

        Args:
            message_id: the envelope's id.
            ingress: the message's stream and sequence (:func:`hub.pipeline.checks.ingress_ref`).
            value: what the key holds (it must name ``ingress``); by default ``ingress``.

        Raises:
            DuplicateMessage: the id was accepted before under another ingress message.
        """
        held = self._earlier.get(message_id)
        if held is None:
            key, value = kv_key(message_id), value or ingress.encode()
            try:
                await self._create(key, value)
                return False
            except KeyWrongLastSequenceError:
                entry = await self._entry(key)
            if entry is not None and _released(entry.value) and not _amended(entry.value):
                try:  # the id is free again: take the record over, unless another did
                    await self._kv.update(key, value, last=entry.revision)
                    return False
                except KeyWrongLastSequenceError:
                    entry = await self._entry(key)
            held = _holder(entry.value if entry else None)
            if held is None and entry is not None and _amended(entry.value):
                raise amended_since(message_id)
            if held == ingress and entry is not None:
                await refresh_record(self._kv, key, entry, value)
        elif held == ingress and value is not None and self._routes:
            await self._keep_record(kv_key(message_id), value)
        if held != ingress:
            raise duplicate(message_id) from None
        return True

    async def _keep_record(self, key: str, value: bytes) -> None:
        """The routing record of a redelivery whose id an earlier version claimed (in
        ``enlace_seen``): written if it is missing, refreshed if it is there."""
        try:
            await self._create(key, value)
        except KeyWrongLastSequenceError:
            entry = await self._entry(key)
            if entry is not None:
                await refresh_record(self._kv, key, entry, value)

    async def _entry(self, key: str) -> KeyValue.Entry | None:
        return await kv_entry(self._kv, key)

    async def _create(self, key: str, value: bytes) -> None:
        """``kv.create``: first as one write of the hub's writer (the common case, an id
        never seen: ~0.05 ms of CPU less than nats-py's publish path), then, when the key
        holds something, through nats-py, which tells a deleted key (created again) from
        a held one (:class:`KeyWrongLastSequenceError`)."""
        if self._writer is not None:
            expect_none = {HDR_EXPECTED_LAST_SUBJECT_SEQ: "0"}
            try:
                await self._writer.write([Write(self._subject + key, value, expect_none)])
                return
            except APIError as err:
                if err.err_code not in _WRONG_LAST_SEQUENCE:
                    raise
        await self._kv.create(key, value)

    async def release(self, message_id: str, ingress: str) -> bool:
        """Free ``message_id`` if ingress message ``ingress`` claimed it (a message the
        hub gave up on may be sent again); another message's claim is kept.

        A routing record stays, marked ``released``: the hub may have delivered the message
        to some of its recipients before it gave up, and its sender can still correct or
        retract it there. The next message with the id takes the record over
        (:meth:`claim`), unless the record was corrected or retracted since: the id then
        stays taken (a message sent again under it would start a second version 1 of a
        chain its recipients have seen amended). A plain claim (``enlace_seen``) is deleted.
        """
        key = kv_key(message_id)
        for _ in range(_RELEASE_TRIES):
            entry = await self._entry(key)  # read once: who holds it, and what to keep
            value = entry.value if entry else None
            if (self._earlier.get(message_id) or _holder(value)) != ingress:
                return False
            self._earlier.pop(message_id, None)
            if entry is None:
                return True
            doc = _record(value)
            if doc is None:
                await self._kv.delete(key)
                return True
            try:
                released = record_bytes(doc | {"released": True})
                await self._kv.update(key, released, last=entry.revision)
                return True
            except KeyWrongLastSequenceError:
                continue  # changed since read (an amendment's mark): read it again
        return False
