"""Private signing keys on disk: PKCS#8 PEM files readable by their owner only.

Layout under a deployment's ``keys/`` (files 0600, folders 0700)::

    commission/<cc>/<kid>.pem   a party's Security Commission key (signs governance)
    poc/<poc_id>/<kid>.pem      a point of contact's key (signs messages)
    party/<cc>/<kid>.pem        a country's systems key (sinks sign receipts with it)
    hub/<kid>.pem               the hub's key (countersignatures, audit checkpoints)

Key material is never printed or logged: errors name files and kids only.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import KeyStoreError
from schemas.directory import Directory, PublicKeyRecord
from schemas.errors import KeyExpired, KeyNotYetValid, KeyRevoked
from schemas.jws import load_private_key, private_key_pem

__all__ = ["KeyKind", "KeyStore", "load_key_file"]

_FILE_MODE = 0o600
_DIR_MODE = 0o700


class KeyKind(StrEnum):
    COMMISSION = "commission"
    POC = "poc"
    PARTY = "party"
    HUB = "hub"


class KeyStore:
    """The private keys of one deployment (``keys/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, kind: KeyKind, owner: str | None, kid: str) -> Path:
        """Where the key ``kid`` of ``owner`` lives.

        Args:
            kind: what the key is for.
            owner: a country code or a POC id; None for the hub.
            kid: the key's id.

        Raises:
            KeyStoreError: ``owner`` is not a plain name.
        """
        return self._folder(kind, owner) / f"{kid}.pem"

    def _folder(self, kind: KeyKind, owner: str | None) -> Path:
        if kind is KeyKind.HUB:
            return self.root / kind.value
        if not owner or "/" in owner or owner.startswith("."):
            raise KeyStoreError(f"a {kind.value} key needs a plain owner name, not {owner!r}")
        return self.root / kind.value / owner

    def _make_dirs(self, folder: Path) -> None:
        # mkdir's mode is masked by the umask, so each level is set explicitly.
        # (Joined to the root level by level, so that a relative root such as `.enlace/keys`
        # is not joined to itself.)
        inner = folder.relative_to(self.root)
        levels = [self.root, *(self.root / p for p in reversed(inner.parents)), folder]
        for level in dict.fromkeys(levels):
            level.mkdir(parents=True, exist_ok=True)
            level.chmod(_DIR_MODE)

    def create(self, kind: KeyKind, owner: str | None, kid: str) -> Ed25519PrivateKey:
        """Generate a new Ed25519 key and write it (0600); never overwrites an existing file.

        Args:
            kind: what the key is for.
            owner: a country code or a POC id; None for the hub.
            kid: the key's id.

        Raises:
            KeyStoreError: a key file of that kid already exists.
        """
        key = Ed25519PrivateKey.generate()
        self.write(kind, owner, kid, key)
        return key

    def write(self, kind: KeyKind, owner: str | None, kid: str, key: Ed25519PrivateKey) -> Path:
        """Write ``key`` as ``kid`` of ``owner`` with mode 0600 from the first byte.

        Args:
            kind: what the key is for.
            owner: a country code or a POC id; None for the hub.
            kid: the key's id.
            key: the private key.

        Returns:
            The file written.

        Raises:
            KeyStoreError: a key file of that kid already exists.
        """
        folder = self._folder(kind, owner)
        self._make_dirs(folder)
        path = folder / f"{kid}.pem"
        try:
            # O_EXCL: two commands racing for one kid must not silently swap keys.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            raise KeyStoreError(
                f"key file {path} already exists; choose another kid", path
            ) from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(private_key_pem(key))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(path, _FILE_MODE)  # in case the file system ignored the mode of os.open
        return path

    def load(self, kind: KeyKind, owner: str | None, kid: str) -> Ed25519PrivateKey:
        """Read the key ``kid`` of ``owner``.

        Args:
            kind: what the key is for.
            owner: a country code or a POC id; None for the hub.
            kid: the key's id.

        Raises:
            KeyStoreError: missing, readable by group or others, or not an Ed25519 key.
        """
        return load_key_file(self.path(kind, owner, kid))

    def has(self, kind: KeyKind, owner: str | None, kid: str) -> bool:
        """Whether the key ``kid`` of ``owner`` is held here.

        Args:
            kind: what the key is for.
            owner: a country code or a POC id; None for the hub.
            kid: the key's id.
        """
        return self.path(kind, owner, kid).is_file()

    def kids(self, kind: KeyKind, owner: str | None) -> list[str]:
        """The kids of ``owner``'s key files, sorted."""
        folder = self._folder(kind, owner)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.pem"))

    def owners(self, kind: KeyKind) -> list[str]:
        """Owners that have a key folder of ``kind`` (countries or POC ids), sorted."""
        folder = self.root / kind.value
        if kind is KeyKind.HUB or not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def current_poc_key(
        self, directory: Directory, poc_id: str, at: datetime | None = None
    ) -> tuple[str, Ed25519PrivateKey]:
        """The POC's newest directory key valid at ``at`` whose private key is here.

        Args:
            directory: the directory in force (the POC's public keys).
            poc_id: the point of contact.
            at: the moment the key must be valid at; None for now.

        Returns:
            ``(kid, private key)``.

        Raises:
            KeyStoreError: the POC is not in the directory, or no such key is held here.
        """
        poc = directory.poc(poc_id)
        if poc is None:
            raise KeyStoreError(
                f"no point of contact {poc_id!r} in the directory; see `enlace directory show`"
            )
        record = self._newest_local(KeyKind.POC, poc_id, poc.keys, at)
        return record.kid, self.load(KeyKind.POC, poc_id, record.kid)

    def _newest_local(
        self,
        kind: KeyKind,
        owner: str | None,
        records: list[PublicKeyRecord],
        at: datetime | None,
    ) -> PublicKeyRecord:
        moment = at or datetime.now(UTC)
        usable = []
        for record in records:
            try:
                record.check_valid_at(moment)
            except (KeyNotYetValid, KeyExpired, KeyRevoked):
                continue
            if self.has(kind, owner, record.kid):
                usable.append(record)
        if not usable:
            raise KeyStoreError(
                f"no {kind.value} key of {owner or 'the hub'} is both valid now in the "
                f"directory and held in {self._folder(kind, owner)}; "
                f"create one with `enlace keys new`",
                self._folder(kind, owner),
            )
        return max(usable, key=lambda r: r.not_before)

    def current_key(
        self, kind: KeyKind, owner: str | None, records: list[PublicKeyRecord], at: datetime | None
    ) -> tuple[str, Ed25519PrivateKey]:
        """Like :meth:`current_poc_key`, for any kind of key given its directory records.

        Args:
            kind: what the key is for.
            owner: a country code or a POC id; None for the hub.
            records: the owner's public key records in the directory.
            at: the moment the key must be valid at; None for now.

        Returns:
            ``(kid, private key)``.

        Raises:
            KeyStoreError: no key is both valid then and held here.
        """
        record = self._newest_local(kind, owner, records, at)
        return record.kid, self.load(kind, owner, record.kid)


def load_key_file(path: Path) -> Ed25519PrivateKey:
    """Read a PEM private key file, refusing one that group or others may read.

    Raises:
        KeyStoreError: missing, too open, or not an Ed25519 PKCS#8 key.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeyStoreError(f"key file {path} not found", path) from None
    if mode & 0o077:
        raise KeyStoreError(
            f"key file {path} has mode {mode:04o}: group or others may read it; "
            f"a private key must be readable by its owner only — run `chmod 600 {path}` "
            "(and consider the key exposed)",
            path,
        )
    try:
        return load_private_key(path.read_bytes())
    except (ValueError, TypeError) as exc:
        # The parser's message never quotes the key bytes, but stay terse anyway.
        raise KeyStoreError(
            f"key file {path} is not an Ed25519 PKCS#8 PEM key ({type(exc).__name__})", path
        ) from None
