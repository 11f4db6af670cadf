"""Counts of the audit log for the Volumes and Adapters pages, kept up to date incrementally.

The first request reads the log of the last 7 days only (from the first AUDIT message
stored since then, found by time, not by reading what comes before); every later request
reads just the AUDIT messages appended since the previous one. What is kept is bounded
whatever the log's size: counts per minute for the last 24 hours and per hour for the
last 7 days, keyed by (received, theme, sender country) and (rejected, reason, sender
country), and the time of the last receipt of each sink.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.audit import AuditReader
from hub.audit.entries import REDELIVERED

__all__ = ["RECEIVED", "REJECTED", "WINDOWS", "AuditTally", "Window"]

RECEIVED = "received"
REJECTED = "rejected"
NO_COUNTRY = "--"
"""The sender country of a rejection whose subject named none."""

_MINUTE = 60
_HOUR = 3600
_KEEP_MINUTES = 24 * _HOUR
_KEEP_HOURS = 7 * 24 * _HOUR
# The kinds folded; other entries (most of the log: routed, governance...) are not parsed.
_COUNTED = (b'"kind":"received"', b'"kind":"rejected"')
_RECEIPTS = (b'"kind":"delivered"', b'"kind":"dead_lettered"')

Key = tuple[str, str, str]
"""(``received``, theme, country) or (``rejected``, reason, country)."""


@dataclass(frozen=True)
class Window:
    """A time window of the Volumes page and the width of its charts' buckets."""

    name: str
    seconds: int
    bucket: int

    def starts(self, now: datetime) -> list[int]:
        """The start (epoch seconds) of each of its buckets, the last one holding ``now``."""
        end = int(now.timestamp())
        last = end - end % self.bucket
        count = self.seconds // self.bucket
        return [last - (count - 1 - i) * self.bucket for i in range(count)]

    @property
    def resolution(self) -> int:
        """The width of the kept counts it is summed from."""
        return _MINUTE if self.seconds <= _KEEP_MINUTES else _HOUR


WINDOWS: dict[str, Window] = {
    "1h": Window("1h", _HOUR, _MINUTE),
    "24h": Window("24h", 24 * _HOUR, 15 * _MINUTE),
    "7d": Window("7d", 7 * 24 * _HOUR, 2 * _HOUR),
}


def _time(data: dict[str, Any]) -> int | None:
    try:
        return int(datetime.fromisoformat(str(data["time"])).timestamp())
    except (KeyError, ValueError):
        return None


@dataclass
class AuditTally:
    """The counts, the last AUDIT sequence folded into them (``cursor``) and a lock."""

    cursor: int = 0
    minutes: Counter[tuple[Key, int]] = field(default_factory=Counter)
    hours: Counter[tuple[Key, int]] = field(default_factory=Counter)
    receipts: dict[tuple[str, str], int] = field(default_factory=dict)
    """(country, sink) → the time (epoch seconds) of the sink's last signed receipt."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, reader: AuditReader, now: datetime | None = None) -> None:
        """Fold in the AUDIT messages appended since the last call (the last 7 days' first).

        Raises:
            AuditStoreError: the log cannot be read now.
        """
        now = now or datetime.now(UTC)
        async with self._lock:
            if self.cursor == 0:
                self.cursor = await reader.seq_since(now - timedelta(seconds=_KEEP_HOURS)) - 1
            async for batch in reader.tail(self.cursor):
                for raw in batch.entries:
                    self.fold(raw)
                self.cursor = batch.seq
            self._prune(int(now.timestamp()))

    def fold(self, raw: bytes) -> None:
        """Count one entry's bytes (entries of other kinds, or unreadable, count nothing)."""
        if not any(marker in raw for marker in (*_COUNTED, *_RECEIPTS)):
            return
        try:
            data = json.loads(raw)
        except ValueError:
            return  # `enlace audit verify` reports it; the counts skip it
        at = _time(data) if isinstance(data, dict) else None
        if at is None:
            return
        kind = data.get("kind")
        if kind in ("delivered", "dead_lettered"):
            sink = (str(data.get("recipient")), str(data.get("sink")))
            self.receipts[sink] = max(at, self.receipts.get(sink, 0))
            return
        country = str(data.get("country") or NO_COUNTRY)
        if kind == RECEIVED and data.get("detail") != REDELIVERED:
            key: Key = (RECEIVED, str(data.get("theme")), country)
        elif kind == REJECTED:
            key = (REJECTED, str(data.get("reason")), country)
        else:
            return
        self.minutes[(key, at - at % _MINUTE)] += 1
        self.hours[(key, at - at % _HOUR)] += 1

    def _prune(self, now: int) -> None:
        for counts, keep in ((self.minutes, _KEEP_MINUTES), (self.hours, _KEEP_HOURS)):
            old = [k for k in counts if k[1] < now - keep - _HOUR]
            for k in old:
                del counts[k]

    def counts(self, window: Window, now: datetime) -> list[tuple[Key, int, int]]:
        """(key, bucket start, count) of every non-zero bucket of ``window`` up to ``now``."""
        end = int(now.timestamp())
        start = window.starts(now)[0]
        source = self.minutes if window.resolution == _MINUTE else self.hours
        found: Counter[tuple[Key, int]] = Counter()
        for (key, at), n in source.items():
            if start <= at <= end:
                found[(key, at - at % window.bucket)] += n
        return [(key, at, n) for (key, at), n in sorted(found.items())]
