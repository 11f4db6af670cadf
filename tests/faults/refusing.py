"""A folder that refuses every write, even root's: ``chattr +i`` (immutable) where the
file system supports it, else ``chmod a-w`` (which stops anyone but root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["refusing_writes"]


def _refuses(folder: Path) -> bool:
    probe = folder / ".enlace-fault-probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return True
    probe.unlink()
    return False


def _chattr(flag: str, folder: Path) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    done = subprocess.run([chattr, flag, str(folder)], capture_output=True, check=False)
    return done.returncode == 0


@contextmanager
def refusing_writes(folder: Path) -> Iterator[str]:
    """While the block runs nothing can be created in ``folder``; yields how (for the table).

    Skips the test when neither way refuses a write here (root on a file system without
    the immutable flag).
    """
    immutable = os.geteuid() == 0 and _chattr("+i", folder)
    mode = folder.stat().st_mode
    if not immutable:
        folder.chmod(0o555)
    try:
        how = "chattr +i" if immutable else "chmod a-w"
        if not _refuses(folder):
            pytest.skip(f"{how} does not stop writes into {folder} here")
        yield how
    finally:
        if immutable:
            _chattr("-i", folder)
        else:
            folder.chmod(mode)
