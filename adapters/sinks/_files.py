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

__all__ = ["atomic_write", "fsync_dir", "sync_folders", "write_all"]


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
    return path.with_name(_tmp_name(path.name))


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


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC

Placed = tuple[int, str, str, bytes]
"""A file of a batch: its open folder's descriptor, the folder, its name, its bytes."""


def sync_folders(folders: Sequence[Path]) -> None:
    """Make what ``folders`` hold now durable, renames included.

    For files found under their final names but maybe not yet durably renamed: a batch
    written before a crash, or whose last sync failed (their data was synced before the
    rename; the rename may not be). A redelivery of such a file is answered as a duplicate
    only after this, so no receipt vouches for a file a crash could still take back.
    ``syncfs`` once per filesystem where available (it reports write-back errors), else
    each folder fsynced.

    Raises:
        OSError: a sync failed (naming the folder).
    """
    unique = list(dict.fromkeys(folders))
    if _SYNCFS is None:
        for folder in unique:
            fsync_dir(folder)
        return
    opened = {str(folder): os.open(folder, _DIR_FLAGS) for folder in unique}
    try:
        _syncfs_each(opened, _SYNCFS)
    finally:
        for fd in opened.values():
            os.close(fd)


def _syncfs_each(folders: dict[str, int], syncfs: Callable[[int], int]) -> None:
    """``syncfs`` once per filesystem of the open ``folders`` (name: descriptor)."""
    done: set[int] = set()
    for folder, fd in folders.items():
        device = os.fstat(fd).st_dev
        if device not in done and syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), folder)
        done.add(device)


def _named(err: OSError, folder: str, name: str) -> OSError:
    """``err`` naming the file by its whole path (a call relative to a folder's
    descriptor names only the file); the same class (``OSError`` picks it by errno)."""
    return OSError(err.errno, err.strerror, os.path.join(folder, name))


def _write_at(placed: Placed, sync: bool) -> None:
    """Write a file's temporary (fsynced when ``sync``), relative to its open folder."""
    fd, folder, name, data = placed
    tmp = _tmp_name(name)
    try:
        out = os.open(tmp, _FILE_FLAGS, 0o666, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
            if sync:
                os.fsync(out)
        finally:
            os.close(out)
    except OSError as err:
        raise _named(err, folder, tmp) from None


def _rename_at(placed: Placed) -> None:
    fd, folder, name, _ = placed
    try:
        os.replace(_tmp_name(name), name, src_dir_fd=fd, dst_dir_fd=fd)
    except OSError as err:
        raise _named(err, folder, name) from None


def _tmp_name(name: str) -> str:
    return f".{name}.{os.getpid()}.tmp"


def write_all(files: Sequence[tuple[Path, bytes]], syncers: ThreadPoolExecutor) -> None:
    """Write many files atomically, then rename them in the order given.

    Every file is written to a temporary name and made durable — by one ``syncfs`` of the
    filesystem where available, else each fsynced side by side on ``syncers`` (the
    journal then commits them together; a pool of the sink's own, so that a hung disk of
    one sink holds up no other) — then renamed in the order given (a reader sees them
    appear in that order), then the renames are made durable (``syncfs`` again, or each
    folder fsynced). Until that last sync a crash may undo some of the renames.

    Each folder is opened once for the batch, and every write, rename and sync goes
    through its descriptor (no path is looked up again, no ``Path`` made per file).

    Raises:
        OSError: a folder cannot be opened (nothing is written), or a write, rename or
            sync failed (naming the file or folder; the temporary files stay unnamed).
    """
    if not files:
        return
    folders: dict[str, int] = {}
    try:
        placed: list[Placed] = []
        for path, data in files:
            folder, name = os.path.split(os.fspath(path))
            fd = folders.get(folder)
            if fd is None:
                fd = folders[folder] = os.open(folder, _DIR_FLAGS)
            placed.append((fd, folder, name, data))
        _write_placed(placed, folders, syncers)
    finally:
        for fd in folders.values():
            os.close(fd)


def _write_placed(
    placed: Sequence[Placed], folders: dict[str, int], syncers: ThreadPoolExecutor
) -> None:
    syncfs = _SYNCFS
    if syncfs is not None:
        for one in placed:
            _write_at(one, sync=False)
        _syncfs_each(folders, syncfs)
    else:
        for done in [syncers.submit(_write_at, one, True) for one in placed]:
            done.result()  # raises the first failure (the temporary files stay unnamed)
    try:
        for one in placed:
            _rename_at(one)
    finally:
        # Also after a failed rename: what was renamed is durable before anyone asks again.
        if syncfs is not None:
            _syncfs_each(folders, syncfs)
        else:
            for folder, fd in folders.items():
                try:
                    os.fsync(fd)
                except OSError as err:
                    raise OSError(err.errno, err.strerror, folder) from None
