"""Folder sink: one file per message, written atomically, its signature beside it.

For message ``<id>`` the folder holds::

    <id>.json            the delivered bytes, exactly (the full message or the view)
    <id>.json.jws        the JWS that vouches for them: the sender's detached JWS over
                         <id>.json (full view), or the hub's countersignature (a view)
    <id>.json.meta       the delivery headers as JSON (view, original digest, agreement, the
                         sender's signature) so a national system can verify offline

A correction is written the same way, beside the original (its own ``<id>.json``, whose
``.meta`` says ``amendment``, ``amends``, ``original_id`` and ``revision``), and the file it
replaces gets a marker ``<amended id>.json.corrected`` naming it; a retraction is written
too and marks the file it withdraws ``<amended id>.json.retracted`` (the reason inside).
Markers are written with the amendment's side files, before its ``<id>.json``.

Each file is written to a temporary name and made durable, the side files are renamed
first and ``<id>.json`` last, then the renames are made durable: for a whole batch at once
(:meth:`FolderSink.deliver_batch`; :func:`adapters.sinks._files.write_all`: one
``syncfs`` before and one after the renames on Linux, else each file and the folder
fsynced).
Readers therefore never see a ``<id>.json`` without its side files; after a crash before
the folder's fsync, the three files are the idempotency record (all three there: written;
any missing: written again, whole, when the delivery comes back). A delivery found all
written is a duplicate, answered (and receipted) only once the folder is synced again:
its renames may not have reached the disk before the crash or the failed sync that
brought it back (:func:`adapters.sinks._files.sync_folders`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import DeliveryResult, SinkContext
from adapters.delivery import Delivery
from adapters.errors import PermanentSinkError
from adapters.sinks._amendments import SinkAmendment, amendment_of
from adapters.sinks._conditions import conditions_of
from adapters.sinks._files import sync_folders, write_all
from adapters.sinks._options import parse_options, resolve_path
from adapters.sinks._storage import storage_error
from schemas.amendments import CORRECTION, RETRACTION

__all__ = ["FolderSink"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


class FolderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        description="the folder each delivery is written into as ID.json with ID.json.jws "
        "and ID.json.meta (relative to the deployment folder)"
    )


class FolderSink:
    """Writes each delivery as ``<path>/<id>.json`` (+ ``.jws``, ``.meta``)."""

    name: ClassVar[str] = "folder"
    options_model: ClassVar[type[BaseModel]] = FolderOptions

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._syncers: ThreadPoolExecutor | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> FolderSink:
        opts = parse_options(FolderOptions, options, cls.name, context.country)
        return cls(resolve_path(opts.path, context.base_dir))

    async def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._syncers is None:
            self._syncers = ThreadPoolExecutor(4, thread_name_prefix="enlace-fsync")

    def _path(self, message_id: str) -> Path:
        # The id becomes a file name: refuse anything that could leave the folder.
        if not _SAFE_ID.fullmatch(message_id):
            raise PermanentSinkError(
                f"message id {message_id!r} cannot be a file name", reason="unsafe_id"
            )
        return self.folder / f"{message_id}.json"

    @staticmethod
    def _written(path: Path) -> bool:
        base = os.fspath(path)
        return all(os.path.isfile(base + suffix) for suffix in ("", ".jws", ".meta"))

    async def already_delivered(self, message_id: str) -> bool:
        return self._written(self._path(message_id))

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        return (await self.deliver_batch([delivery]))[0]

    async def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        """Write each delivery's files durably, then rename them, the batch at once."""
        paths = [self._path(d.message_id) for d in deliveries]
        try:
            return await asyncio.to_thread(self._write_all, paths, deliveries)
        except OSError as err:
            raise storage_error(err, str(err.filename or self.folder)) from None

    def _write_all(self, paths: list[Path], deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        files: list[tuple[Path, bytes]] = []
        sides: list[tuple[Path, bytes]] = []
        batch: set[Path] = set()  # the files of this batch: the same id again is a duplicate
        found = False  # written before this batch: its renames may not be durable yet
        for path, delivery in zip(paths, deliveries, strict=True):
            on_disk = path not in batch and self._written(path)
            found = found or on_disk
            duplicate = path in batch or on_disk
            if not duplicate:
                batch.add(path)
                jws = delivery.signature if delivery.is_full else delivery.countersignature
                amendment = amendment_of(delivery)
                record = {
                    **delivery.metadata(),
                    "conditions": conditions_of(delivery),
                    **(amendment.record() if amendment else {}),
                }
                meta = json.dumps(record, indent=2, sort_keys=True).encode()
                sides += [
                    (_side(path, ".jws"), (jws or "").encode("ascii")),
                    (_side(path, ".meta"), meta),
                ]
                if amendment is not None:
                    sides.append(self._marker(delivery, amendment))
                files.append((path, delivery.body))
            results.append(DeliveryResult(str(path), duplicate=duplicate))
        # Side files are renamed before any <id>.json: a reader never sees one without them.
        if self._syncers is None:
            raise RuntimeError("FolderSink.open() was not called")
        write_all(sides + files, self._syncers)
        if found and not files:  # with new files, write_all's last sync covered the folder
            sync_folders([self.folder])
        return results

    def _marker(self, delivery: Delivery, amendment: SinkAmendment) -> tuple[Path, bytes]:
        """The file beside the amended message that says it was corrected or withdrawn."""
        mark = {CORRECTION: ".corrected", RETRACTION: ".retracted"}[amendment.kind]
        doc = {**amendment.record(), "by": delivery.message_id}
        payload = delivery.message.get("payload")
        if amendment.kind == RETRACTION and isinstance(payload, dict):
            doc.update(reason=payload.get("reason"), detail=payload.get("detail"))
        body = json.dumps(doc, indent=2, sort_keys=True).encode()
        return _side(self._path(amendment.amends), mark), body

    async def close(self) -> None:
        if self._syncers is not None:
            self._syncers.shutdown(wait=False)  # a hung fsync must not hang the close
            self._syncers = None
