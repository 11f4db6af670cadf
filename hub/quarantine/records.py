"""Quarantine copies, read one by one by stream sequence (no consumer, nothing changed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from hub.pipeline.quarantine import HDR_ORIGINAL_MSG_ID, HDR_TRUNCATED
from schemas.countersign import sha256_digest
from schemas.subjects import HDR_REASON

__all__ = [
    "QUARANTINE_STREAM",
    "SCAN_WINDOW",
    "CopyFilter",
    "QuarantineCopy",
    "copy_at",
    "find_copy",
    "recent_copies",
]

QUARANTINE_STREAM = "QUARANTINE"
SCAN_WINDOW = 2000
"""The most copies one list or lookup reads, newest first (each is one request)."""


@dataclass(frozen=True)
class QuarantineCopy:
    """One quarantined message: where it is, why, and (held, not shown) its bytes."""

    seq: int
    time: datetime
    country: str
    reason: str
    headers: dict[str, str]
    body: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """The refused message's size (its full size when the copy was truncated)."""
        truncated = self.headers.get(HDR_TRUNCATED, "")
        return int(truncated) if truncated.isdigit() else len(self.body)

    @property
    def truncated(self) -> bool:
        return HDR_TRUNCATED in self.headers

    @property
    def message_id(self) -> str | None:
        """The id it came with (its ``Nats-Msg-Id``), else the ``id`` its JSON claims."""
        original = self.headers.get(HDR_ORIGINAL_MSG_ID)
        if original:
            return original
        try:
            doc = json.loads(self.body)
        except ValueError:  # UnicodeDecodeError is one
            return None
        found = doc.get("id") if isinstance(doc, dict) else None
        return found if isinstance(found, str) else None

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the bytes held (of the kept part, when truncated)."""
        return sha256_digest(self.body)

    def summary(self) -> dict[str, Any]:
        """Metadata only: no byte of the content (the id is the one it claimed)."""
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "country": self.country,
            "reason": self.reason,
            "size": self.size,
            "truncated": self.truncated,
            "message_id": self.message_id,
            "digest": self.digest,
        }


@dataclass(frozen=True)
class CopyFilter:
    """What an operator asks to list: a sender country and/or a reason code."""

    country: str = ""
    reason: str = ""

    def __call__(self, copy: QuarantineCopy) -> bool:
        if self.country and copy.country != self.country:
            return False
        return not (self.reason and copy.reason != self.reason)


def _copy(raw: RawStreamMsg) -> QuarantineCopy:
    headers = {k: str(v) for k, v in (raw.headers or {}).items() if not k.startswith("Nats-")}
    subject = raw.subject or ""
    return QuarantineCopy(
        seq=raw.seq or 0,
        time=raw.time or datetime.fromtimestamp(0, UTC),
        country=subject.rsplit(".", 1)[-1],  # enlace.quarantine.<cc>
        reason=headers.get(HDR_REASON, ""),
        headers=headers,
        body=raw.data or b"",
    )


async def copy_at(js: JetStreamContext, seq: int) -> QuarantineCopy | None:
    """The quarantine copy at ``seq`` (None: no such copy, removed, or no stream yet)."""
    if seq < 1:
        return None
    try:
        return _copy(await js.get_msg(QUARANTINE_STREAM, seq))
    except nats.js.errors.NotFoundError:
        return None


async def _newest_first(js: JetStreamContext, window: int) -> AsyncIterator[QuarantineCopy]:
    try:
        state = (await js.stream_info(QUARANTINE_STREAM)).state
    except nats.js.errors.NotFoundError:
        return  # the hub never ran here: nothing was quarantined
    lowest = max(state.first_seq, state.last_seq - window + 1, 1)
    for seq in range(state.last_seq, lowest - 1, -1):
        copy = await copy_at(js, seq)
        if copy is not None:
            yield copy


async def recent_copies(
    js: JetStreamContext,
    limit: int,
    keep: Callable[[QuarantineCopy], bool] = CopyFilter(),
    window: int = SCAN_WINDOW,
) -> list[QuarantineCopy]:
    """The newest ``limit`` copies that ``keep`` accepts among the newest ``window``.

    Args:
        js: a JetStream context that may get QUARANTINE's messages.
        limit: at most this many, newest first.
        keep: which copies to list (e.g. a :class:`CopyFilter`).
        window: how many of the newest copies are read at most.
    """
    found: list[QuarantineCopy] = []
    async for copy in _newest_first(js, window):
        if keep(copy):
            found.append(copy)
            if len(found) >= limit:
                break
    return found


async def find_copy(js: JetStreamContext, ident: str) -> QuarantineCopy | None:
    """The copy named by ``ident``: a stream sequence (digits), else the newest copy of
    the message of that id (among the newest :data:`SCAN_WINDOW`)."""
    if ident.isdigit():
        return await copy_at(js, int(ident))
    async for copy in _newest_first(js, SCAN_WINDOW):
        if copy.message_id == ident:
            return copy
    return None
