"""Durable file writes shared by the file-based sinks: temp file, sync, rename, sync again.

One file (:func:`atomic_write`): write a temporary file, fsync it, rename it into place,
fsync its folder. A batch (:func:`write_all`) on Linux ≥ 5.8: write every temporary file,
then ONE ``syncfs(2)`` of their filesystem (their data is on disk), rename them in order,
then one more ``syncfs`` (the renames are on disk): two syncs for a batch instead of one
fsync per file and per folder. ``syncfs`` reports a write-back error of any file of the
filesystem since Linux 5.8 (errseq), as fsync does for one file; older kernels and other
systems keep the per-file fsyncs. Measured on a 2-core VM (2026-12-06, 64 deliveries of
three small files each): per-file fsyncs side by side ~1,450 deliveries/s, ``syncfs``
~3,500–4,200.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Callable, Sequence
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


def _write(path: Path, data: bytes) -> None:
    with _tmp(path).open("wb") as fh:
        fh.write(data)


def _write_synced(path: Path, data: bytes) -> None:
    with _tmp(path).open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        found = tuple(int(part) for part in platform.release().split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return found >= (major, minor)


def _find_syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs`` where it reports write-back errors (Linux ≥ 5.8), else None."""
    if platform.system() != "Linux" or not _kernel_at_least(5, 8):
        return None
    try:
        call: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return call


_SYNCFS = _find_syncfs()


def _sync_filesystems(folders: Sequence[Path], syncfs: Callable[[int], int]) -> None:
    """``syncfs`` once per filesystem the ``folders`` are on."""
    done: set[int] = set()
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY)
        try:
            device = os.fstat(fd).st_dev
            if device not in done and syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), str(folder))
            done.add(device)
        finally:
            os.close(fd)


def write_all(files: Sequence[tuple[Path, bytes]], syncers: ThreadPoolExecutor) -> None:
    """Write many files atomically, then rename them in the order given.

    Every file is written to a temporary name and made durable — by one ``syncfs`` of the
    filesystem where available, else each fsynced side by side on ``syncers`` (the
    journal then commits them together; a pool of the sink's own, so that a hung disk of
    one sink holds up no other) — then renamed in the order given (a reader sees them
    appear in that order), then the renames are made durable (``syncfs`` again, or each
    folder fsynced). Until that last sync a crash may undo some of the renames.
    """
    if not files:
        return
    folders = list(dict.fromkeys(path.parent for path, _ in files))
    syncfs = _SYNCFS
    if syncfs is not None:
        for path, data in files:
            _write(path, data)
        _sync_filesystems(folders, syncfs)
    else:
        for done in [syncers.submit(_write_synced, path, data) for path, data in files]:
            done.result()  # raises the first failure (the temporary files stay unnamed)
    try:
        for path, _ in files:
            _tmp(path).replace(path)
    finally:
        # Also after a failed rename: what was renamed is durable before anyone asks again.
        if syncfs is not None:
            _sync_filesystems(folders, syncfs)
        else:
            for folder in folders:
                fsync_dir(folder)
