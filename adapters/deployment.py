"""What an adapter reads from a deployment folder, by the same conventions as the hub.

The layout is :mod:`schemas.layout`, shared with the hub.

The directory is accepted exactly as the hub accepts it (every party signed it, not
older than the version the deployment accepted) and re-read when its file changes; a
changed file that does not verify is refused and the running version stays.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from schemas.directory import Directory
from schemas.errors import GovernanceError
from schemas.layout import Deployment, resolve_home
from schemas.trust import load_directory, load_trust_root, read_accepted_version

__all__ = ["AdapterHome", "DirectoryFile", "resolve_home"]

log = structlog.get_logger("enlace.adapters.deployment")


class AdapterHome(Deployment):
    """The deployment as an adapter sees it: the shared layout plus adapter state."""

    def adapter_state(self, country: str, sink: str) -> Path:
        """Where a sink keeps its own state (e.g. the webhook ledger)."""
        return self.state_dir / "adapters" / country / sink


class DirectoryFile:
    """The accepted directory, reloaded when ``directory.yaml`` changes.

    Raises at construction when the first load fails (an adapter must not start without a
    directory it trusts); later failures keep the previous version and log why.
    """

    def __init__(self, home: AdapterHome) -> None:
        self._home = home
        self._stamp: tuple[int, int] | None = None
        self._directory = self._load()

    def _file_stamp(self) -> tuple[int, int]:
        stat = self._home.directory.stat()
        return stat.st_mtime_ns, stat.st_size

    def _load(self) -> Directory:
        stamp = self._file_stamp()
        trust_root = load_trust_root(self._home.trust_root)
        accepted = read_accepted_version(self._home.state_dir)
        directory = load_directory(self._home.directory, trust_root, accepted)
        self._stamp = stamp
        return directory

    def __call__(self) -> Directory:
        try:
            changed = self._file_stamp() != self._stamp
        except OSError:
            changed = False
        if changed:
            try:
                self._directory = self._load()
                log.info("directory_reloaded", version=self._directory.version)
            except GovernanceError as err:
                self._stamp = self._file_stamp()  # do not retry until it changes again
                log.error("directory_refused", reason=err.code, detail=err.description)
        return self._directory
