"""STIX sink: each delivery as a STIX 2.1 bundle file, for CSIRTs' and analysts' tools.

For message ``<id>`` the folder holds::

    <id>.stix.json             the STIX 2.1 bundle (:mod:`adapters.sinks.stix_bundle`)
    signed/<id>.json           what it was made from, as the folder sink writes it: the
    signed/<id>.json.jws       delivered bytes, their signature (or the hub's
    signed/<id>.json.meta      countersignature of a view) and the delivery's metadata

so a recipient can check a bundle's source with ``enlace verify signed/<id>.json`` (the
bundle's ``external_references`` name the SHA-256 of those bytes). The signed files are
written first (by a :class:`~adapters.sinks.folder.FolderSink` of ``signed/``), then the
bundles of the batch, each to a temporary name, made durable and renamed, the renames made
durable (:func:`adapters.sinks._files.write_all`): a ``<id>.stix.json`` is there only when its
signed files are. Both are the idempotency record: a delivery whose bundle and signed files
are there is a duplicate; one whose bundle a crash left unwritten gets it when it comes back
(the bundle is built from the delivery alone, so it is the same bytes).

A delivery whose message cannot be expressed in STIX is dead-lettered with reason
``stix_mapping`` before anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import stix2.exceptions
from pydantic import BaseModel, ConfigDict, Field

from adapters.base import DeliveryResult, SinkContext
from adapters.delivery import Delivery
from adapters.errors import PermanentSinkError
from adapters.sinks._files import sync_folders, write_all
from adapters.sinks._options import parse_options, resolve_path
from adapters.sinks._storage import storage_error
from adapters.sinks.folder import FolderSink
from adapters.sinks.stix_bundle import build_bundle

__all__ = ["SIGNED_FOLDER", "StixOptions", "StixSink", "bundle_bytes"]

SIGNED_FOLDER = "signed"
"""The sub-folder of ``path`` holding each bundle's source, signed (as the folder sink's)."""


class StixOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        description="the folder each delivery is written into as ID.stix.json (a STIX 2.1 "
        "bundle), with what it was made from, signed, in signed/ (relative to the "
        "deployment folder)"
    )


def bundle_bytes(delivery: Delivery) -> bytes:
    """The STIX 2.1 bundle of ``delivery`` as the sink writes it (UTF-8 JSON).

    Raises:
        PermanentSinkError: reason ``stix_mapping``: the message cannot be expressed.
    """
    try:
        bundle = build_bundle(delivery)
    except (KeyError, TypeError, ValueError, stix2.exceptions.STIXError) as err:
        raise PermanentSinkError(
            f"delivery {delivery.message_id} cannot be written as STIX 2.1: {err}",
            reason="stix_mapping",
        ) from None
    text: str = bundle.serialize(pretty=True, ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


class StixSink:
    """Writes each delivery as ``<path>/<id>.stix.json`` (+ its signed source in ``signed/``)."""

    name: ClassVar[str] = "stix"
    options_model: ClassVar[type[BaseModel]] = StixOptions

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._signed = FolderSink(folder / SIGNED_FOLDER)
        self._syncers: ThreadPoolExecutor | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context: SinkContext) -> StixSink:
        opts = parse_options(StixOptions, options, cls.name, context.country)
        return cls(resolve_path(opts.path, context.base_dir))

    async def open(self) -> None:
        await self._signed.open()
        if self._syncers is None:
            self._syncers = ThreadPoolExecutor(2, thread_name_prefix="enlace-stix-fsync")

    def _path(self, message_id: str) -> Path:
        # Only ids the folder sink accepted as file names get here.
        return self.folder / f"{message_id}.stix.json"

    async def already_delivered(self, message_id: str) -> bool:
        # The folder sink refuses an id that is no file name (unsafe_id) before any path.
        signed = await self._signed.already_delivered(message_id)
        return signed and self._path(message_id).is_file()

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        return (await self.deliver_batch([delivery]))[0]

    async def deliver_batch(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        """Write the signed sources (the folder sink's way), then the bundles not yet there."""
        bundles = {d.message_id: bundle_bytes(d) for d in deliveries}  # refuse before writing
        await self._signed.deliver_batch(deliveries)
        paths = {mid: self._path(mid) for mid in bundles}
        fresh = [(paths[mid], data) for mid, data in bundles.items() if not paths[mid].is_file()]
        if self._syncers is None:
            raise RuntimeError("StixSink.open() was not called")
        # Bundles found already written (before a crash or a failed sync) are answered
        # only once their renames are durable: write_all's last sync covers the folder
        # when it writes anything, else the folder is synced on its own.
        found = len(fresh) < len(bundles)
        try:
            await asyncio.to_thread(write_all, fresh, self._syncers)
            if found and not fresh:
                await asyncio.to_thread(sync_folders, [self.folder])
        except OSError as err:
            raise storage_error(err, str(err.filename or self.folder)) from None
        unwritten = {path for path, _ in fresh}
        results = []
        for delivery in deliveries:  # an id twice in a batch: written once, then a duplicate
            path = paths[delivery.message_id]
            results.append(DeliveryResult(str(path), duplicate=path not in unwritten))
            unwritten.discard(path)
        return results

    async def close(self) -> None:
        await self._signed.close()
        if self._syncers is not None:
            self._syncers.shutdown(wait=False)  # a hung fsync must not hang the close
            self._syncers = None
