"""Durable file writes shared by the file-based sinks: temp file, fsync, rename, fsync dir."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir", "write_all"]


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a crash (the entry is on disk)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see all of it or nothing, even on a crash.

    ``sync_dir=False`` leaves the rename to a :func:`fsync_dir` of the caller's (one for a
    batch of files): until then a crash may undo it.
    """
    _write_synced(path, data)
    _tmp(path).replace(path)
    if sync_dir:
        fsync_dir(path.parent)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_synced(path: Path, data: bytes) -> None:
    with _tmp(path).open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_all(files: Sequence[tuple[Path, bytes]], syncers: ThreadPoolExecutor) -> None:
    """Write many files atomically, each fsynced, then each folder they are in once.

    Every file is written to a temporary name and fsynced side by side on ``syncers`` (the
    filesystem's journal then commits them together rather than one commit each; a pool
    of the sink's own, so that a hung disk of one sink holds up no other), then renamed in
    the order given (a reader sees them appear in that order), then each folder is
    fsynced. Until that last fsync a crash may undo some of the renames.
    """
    if not files:
        return
    for done in [syncers.submit(_write_synced, path, data) for path, data in files]:
        done.result()  # raises the first failure (the temporary files stay unnamed)
    try:
        for path, _ in files:
            _tmp(path).replace(path)
    finally:
        # Also after a failed rename: what was renamed is durable before anyone asks again.
        for folder in dict.fromkeys(path.parent for path, _ in files):
            fsync_dir(folder)
