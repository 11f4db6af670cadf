"""Watched folder: a national system drops JSON files in; each is signed and published.

::

    <folder>/x.json              dropped in (write it as .x.json.tmp and rename: dot files
                                 and *.tmp are ignored, so a half-written file is never read)
    <folder>/sent/x.json         published (and x.json.jws, the signature used); with
                                 ``wait``, delivered to at least one country
    <folder>/undelivered/x.json  (with ``wait``) accepted by the hub but delivered to nobody;
                                 x.json.reason says why for each party, one line each:
                                 "<CC>: <reason code>: <detail>", after the hub's sentence
    <folder>/failed/x.json       refused, with x.json.reason: "<reason code>: <what to do>"

Every file is completed (``id``, ``issued_at``, ``sender``) and validated exactly as the
HTTP gateway does, for the one point of contact this folder belongs to. Files are taken
in name order. A file whose publish fails because NATS is away, or because the country's
ingress quota is full (the hub has not finished what it sent before), stays where it is
and is tried again on the next scan. With ``wait`` (``enlace adapter watch``'s default) the
hub's verdict is awaited too: a message the hub refuses goes to ``failed/`` with the hub's
reason code, one that reached nobody to ``undelivered/`` with each party's reason. Without
it (``--no-wait``) ``sent/`` means only that INGRESS stored the message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from nats.errors import Error as NatsError

from adapters.errors import HubRefused, IngressFull, OutcomeTimeout, reason_of
from adapters.keys import poc_signer
from adapters.sinks._files import atomic_write, fsync_dir
from adapters.sources.prepare import Publisher, PublishReceipt, poc_of, prepare_message
from schemas.directory import Directory
from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.errors import EnlaceError
from schemas.jws import sign_detached

__all__ = ["FolderWatcher", "ScanResult"]

log = structlog.get_logger("enlace.adapters.folder_watch")


@dataclass(frozen=True)
class ScanResult:
    """What one scan did: file names sent, refused with their reason code, and accepted
    but delivered to nobody with each party's (country, reason code)."""

    sent: list[str]
    failed: list[tuple[str, str]]
    undelivered: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)


class FolderWatcher:
    """Publishes the files dropped in ``folder`` as point of contact ``poc_id``."""

    def __init__(
        self,
        folder: Path,
        poc_id: str,
        directory: Callable[[], Directory],
        keys_dir: Path,
        publisher: Publisher,
        max_bytes: int = DEFAULT_MAX_BYTES,
        interval: float = 1.0,
    ) -> None:
        self.folder = folder
        self.poc_id = poc_id
        self.directory = directory
        self.keys_dir = keys_dir
        self.publisher = publisher
        self.max_bytes = max_bytes
        self.interval = interval
        self.sent_dir = folder / "sent"
        self.failed_dir = folder / "failed"
        self.undelivered_dir = folder / "undelivered"

    def pending(self) -> list[Path]:
        """The files waiting, in name order."""
        return sorted(
            p
            for p in self.folder.iterdir()
            if p.is_file() and p.suffix == ".json" and not p.name.startswith(".")
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Scan every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.scan()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def scan(self) -> ScanResult:
        """Publish or refuse every waiting file once."""
        for sub in (self.sent_dir, self.failed_dir, self.undelivered_dir):
            sub.mkdir(parents=True, exist_ok=True)
        sent: list[str] = []
        failed: list[tuple[str, str]] = []
        undelivered: list[tuple[str, list[tuple[str, str]]]] = []
        for path in self.pending():
            try:
                receipt = await self._send(path)
            except (NatsError, OSError, IngressFull) as err:
                log.warning("publish_deferred", file=path.name, error=type(err).__name__)
                break  # keep the order: try this one again first next time
            except EnlaceError as err:  # incl. SigningKeyMissing: a refusal with a reason
                reason = reason_of(err)
                await asyncio.to_thread(self._refuse, path, reason, err.description)
                failed.append((path.name, reason))
            else:
                if receipt is not None and receipt.undeliverable:
                    reasons = [(cc, reason) for cc, reason, _ in receipt.refused]
                    undelivered.append((path.name, reasons))
                else:
                    sent.append(path.name)
        return ScanResult(sent, failed, undelivered)

    async def _send(self, path: Path) -> PublishReceipt | None:
        """Publish one file and file it away; returns the hub's verdict when waited for."""
        data = await asyncio.to_thread(path.read_bytes)
        directory = self.directory()
        poc = poc_of(directory, self.poc_id)
        prepared = prepare_message(data, poc, self.max_bytes)
        signer = poc_signer(directory, self.keys_dir, poc.id)
        try:
            receipt = await self.publisher.publish(prepared, signer)
        except OutcomeTimeout:
            # It is in INGRESS and will be handled; only the verdict is late.
            log.warning("outcome_late", file=path.name, message_id=prepared.id)
            receipt = None
        outcome = receipt.outcome if receipt is not None else None
        if outcome is not None and not outcome.accepted:
            said = outcome.description or "refused by the hub"
            raise HubRefused(outcome.reason or "rejected", said, prepared.id)
        jws = sign_detached(prepared.raw, signer.key, signer.kid)  # Ed25519: the same JWS
        if receipt is not None and receipt.undeliverable:
            # The reasons first: a file in undelivered/ always has its .reason beside it.
            why = self._why_nobody(receipt)
            await asyncio.to_thread(
                atomic_write, self.undelivered_dir / f"{path.name}.reason", why.encode()
            )
            await asyncio.to_thread(self._archive, path, prepared.raw, jws, self.undelivered_dir)
            log.warning("file_undelivered", file=path.name, message_id=prepared.id)
            return receipt
        await asyncio.to_thread(self._archive, path, prepared.raw, jws, self.sent_dir)
        log.info("file_published", file=path.name, message_id=prepared.id)
        return receipt

    @staticmethod
    def _why_nobody(receipt: PublishReceipt) -> str:
        description = receipt.outcome.description if receipt.outcome is not None else ""
        lines = [f"undeliverable: {description}"]
        lines += [f"{cc}: {reason}: {detail}" for cc, reason, detail in receipt.refused]
        return "\n".join(lines) + "\n"

    def _archive(self, path: Path, raw: bytes, jws: str, folder: Path) -> None:
        # The published bytes may differ from the file (id, sender added): keep those.
        atomic_write(folder / path.name, raw)
        atomic_write(folder / f"{path.name}.jws", jws.encode())
        path.unlink()
        fsync_dir(self.folder)

    def _refuse(self, path: Path, reason: str, description: str) -> None:
        self._move(path, self.failed_dir)
        atomic_write(self.failed_dir / f"{path.name}.reason", f"{reason}: {description}\n".encode())
        log.warning("file_refused", file=path.name, reason=reason)

    def _move(self, path: Path, folder: Path) -> None:
        path.replace(folder / path.name)
        fsync_dir(folder)
        fsync_dir(self.folder)
