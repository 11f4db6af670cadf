"""A store that failed a write: found in nats-server's log, given back once its disk has room.

When a write to a stream's file store fails (the disk full, typically), nats-server logs
``Filestore [NAME] Critical write error: …`` and keeps failing that stream's writes until
it is restarted, even once the disk has room again: deliveries, audit writes and the
ingress of a country stall for good. :class:`StoreWatch` reads the server's log for that
line and, once the store's file system has ``min_free`` bytes free again, says the server
should be restarted (:meth:`hub.up.server.UpServer.supervise` does it, audited as any
restart). Nothing is lost: a write that failed was never acknowledged, so its publisher
(the hub, an adapter, a country) sends it again.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["StoreWatch"]

_FAILED = re.compile(rb"Filestore \[([^\]]+)\] Critical write error")
# What the store needs free before nats-server is worth restarting: its streams' next
# blocks and indexes, with margin (nats-server itself writes 8 MiB blocks at most here).
DEFAULT_MIN_FREE = 64 * 1024 * 1024


@dataclass
class StoreWatch:
    """nats-server's log, read from where it stood, for streams whose store failed.

    Attributes:
        log_path: the server's log (appended to across restarts).
        store_dir: the JetStream store directory (its file system is the one checked).
        min_free: bytes free on that file system before a restart is worth it.
        failed: the streams whose store failed since the last :meth:`restarted`.
    """

    log_path: Path
    store_dir: Path
    min_free: int = DEFAULT_MIN_FREE
    failed: set[str] = field(default_factory=set)
    _offset: int = 0

    def restarted(self) -> None:
        """The server was (re)started: what its log said before no longer holds."""
        self.failed.clear()
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def scan(self) -> None:
        """Read what the log added since the last scan (whole lines only)."""
        if not self.log_path.exists():
            return
        with self.log_path.open("rb") as fh:
            fh.seek(self._offset)
            added = fh.read()
        complete = added[: added.rfind(b"\n") + 1]
        self._offset += len(complete)
        self.failed.update(m.group(1).decode(errors="replace") for m in _FAILED.finditer(complete))

    def free(self) -> int:
        """Bytes free on the store's file system now."""
        return shutil.disk_usage(self.store_dir).free

    def should_restart(self) -> bool:
        """Whether a store failed and its disk has room again (scans the log first)."""
        self.scan()
        return bool(self.failed) and self.free() >= self.min_free
