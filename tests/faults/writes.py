"""Every file a folder sink puts in place, counted as it happens (Linux inotify).

A folder sink writes ``<id>.json`` last (temp file, fsync, rename), so a rename onto
``<id>.json`` — or a file of that name written in place and closed — is one write of
message ``<id>``. Counting them is how the fault suite sees a message written twice, which
the file itself cannot show: the second write replaces the first with the same bytes.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import threading
import time
from collections import Counter
from pathlib import Path

__all__ = ["SinkWrites"]

_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_TO = 0x00000080
_IN_NONBLOCK = 0o4000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then the name, NUL-padded
_SUFFIX = ".json"

_libc = ctypes.CDLL(None, use_errno=True)


class SinkWrites:
    """Counts the writes of ``<id>.json`` in ``folder`` from :meth:`start` to :meth:`stop`.

    Attributes:
        per_id: how many times each message id's file was put in place.
        times: when (``time.monotonic()``) each write was seen, in order.
        first: when each message id was first written.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.per_id: Counter[str] = Counter()
        self.times: list[float] = []
        self.first: dict[str, float] = {}
        self._fd = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="sink-writes", daemon=True)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fd = _libc.inotify_init1(_IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = _IN_CLOSE_WRITE | _IN_MOVED_TO
        if _libc.inotify_add_watch(self._fd, os.fsencode(self.folder), mask) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {self.folder}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def first_after(self, moment: float) -> float | None:
        """The time of the first write after ``moment`` (monotonic), if any."""
        return next((t for t in self.times if t > moment), None)

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            seen = time.monotonic()
            offset = 0
            while offset < len(data):
                _, _, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = data[start : start + length].rstrip(b"\0").decode(errors="replace")
                offset = start + length
                if name.endswith(_SUFFIX) and not name.startswith("."):
                    message_id = name.removesuffix(_SUFFIX)
                    self.per_id[message_id] += 1
                    self.first.setdefault(message_id, seen)
                    self.times.append(seen)
