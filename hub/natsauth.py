"""NATS access per party, deny by default: one login per country and one for the hub.

``enlace init`` calls :func:`ensure_credentials`; ``enlace up`` renders the server's
``authorization`` block with :func:`authorization_block` on every start (so that new sinks
get their consumer's permissions). Logins are user + random password (the ``nkeys``
package is not a dependency), kept in ``nats/users.json`` (mode 0600, never printed).

A country ``CC`` may (and may do nothing else):

=====================================================  ==========================================
publish                                                why
=====================================================  ==========================================
``enlace.in.CC.>``                                     report (INGRESS)
``enlace.receipt.CC``, ``enlace.deadletter.CC``        its sinks' receipts and dead letters
``$JS.API.CONSUMER.CREATE.DELIVERY.*.enlace.out.CC.>``  create consumers on its own deliveries only
``$JS.API.CONSUMER.{INFO,MSG.NEXT}.DELIVERY.<sink>``   read through its sinks' named consumers
``$JS.ACK.DELIVERY.<sink>.>``                          ack them
``…CREATE.{REJECTED,RECEIPTS,DEADLETTER_CC}.*.<own>``  read its notices, receipts, dead letters
``$JS.API.STREAM.{INFO,MSG.DELETE}.DEADLETTER_CC``     count / remove its own dead letters only
=====================================================  ==========================================

and subscribe only to ``_INBOX.CC.>`` (its replies: every client of country CC must use
that inbox prefix), ``enlace.outcome.CC`` and ``enlace.rejected.CC``. Only the hub may read
INGRESS or publish deliveries; the hub may not delete or purge the audit streams
(:func:`hub_permissions`). The ``operator`` login (``enlace status``, ``enlace audit``)
may only read stream and consumer state and the audit log (:func:`operator_permissions`).
Ephemeral consumers (notices, dead letters) have random
names, so pulling from them is allowed by wildcard: a name is not guessable.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.deployment import Deployment
from hub.errors import ConfigError
from schemas.subjects import deadletter_stream

__all__ = [
    "HUB_USER",
    "OPERATOR_USER",
    "NatsUser",
    "authorization_block",
    "credentials_path",
    "ensure_credentials",
    "hub_permissions",
    "load_user",
    "operator_permissions",
    "party_permissions",
    "read_credentials",
]

HUB_USER = "hub"
OPERATOR_USER = "operator"
"""Read-only login of the operator commands (``enlace status``, ``enlace audit``)."""


def credentials_path(deployment: Deployment) -> Path:
    return deployment.nats_dir / "users.json"


def _read(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of user to password")
    return {str(k): str(v) for k, v in data.items()}


def ensure_credentials(deployment: Deployment, parties: Iterable[str]) -> dict[str, str]:
    """Create a login for the hub and each party that has none yet; returns all logins.

    Existing passwords are kept, so running it again (a new party) changes no one else's.
    """
    path = credentials_path(deployment)
    users = _read(path)
    for user in (HUB_USER, OPERATOR_USER, *parties):
        users.setdefault(user, secrets.token_urlsafe(24))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written with 0600 from the start: the file must never be readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(users, out, indent=2, sort_keys=True)
    path.chmod(0o600)
    return users


@dataclass(frozen=True)
class NatsUser:
    """One NATS login: the hub's or a country's. ``repr`` hides the password."""

    name: str
    password: str

    def __repr__(self) -> str:
        return f"NatsUser(name={self.name!r}, password=***)"

    @property
    def inbox_prefix(self) -> str:
        """The only reply inbox this user may subscribe to (the hub may use any)."""
        return "_INBOX" if self.name == HUB_USER else f"_INBOX.{self.name}"

    def connect_options(self) -> dict[str, str]:
        """``nats.connect`` keyword arguments for this login."""
        return {"user": self.name, "password": self.password, "inbox_prefix": self.inbox_prefix}


def read_credentials(deployment: Deployment) -> dict[str, str]:
    """Every login of the deployment, user → password (empty when there are none)."""
    return _read(credentials_path(deployment))


def load_user(deployment: Deployment, name: str) -> NatsUser:
    """The login of ``name`` (``hub`` or a country code).

    Raises:
        ConfigError: the deployment holds no login for ``name``.
    """
    users = read_credentials(deployment)
    if name not in users:
        raise ConfigError(
            f"no NATS login for {name!r} in {credentials_path(deployment)}; "
            "run `enlace init` again to add the logins it lacks"
        )
    return NatsUser(name, users[name])


def party_permissions(cc: str, consumers: Iterable[str] = ()) -> dict[str, Any]:
    """The publish/subscribe allow lists of country ``cc`` (everything else is denied)."""
    api = "$JS.API.CONSUMER"
    dead = deadletter_stream(cc)
    publish = [
        f"enlace.in.{cc}.>",
        f"enlace.receipt.{cc}",
        f"enlace.deadletter.{cc}",
        "$JS.API.INFO",
        f"{api}.CREATE.DELIVERY.*.enlace.out.{cc}.>",
        f"{api}.CREATE.REJECTED.*.enlace.rejected.{cc}",
        f"{api}.CREATE.RECEIPTS.*.enlace.receipt.{cc}",
        f"{api}.CREATE.{dead}.*.enlace.deadletter.{cc}",
        f"{api}.MSG.NEXT.REJECTED.*",
        f"{api}.MSG.NEXT.RECEIPTS.*",
        f"{api}.MSG.NEXT.{dead}.*",
        "$JS.ACK.REJECTED.>",
        "$JS.ACK.RECEIPTS.>",
        f"$JS.ACK.{dead}.>",
        # Its own dead-letter stream only: the count for `adapter status`, and removing
        # a dead letter once `replay-dead-letters` has delivered it.
        f"$JS.API.STREAM.INFO.{dead}",
        f"$JS.API.STREAM.MSG.DELETE.{dead}",
    ]
    for name in consumers:
        publish += [
            f"{api}.INFO.DELIVERY.{name}",
            f"{api}.MSG.NEXT.DELIVERY.{name}",
            f"$JS.ACK.DELIVERY.{name}.>",
        ]
    subscribe = [f"_INBOX.{cc}.>", f"enlace.outcome.{cc}", f"enlace.rejected.{cc}"]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def hub_permissions() -> dict[str, Any]:
    """The hub may do all it needs on ``enlace.>`` and JetStream, but never remove audit data.

    The AUDIT streams are created with ``deny_delete``/``deny_purge`` already; denying the
    API calls too means a stolen hub login cannot delete the streams themselves.
    """
    deny = [
        f"$JS.API.{action}.{stream}"
        for stream in ("AUDIT", "AUDIT_CHECKPOINTS")
        for action in ("STREAM.DELETE", "STREAM.PURGE", "STREAM.MSG.DELETE")
    ]
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
    for stream in ("AUDIT", "AUDIT_CHECKPOINTS"):
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


def authorization_block(
    deployment: Deployment, consumers: Mapping[str, list[str]] | None = None
) -> str:
    """The nats-server ``authorization { users = [...] }`` block of the deployment's logins.

    Args:
        deployment: whose ``nats/users.json`` to use.
        consumers: each country's DELIVERY durable consumer names (its sinks).

    Raises:
        ConfigError: the deployment has no logins (run ``enlace init``).
    """
    users = read_credentials(deployment)
    if not users:
        raise ConfigError(
            f"no NATS logins in {credentials_path(deployment)}: the embedded server would "
            "be open to anyone; run `enlace init` again to create them"
        )
    consumers = consumers or {}
    entries = []
    for user, password in sorted(users.items()):
        entry: dict[str, Any] = {"user": user, "password": password}
        if user == HUB_USER:
            entry["permissions"] = hub_permissions()
        elif user == OPERATOR_USER:
            entry["permissions"] = operator_permissions()
        else:
            entry["permissions"] = party_permissions(user, consumers.get(user, []))
        # JSON is valid nats-server config syntax.
        entries.append("    " + json.dumps(entry))
    return "authorization {\n  users = [\n" + "\n".join(entries) + "\n  ]\n}"
