"""Folder sink: one file per message, written atomically, its signature beside it.

For message ``<id>`` the folder holds::

    <id>.json            the delivered bytes, exactly (the full message or the view)
    <id>.json.jws        the JWS that vouches for them: the sender's detached JWS over
                         <id>.json (full view), or the hub's countersignature (a view)
    <id>.json.meta       the delivery headers as JSON (view, original digest, agreement, the
                         sender's signature) so a national system can verify offline

Side files are written first and ``<id>.json`` last (temp + fsync + rename + fsync of the
folder), so a message file that exists is complete and verifiable: its existence is the
idempotency record.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import DeliveryResult, SinkContext
from adapters.delivery import Delivery
from adapters.errors import PermanentSinkError, TransientSinkError
from adapters.sinks._files import atomic_write
from adapters.sinks._options import parse_options, resolve_path

__all__ = ["FolderSink"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Out of space, quota, read-only: an operator must act; retrying soon will not help.
_PERMANENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


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

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> FolderSink:
        opts = parse_options(FolderOptions, options, cls.name, context.country)
        return cls(resolve_path(opts.path, context.base_dir))

    async def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, message_id: str) -> Path:
        # The id becomes a file name: refuse anything that could leave the folder.
        if not _SAFE_ID.fullmatch(message_id):
            raise PermanentSinkError(
                f"message id {message_id!r} cannot be a file name", reason="unsafe_id"
            )
        return self.folder / f"{message_id}.json"

    async def already_delivered(self, message_id: str) -> bool:
        return self._path(message_id).is_file()

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        path = self._path(delivery.message_id)
        if path.is_file():
            return DeliveryResult(str(path), duplicate=True)
        try:
            await asyncio.to_thread(self._write, path, delivery)
        except OSError as err:
            if err.errno in _PERMANENT_ERRNOS:
                raise PermanentSinkError(
                    f"cannot write {path}: {err.strerror}", reason="sink_storage"
                ) from None
            raise TransientSinkError(f"cannot write {path}: {err.strerror}") from None
        return DeliveryResult(str(path))

    @staticmethod
    def _write(path: Path, delivery: Delivery) -> None:
        jws = delivery.signature if delivery.is_full else delivery.countersignature
        meta = delivery.metadata()
        atomic_write(path.with_name(path.name + ".jws"), (jws or "").encode("ascii"))
        meta_bytes = json.dumps(meta, indent=2, sort_keys=True).encode()
        atomic_write(path.with_name(path.name + ".meta"), meta_bytes)
        atomic_write(path, delivery.body)

    async def close(self) -> None:
        return None
