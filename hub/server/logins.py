"""NATS access per party, deny by default: one nkey login per country, the hub, the operator
and the server's system account.

``enlace init`` calls :func:`ensure_credentials`; ``enlace up`` (embedded server) calls it
again, then renders the server's ``authorization`` block with :func:`authorization_block`
on every start and every accepted ``enlace reload`` (so that new parties get their login
and new sinks their consumer's permissions without a restart).

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

A country ``CC`` may (and may do nothing else):

=====================================================  ==========================================
publish                                                why
=====================================================  ==========================================
``enlace.in.CC.>``                                     report (its stream INGRESS_CC)
``enlace.receipt.CC``, ``enlace.deadletter.CC``        its sinks' receipts and dead letters
``$JS.API.INFO``                                       the JetStream account check of nats-py
``$JS.API.CONSUMER.{INFO,MSG.NEXT}.DELIVERY.<sink>``   read through its sinks' named consumers
``$JS.ACK.DELIVERY.<sink>.>``                          ack them
``$JS.API.STREAM.{INFO,MSG.GET,MSG.DELETE}.DEADLETTER_CC``  count, read, remove its own dead letters
=====================================================  ==========================================

and subscribe only to ``_INBOX.CC.>`` (its replies: every client of country CC must use
that inbox prefix), ``enlace.outcome.CC`` and ``enlace.rejected.CC``. A country creates,
updates and deletes no consumer at all: the hub makes every one (:mod:`hub.jetstream.consumers`),
because nats-server takes a create of an existing durable as an update of it. Only the
hub may read the ingress streams or publish deliveries; no login, the hub's included, may change the
audit streams' configuration or remove from them (:func:`hub_permissions`). The
``operator`` login (``enlace status``, ``enlace audit``) may only read stream and consumer
state and the audit log (:func:`operator_permissions`).

The ``system`` login is the only one outside the global account: it is the sole user of
the account ``SYS``, which the rendered config makes the server's system account, so that
the hub can hear the server say why it closed a client's connection (a message over
``max_payload``, which never reaches JetStream: :mod:`hub.pipeline.oversize`). It may
subscribe to those events and to its own inbox and publish nothing
(:func:`system_permissions`); being in another account, it sees none of ``enlace.>`` nor
JetStream.
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
from schemas.subjects import deadletter_stream

__all__ = [
    "AUDIT_STREAMS",
    "DISCONNECT_EVENTS",
    "HUB_USER",
    "OPERATOR_USER",
    "SYSTEM_ACCOUNT",
    "SYSTEM_USER",
    "NatsUser",
    "authorization_block",
    "ensure_credentials",
    "hub_permissions",
    "legacy_credentials_path",
    "load_user",
    "login_permissions",
    "operator_permissions",
    "party_permissions",
    "public_keys_path",
    "read_logins",
    "rotate_login",
    "seed_path",
    "seeds_dir",
    "system_permissions",
]

HUB_USER = "hub"
OPERATOR_USER = "operator"
"""Read-only login of the operator commands (``enlace status``, ``enlace audit``)."""
SYSTEM_USER = "system"
"""The login of the server's system account: it reads the server's disconnect events."""
SYSTEM_ACCOUNT = "SYS"
"""The account of :data:`SYSTEM_USER`, made the server's ``system_account``."""
DISCONNECT_EVENTS = "$SYS.ACCOUNT.*.DISCONNECT"
"""Where the server tells its system account why it closed a client's connection."""

log = structlog.get_logger("enlace.natsauth")

# A login's name becomes a file name: letters, digits, '-' and '_' only (country codes,
# "hub", "operator", "system"), so that no name can point outside the seeds folder.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# An nkey user public key: 'U' and 55 more base32 characters (1 + 32 + 2 bytes).
_PUBLIC_KEY = re.compile(r"^U[A-Z2-7]{55}$")


def seeds_dir(deployment: Deployment) -> Path:
    """The folder of the logins' seeds (mode 0700)."""
    return deployment.nats_dir / "seeds"


def seed_path(deployment: Deployment, name: str) -> Path:
    """The seed file of login ``name`` (mode 0600)."""
    return seeds_dir(deployment) / f"{_checked_name(name)}.nk"


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

    def __repr__(self) -> str:
        return f"NatsUser(name={self.name!r}, public_key={self.public_key!r})"

    @property
    def inbox_prefix(self) -> str:
        """The only reply inbox this user may subscribe to (the hub may use any)."""
        return "_INBOX" if self.name == HUB_USER else f"_INBOX.{self.name}"

    def connect_options(self) -> dict[str, str]:
        """``nats.connect`` keyword arguments for this login (the seed file's path)."""
        return {"nkeys_seed": str(self.seed_file), "inbox_prefix": self.inbox_prefix}


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
    return NatsUser(name, keys[name], path)


def party_permissions(cc: str, consumers: Iterable[str] = ()) -> dict[str, Any]:
    """The publish/subscribe allow lists of country ``cc`` (everything else is denied).

    No consumer verb but fetch, info and ack, and only on its own sinks' named consumers:
    a ``CONSUMER.CREATE`` of an existing durable updates it, so a login that may create
    consumers may re-point another's (:mod:`hub.jetstream.consumers` makes them all).

    Args:
        cc: the country code.
        consumers: its sinks' DELIVERY consumer names.
    """
    dead = deadletter_stream(cc)
    publish = [
        f"enlace.in.{cc}.>",
        f"enlace.receipt.{cc}",
        f"enlace.deadletter.{cc}",
        "$JS.API.INFO",
        # Its own dead-letter stream only: the count for `adapter status`, reading each
        # letter by sequence for `replay-dead-letters`, removing one once delivered.
        f"$JS.API.STREAM.INFO.{dead}",
        f"$JS.API.STREAM.MSG.GET.{dead}",
        f"$JS.API.STREAM.MSG.DELETE.{dead}",
    ]
    for name in consumers:
        publish += [
            f"$JS.API.CONSUMER.INFO.DELIVERY.{name}",
            f"$JS.API.CONSUMER.MSG.NEXT.DELIVERY.{name}",
            f"$JS.ACK.DELIVERY.{name}.>",
        ]
    subscribe = [f"_INBOX.{cc}.>", f"enlace.outcome.{cc}", f"enlace.rejected.{cc}"]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


AUDIT_STREAMS = ("AUDIT", "AUDIT_CHECKPOINTS")
# Every JetStream API verb that changes a stream's config or removes what it holds. CREATE
# stays allowed: on an existing stream the server refuses any other configuration.
_STREAM_CHANGES = (
    "STREAM.UPDATE",
    "STREAM.DELETE",
    "STREAM.PURGE",
    "STREAM.MSG.DELETE",
    "STREAM.RESTORE",
    "STREAM.PEER.REMOVE",
)


def hub_permissions() -> dict[str, Any]:
    """The hub may do all it needs on ``enlace.>`` and JetStream, but never shrink the record.

    The audit streams are append-only against this login too: no verb that changes
    their configuration (limits that would drop entries, ``deny_delete`` off) or removes
    entries, and no account-wide purge. The hub checks their configuration at every start
    (:func:`hub.jetstream.streams.ensure_audit_streams`) and stops if someone else weakened it.
    """
    deny = [f"$JS.API.{verb}.{stream}" for stream in AUDIT_STREAMS for verb in _STREAM_CHANGES]
    # Account-wide verbs (purge every stream, move streams) are none of the hub's business.
    deny.append("$JS.API.ACCOUNT.>")
    return {
        "publish": {
            "allow": ["enlace.>", "$JS.API.>", "$JS.ACK.>", "$KV.>", "_INBOX.>"],
            "deny": deny,
        },
        "subscribe": {"allow": ["enlace.>", "_INBOX.>"]},
    }


def operator_permissions() -> dict[str, Any]:
    """Read-only: stream and consumer state, and reading the audit log and its checkpoints."""
    publish = [
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
        "$JS.API.STREAM.INFO.*",
        "$JS.API.CONSUMER.NAMES.*",
        "$JS.API.CONSUMER.LIST.*",
        "$JS.API.CONSUMER.INFO.*.*",
    ]
    for stream in AUDIT_STREAMS:
        publish += [
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.ACK.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    subscribe = [f"_INBOX.{OPERATOR_USER}.>"]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def system_permissions() -> dict[str, Any]:
    """Hear why the server closed connections; publish nothing at all.

    A system-account user may by default send the server's own requests (``$SYS.REQ.>``:
    kick a client, reload, read every account); this one may not, nor anything else.
    """
    return {
        "publish": {"deny": [">"]},
        "subscribe": {"allow": [DISCONNECT_EVENTS, f"_INBOX.{SYSTEM_USER}.>"]},
    }


def login_permissions(
    name: str, consumers: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """The permissions of login ``name``: the hub's, the operator's, the system account's
    or a country's.

    Args:
        name: ``hub``, ``operator``, ``system`` or a country code.
        consumers: each country's DELIVERY durable consumer names (its sinks).
    """
    if name == HUB_USER:
        return hub_permissions()
    if name == OPERATOR_USER:
        return operator_permissions()
    if name == SYSTEM_USER:
        return system_permissions()
    return party_permissions(name, (consumers or {}).get(name, []))


def authorization_block(
    deployment: Deployment, consumers: Mapping[str, list[str]] | None = None
) -> str:
    """The nats-server access config: public nkeys and permissions only.

    An ``authorization { users = [...] }`` block of every login but ``system`` (they share
    the global account, where the streams are) and, once the deployment has the
    ``system`` login, an ``accounts { SYS { users = [...] } }`` block holding it alone
    with ``system_account: SYS``.

    Args:
        deployment: whose ``nats/nkeys.json`` to use.
        consumers: each country's DELIVERY durable consumer names (its sinks).

    Raises:
        ConfigError: the deployment has no logins (run ``enlace init``).
    """
    keys = read_logins(deployment)
    if not keys:
        raise ConfigError(
            f"no NATS logins in {public_keys_path(deployment)}: the embedded server would "
            "be open to anyone; run `enlace init` again to create them"
        )
    consumers = consumers or {}
    system = keys.pop(SYSTEM_USER, None)
    users = _user_lines(keys, consumers, "    ")
    block = "authorization {\n  users = [\n" + users + "\n  ]\n}"
    if system is None:
        return block
    system_user = _user_lines({SYSTEM_USER: system}, consumers, "      ")
    return (
        f"{block}\n"
        "# The system account: its one login hears why the server closed a connection.\n"
        f"accounts {{\n  {SYSTEM_ACCOUNT} {{\n    users = [\n{system_user}\n    ]\n  }}\n}}\n"
        f"system_account: {SYSTEM_ACCOUNT}"
    )


def _user_lines(keys: Mapping[str, str], consumers: Mapping[str, list[str]], indent: str) -> str:
    lines = []
    for name, public_key in sorted(keys.items()):
        entry = {"nkey": public_key, "permissions": login_permissions(name, consumers)}
        # An nkey says nothing to a reader: the comment names its login.
        lines.append(f"{indent}# {name}")
        # JSON is valid nats-server config syntax.
        lines.append(indent + json.dumps(entry))
    return "\n".join(lines)
