"""JSON Lines sink: one line per delivery appended to one file, fsynced before the ack
(one fsync for a whole batch of lines: :meth:`JsonlSink.deliver_batch`).

Each line is a JSON object::

    {"id": ..., "recipient": ..., "subject": ..., "view": ..., "agreement": ...,
     "original_digest": ..., "digest": ..., "signature": ..., "countersignature": ...,
     "raw": "<the delivered bytes as text, exactly>"}

A correction or retraction is appended like any delivery, its line saying what it amends
(``amendment``, ``amends``, ``original_id``, ``revision``): the file is the history.
``raw`` keeps the exact bytes so the signature can still be checked; parse it for the
message. The file itself is the idempotency record: at open the sink reads the ids
already in it (and cuts off a half-written last line a crash may have left), so a
redelivered message is not appended twice. No separate index can disagree with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import DeliveryResult, SinkContext
from adapters.delivery import Delivery
from adapters.errors import PermanentSinkError
from adapters.sinks._amendments import amendment_of
from adapters.sinks._conditions import conditions_of
from adapters.sinks._files import fsync_dir
from adapters.sinks._options import parse_options, resolve_path
from adapters.sinks._storage import storage_error

__all__ = ["JsonlSink", "read_ids"]


class JsonlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        description="the JSON Lines file to append to (relative to the deployment folder)"
    )


def read_ids(path: Path) -> set[str]:
    """The ids of the complete lines of ``path``; truncates a torn last line."""
    if not path.is_file():
        return set()
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    with path.open("r+b") as fh:
        if end != len(data):
            # A crash mid-append left a partial line: it was never acked, so drop it and
            # let the redelivery write it whole.
            fh.truncate(end)
        # Every line read is answered as a duplicate from now on, receipt and all: on disk
        # first (a crash between an append and its fsync left lines only in the cache).
        os.fsync(fh.fileno())
    fsync_dir(path.parent)
    ids: set[str] = set()
    for line in data[:end].splitlines():
        if line.strip():
            ids.add(json.loads(line)["id"])
    return ids


class JsonlSink:
    """Appends each delivery as one line of ``path``."""

    name: ClassVar[str] = "jsonl"
    options_model: ClassVar[type[BaseModel]] = JsonlOptions

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: set[str] = set()
        self._lock = asyncio.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> JsonlSink:
        opts = parse_options(JsonlOptions, options, cls.name, context.country)
        return cls(resolve_path(opts.path, context.base_dir))

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._ids = await asyncio.to_thread(read_ids, self.path)
        except (ValueError, KeyError, TypeError) as err:
            raise PermanentSinkError(
                f"{self.path} is not a JSON Lines file of Enlace deliveries ({err}); "
                "move it away or point the sink at another file",
                reason="sink_storage",
            ) from None

    async def already_delivered(self, message_id: str) -> bool:
        return message_id in self._ids

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        return (await self.deliver_batch([delivery]))[0]

    async def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        """Append the lines of the deliveries not in the file yet, then fsync it once."""
        async with self._lock:
            fresh: dict[str, bytes] = {}
            results = []
            for delivery in deliveries:
                duplicate = delivery.message_id in self._ids or delivery.message_id in fresh
                if not duplicate:
                    fresh[delivery.message_id] = self._line(delivery)
                results.append(DeliveryResult(str(self.path), duplicate=duplicate))
            if fresh:
                try:
                    await asyncio.to_thread(self._append, b"".join(fresh.values()))
                except OSError as err:
                    raise storage_error(err, str(self.path)) from None
                self._ids.update(fresh)
        return results

    @staticmethod
    def _line(delivery: Delivery) -> bytes:
        try:
            raw = delivery.body.decode("utf-8")
        except UnicodeDecodeError:
            raise PermanentSinkError(
                f"delivery {delivery.message_id} is not UTF-8", reason="not_utf8"
            ) from None
        amendment = amendment_of(delivery)
        record = {
            **delivery.metadata(),
            "conditions": conditions_of(delivery),
            **(amendment.record() if amendment else {}),
            "raw": raw,
        }
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    def _append(self, lines: bytes) -> None:
        new = not self.path.exists()
        with self.path.open("ab") as fh:
            end = fh.tell()
            try:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError:
                # Lines half written would sit before the ones written when they come back.
                with contextlib.suppress(OSError):
                    fh.truncate(end)
                raise
        if new:
            fsync_dir(self.path.parent)

    async def close(self) -> None:
        return None
