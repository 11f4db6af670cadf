"""NATS logins, one nkey each (one per country, the hub, the operator and the server's
system account): seeds and public keys.

``enlace init`` calls :func:`ensure_credentials`; ``enlace up`` (embedded server) calls it
again, then renders the server's ``authorization`` block
(:func:`hub.server.logins.permissions.authorization_block`) on every start and every accepted
``enlace reload`` (so that new parties get their login and new sinks their consumer's
permissions without a restart). What each login may do is :mod:`hub.server.logins.permissions`'.

Logins are NATS **nkeys** (Ed25519): the server config holds only public keys (``U…``);
each login's seed is a file ``nats/seeds/<name>.nk`` (mode 0600, folder 0700) that only
whoever connects as that login needs. The public keys are listed in ``nats/nkeys.json``
(not secret), so a seed may be handed to its country and removed from the hub's machine
without the server losing the login. Seeds are never read into logs, output or ``repr``;
``nats.connect(nkeys_seed=<file>)`` reads the file itself when signing the server's nonce.

:func:`rotate_login` (``enlace nats rotate``) replaces one login's nkey; ``enlace reload``
then has the embedded server drop the old public key, which closes the connections made
with it.

Deployments made before nkeys kept user/password logins in ``nats/users.json``. The next
:func:`ensure_credentials` (``enlace up`` with the embedded server) replaces them with nkey
logins of the same names and deletes the file and the old server config (both held
passwords), logging ``nats_logins_migrated``; until then :func:`read_logins` refuses such
a deployment with a message saying so (e.g. for a server given by ``--nats-url``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys  # type: ignore[import-untyped]  # reason: nkeys 0.2.1 ships no type hints
import structlog

from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.private_files import write_private
from schemas.subjects import inbox_prefix
from schemas.tls import client_context

__all__ = [
    "HUB_USER",
    "OPERATOR_USER",
    "SYSTEM_ACCOUNT",
    "SYSTEM_USER",
    "NatsUser",
    "ensure_credentials",
    "legacy_credentials_path",
    "load_user",
    "public_keys_path",
    "read_logins",
    "rotate_login",
    "seed_path",
    "seeds_dir",
]

HUB_USER = "hub"
OPERATOR_USER = "operator"
"""Read-only login of the operator commands (``enlace status``, ``enlace audit``)."""
SYSTEM_USER = "system"
"""The login of the server's system account: it reads the server's disconnect events."""
SYSTEM_ACCOUNT = "SYS"
"""The account of :data:`SYSTEM_USER`, made the server's ``system_account``."""

log = structlog.get_logger("enlace.natsauth")

# A login's name becomes a file name: letters, digits, '-' and '_' only (country codes,
# "hub", "operator", "system"), so that no name can point outside the seeds folder.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# An nkey user public key: 'U' and 55 more base32 characters (1 + 32 + 2 bytes).
_PUBLIC_KEY = re.compile(r"^U[A-Z2-7]{55}$")


def seeds_dir(deployment: Deployment) -> Path:
    """The folder of the logins' seeds (mode 0700)."""
    return deployment.seeds_dir


def seed_path(deployment: Deployment, name: str) -> Path:
    """The seed file of login ``name`` (mode 0600)."""
    return deployment.seed_file(_checked_name(name))


def public_keys_path(deployment: Deployment) -> Path:
    """``nats/nkeys.json``: login name → public nkey (not secret)."""
    return deployment.nats_dir / "nkeys.json"


def legacy_credentials_path(deployment: Deployment) -> Path:
    """``nats/users.json``: the plain-text password logins of deployments made before nkeys."""
    return deployment.nats_dir / "users.json"


def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not a valid NATS login name (letters, digits, - and _)")
    return name


def _new_seed() -> bytes:
    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))


def _public_key_of(seed: bytes, where: Path) -> str:
    """The public key of a user seed; the key pair is wiped at once (best effort, as nats-py)."""
    try:
        pair = nkeys.from_seed(bytearray(seed.strip()))
        public = str(pair.public_key.decode())
        pair.wipe()
    except (nkeys.NkeysError, ValueError, TypeError) as exc:
        problem = type(exc).__name__
    else:
        if _PUBLIC_KEY.match(public):
            return public
        problem = "the seed of an nkey that is not a user's"
    # `from None` and no value in the message: the seed must not travel in a traceback.
    raise ConfigError(
        f"{where}: not an nkey user seed ({problem}); restore it from a copy, or delete "
        "it and its entry in nkeys.json and run `enlace up` to make a new login"
    ) from None


def _read_public_keys(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the NATS public keys ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of login name to public nkey")
    keys: dict[str, str] = {}
    for name, key in data.items():
        if not isinstance(key, str) or not _PUBLIC_KEY.match(key):
            raise ConfigError(f"{path}: field {name!r}: not a public nkey of a user (U…)")
        keys[_checked_name(str(name))] = key
    return keys


def _write_public_keys(path: Path, keys: Mapping[str, str]) -> None:
    """Replace ``nkeys.json`` atomically: a reader sees the old list or the new one."""
    data = json.dumps(dict(keys), indent=2, sort_keys=True) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)


def _legacy_names(path: Path) -> list[str]:
    """The login names of an old ``users.json`` (its passwords are not looked at)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # unreadable: it is replaced all the same
    return [str(k) for k in data if _NAME.match(str(k))] if isinstance(data, dict) else []


def _retire_legacy(deployment: Deployment, names: list[str]) -> None:
    """Delete the files that held plain-text passwords, and say so."""
    legacy = legacy_credentials_path(deployment)
    legacy.unlink(missing_ok=True)
    # The old server config is regenerated by every `enlace up`; it held the passwords.
    config = deployment.nats_dir / "nats-server.conf"
    if config.is_file() and '"password"' in config.read_text(encoding="utf-8", errors="replace"):
        config.unlink()
    log.warning(
        "nats_logins_migrated",
        removed=str(legacy),
        logins=sorted(names),
        seeds=str(seeds_dir(deployment)),
        hint="password logins replaced by nkeys; give each country its new seed file, "
        "and a NATS server not started by `enlace up` the new authorization block",
    )


def ensure_credentials(deployment: Deployment, parties: Iterable[str]) -> dict[str, str]:
    """Make an nkey login for the hub, the operator, the system account and each party
    lacking one.

    Existing logins are kept, so running it again (a new party) changes no one else's. A
    login whose seed is present is listed under that seed's public key; one whose seed was
    moved off this machine keeps its listed public key. Password logins of an old
    ``users.json`` are replaced (see the module docstring).

    Returns:
        Every login of the deployment: name → public nkey.
    """
    legacy = legacy_credentials_path(deployment)
    legacy_names = _legacy_names(legacy) if legacy.is_file() else []
    keys_path = public_keys_path(deployment)
    keys = _read_public_keys(keys_path)
    folder = seeds_dir(deployment)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # also when an older or hand-made folder was more open
    for name in dict.fromkeys((HUB_USER, OPERATOR_USER, SYSTEM_USER, *parties, *legacy_names)):
        path = seed_path(deployment, name)
        if path.is_file():
            keys[name] = _public_key_of(path.read_bytes(), path)
        elif name not in keys:
            seed = _new_seed()
            write_private(path, seed + b"\n")
            keys[name] = _public_key_of(seed, path)
    _write_public_keys(keys_path, keys)
    if legacy.is_file():
        _retire_legacy(deployment, legacy_names)
    return keys


def rotate_login(deployment: Deployment, name: str) -> str:
    """Replace login ``name``'s nkey: a new seed file (0600) and its public key listed.

    The seed is written first, then ``nkeys.json``: should the second step not happen, the
    next :func:`ensure_credentials` lists the public key of the seed on disk all the same.
    A server keeps accepting the old key until its ``authorization`` block is rendered
    again and reloaded (``enlace reload`` for the embedded one).

    Returns:
        The new public key (``U…``).

    Raises:
        ConfigError: the deployment has no login ``name`` (the message lists those it has),
            or still has password logins of an older Enlace.
    """
    keys = read_logins(deployment)
    if name not in keys:
        known = ", ".join(sorted(keys)) or "none"
        raise ConfigError(
            f"no NATS login {name!r} in {public_keys_path(deployment)} (logins: {known})"
        )
    folder = seeds_dir(deployment)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = seed_path(deployment, name)
    seed = _new_seed()
    public_key = _public_key_of(seed, path)
    write_private(path, seed + b"\n")
    keys[name] = public_key
    _write_public_keys(public_keys_path(deployment), keys)
    return public_key


@dataclass(frozen=True)
class NatsUser:
    """One NATS login: a name, its public nkey and where its seed is (never the seed)."""

    name: str
    public_key: str
    seed_file: Path
    ca_file: Path | None = None
    """The deployment CA the server's certificate must chain to (none: no TLS material)."""

    def __repr__(self) -> str:
        return f"NatsUser(name={self.name!r}, public_key={self.public_key!r})"

    @property
    def inbox_prefix(self) -> str:
        """The only reply inbox this user may subscribe to (the hub may use any)."""
        return inbox_prefix(None if self.name == HUB_USER else self.name)

    def connect_options(self) -> dict[str, Any]:
        """``nats.connect`` keyword arguments for this login (the seed file's path, and the
        TLS context that trusts the deployment CA only)."""
        options: dict[str, Any] = {
            "nkeys_seed": str(self.seed_file),
            "inbox_prefix": self.inbox_prefix,
        }
        if self.ca_file is not None:
            options["tls"] = client_context(self.ca_file)
        return options


def read_logins(deployment: Deployment) -> dict[str, str]:
    """Every login of the deployment, name → public nkey (empty when there are none).

    Raises:
        ConfigError: the deployment still has password logins of an older Enlace.
    """
    keys = _read_public_keys(public_keys_path(deployment))
    legacy = legacy_credentials_path(deployment)
    if not keys and legacy.is_file():
        raise ConfigError(
            f"{legacy} holds NATS password logins of an older Enlace, which now uses nkeys: "
            "run `enlace up` once with its embedded server to replace them (a server of "
            "your own then needs the new authorization block of nats/nats-server.conf), "
            "or delete the file if the NATS URL carries its own credentials"
        )
    return keys


def load_user(deployment: Deployment, name: str) -> NatsUser:
    """The login of ``name`` (``hub``, ``operator`` or a country code), checked.

    Raises:
        ConfigError: the deployment holds no login for ``name``, its seed file is missing,
            readable by others, or not the seed of the listed public key.
    """
    keys = read_logins(deployment)
    if name not in keys:
        raise ConfigError(
            f"no NATS login for {name!r} in {public_keys_path(deployment)}; "
            "run `enlace init` again to add the logins it lacks"
        )
    path = seed_path(deployment, name).resolve()
    if not path.is_file():
        raise ConfigError(
            f"the seed of NATS login {name!r} is not at {path}: copy it back from its "
            f"holder, or remove {name!r} from {public_keys_path(deployment)} and run "
            "`enlace up` to make a new login (then hand out the new seed)"
        )
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path}: a NATS seed readable by others; run `chmod 600 {path}`")
    if _public_key_of(path.read_bytes(), path) != keys[name]:
        raise ConfigError(
            f"{path}: not the seed of the public key listed for {name!r} in "
            f"{public_keys_path(deployment)}; run `enlace up` to list it (embedded server), "
            "or restore the matching seed"
        )
    ca = deployment.tls_ca_cert.resolve()
    return NatsUser(name, keys[name], path, ca if ca.is_file() else None)
