"""A store that runs out of space: the nats-server's JetStream folder on a tmpfs this test
mounts, large while ``enlace up`` starts (the server sizes its limits from the free space
it sees then), shrunk to what it holds plus a little, then grown again.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["Tmpfs", "tmpfs"]

ROOMY = "16g"  # nominal: a tmpfs takes memory only for what is written
HEADROOM = 512 * 1024


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


class Tmpfs:
    def __init__(self, path: Path) -> None:
        self.path = path

    def used(self) -> int:
        stat = os.statvfs(self.path)
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize

    def resize(self, size: str) -> None:
        done = _mount("-o", f"remount,size={size}", str(self.path))
        assert done.returncode == 0, done.stderr

    def fill_up(self) -> int:
        """Shrink to what it holds plus :data:`HEADROOM`; returns the new size in bytes."""
        size = self.used() + HEADROOM
        self.resize(str(size))
        return size


@contextmanager
def tmpfs(path: Path) -> Iterator[Tmpfs]:
    """A roomy tmpfs mounted on ``path`` (lazily unmounted at the end); skips the test
    where this machine does not let it mount one."""
    path.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={ROOMY},mode=0700", "tmpfs", str(path))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield Tmpfs(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
