"""What each NATS login may do, deny by default, and the server's ``authorization`` block.

A country ``CC`` may (and may do nothing else):

=====================================================  ==========================================
publish                                                why
=====================================================  ==========================================
``enlace.in.CC.>``                                     report (its stream INGRESS_CC)
``enlace.receipt.CC``, ``enlace.deadletter.CC``        its sinks' receipts and dead letters
``enlace.witness.CC.{checkpoint,cosigned,refused}``    its witness: ask the hub for a checkpoint
                                                       and proof, store its cosignature or refusal
``$JS.API.INFO``                                       the JetStream account check of nats-py
``$JS.API.CONSUMER.{INFO,MSG.NEXT}.DELIVERY.<sink>``   read through its sinks' named consumers
``$JS.ACK.DELIVERY.<sink>.>``                          ack them
``$JS.API.STREAM.{INFO,MSG.GET,MSG.DELETE}.DEADLETTER_CC``  count, read, remove its own dead letters
``$JS.API.STREAM.{INFO,MSG.GET}.OUTCOMES_CC``          read its own kept outcomes (by id:
``$JS.API.DIRECT.GET.OUTCOMES_CC[.enlace.outcome.CC.>]``  the last message of the id's subject)
=====================================================  ==========================================

and subscribe only to ``_INBOX.CC.>`` (its replies: every client of country CC must use
that inbox prefix), ``enlace.outcome.CC.>`` (the outcome of each of its messages, as the
hub stores it) and ``enlace.rejected.CC``. Its outcomes it may only read: no consumer, no
purge or delete, so that what a sender may collect later stays there for its age. A country creates,
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

The logins themselves (nkeys, seeds) are :mod:`hub.server.logins.credentials`'; the subjects are
those of :mod:`schemas.subjects`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from hub.deployment import Deployment
from hub.errors import ConfigError
from hub.server.logins.credentials import (
    HUB_USER,
    OPERATOR_USER,
    SYSTEM_ACCOUNT,
    SYSTEM_USER,
    public_keys_path,
    read_logins,
)
from schemas.subjects import (
    deadletter_stream,
    deadletter_subject,
    every_subject,
    inbox_filter,
    ingress_filter,
    outcome_filter,
    outcome_stream,
    quarantine_viewed_subject,
    receipt_subject,
    rejected_subject,
    witness_cosigned_subject,
    witness_refused_subject,
    witness_request_subject,
)

__all__ = [
    "AUDIT_STREAMS",
    "DISCONNECT_EVENTS",
    "authorization_block",
    "authorization_for",
    "hub_permissions",
    "login_permissions",
    "operator_permissions",
    "party_permissions",
    "system_permissions",
]

DISCONNECT_EVENTS = "$SYS.ACCOUNT.*.DISCONNECT"
"""Where the server tells its system account why it closed a client's connection."""


def party_permissions(cc: str, consumers: Iterable[str] = ()) -> dict[str, Any]:
    """The publish/subscribe allow lists of country ``cc`` (everything else is denied).

    No consumer verb but fetch, info and ack, and only on its own sinks' named consumers:
    a ``CONSUMER.CREATE`` of an existing durable updates it, so a login that may create
    consumers may re-point another's (:mod:`hub.jetstream.consumers` makes them all).

    Args:
        cc: the country code.
        consumers: its sinks' DELIVERY consumer names.

    Raises:
        ValueError: ``cc`` is not a country code.
    """
    dead = deadletter_stream(cc)
    kept = outcome_stream(cc)
    publish = [
        ingress_filter(cc),
        receipt_subject(cc),
        deadletter_subject(cc),
        # Its witness (adapters.witness): the request to the hub, and what it says of the
        # checkpoint, stored in AUDIT_WITNESS under its own country only.
        witness_request_subject(cc),
        witness_cosigned_subject(cc),
        witness_refused_subject(cc),
        "$JS.API.INFO",
        # Its own dead-letter stream only: the count for `adapter status`, reading each
        # letter by sequence for `replay-dead-letters`, removing one once delivered.
        f"$JS.API.STREAM.INFO.{dead}",
        f"$JS.API.STREAM.MSG.GET.{dead}",
        f"$JS.API.STREAM.MSG.DELETE.{dead}",
        # Its own outcomes, read only: by id (a direct get of the last message on the
        # id's subject, or a JSON request), and the stream's info.
        f"$JS.API.STREAM.INFO.{kept}",
        f"$JS.API.STREAM.MSG.GET.{kept}",
        f"$JS.API.DIRECT.GET.{kept}",
        f"$JS.API.DIRECT.GET.{kept}.{outcome_filter(cc)}",
    ]
    for name in consumers:
        publish += [
            f"$JS.API.CONSUMER.INFO.DELIVERY.{name}",
            f"$JS.API.CONSUMER.MSG.NEXT.DELIVERY.{name}",
            f"$JS.ACK.DELIVERY.{name}.>",
        ]
    subscribe = [inbox_filter(cc), outcome_filter(cc), rejected_subject(cc)]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


AUDIT_STREAMS = ("AUDIT", "AUDIT_CHECKPOINTS", "AUDIT_WITNESS")
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
    # The ordered consumers that read the audit log answer the server's flow control.
    flow_control = [f"$JS.FC.{stream}.>" for stream in AUDIT_STREAMS]
    allow = [every_subject(), "$JS.API.>", "$JS.ACK.>", *flow_control, "$KV.>", inbox_filter()]
    return {
        "publish": {
            "allow": allow,
            "deny": deny,
        },
        "subscribe": {"allow": [every_subject(), inbox_filter()]},
    }


QUARANTINE_READ = "$JS.API.STREAM.MSG.GET.QUARANTINE"
"""The one read of the refused the operator may make: one quarantine copy by sequence."""


def operator_permissions() -> dict[str, Any]:
    """Read-only: stream and consumer state, reading the audit log and its checkpoints, and
    quarantine copies one by one (a message get by sequence; no consumer, no direct get).

    One request that is not a read: asking the hub to record that an operator is shown a
    quarantine copy's bytes (:mod:`hub.quarantine.viewings`); the hub checks it and writes.
    """
    publish = [
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
        "$JS.API.STREAM.INFO.*",
        "$JS.API.CONSUMER.NAMES.*",
        "$JS.API.CONSUMER.LIST.*",
        "$JS.API.CONSUMER.INFO.*.*",
        QUARANTINE_READ,
        quarantine_viewed_subject(),
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
    subscribe = [inbox_filter(OPERATOR_USER)]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def system_permissions() -> dict[str, Any]:
    """Hear why the server closed connections; publish nothing at all.

    A system-account user may by default send the server's own requests (``$SYS.REQ.>``:
    kick a client, reload, read every account); this one may not, nor anything else.
    """
    return {
        "publish": {"deny": [">"]},
        "subscribe": {"allow": [DISCONNECT_EVENTS, inbox_filter(SYSTEM_USER)]},
    }


def login_permissions(
    name: str, consumers: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """The permissions of login ``name``: the hub's, the operator's, the system account's
    or a country's.

    Args:
        name: ``hub``, ``operator``, ``system`` or a country code.
        consumers: each country's DELIVERY durable consumer names (its sinks).

    Raises:
        ConfigError: ``name`` is none of these (a login added to ``nkeys.json`` by hand).
    """
    if name == HUB_USER:
        return hub_permissions()
    if name == OPERATOR_USER:
        return operator_permissions()
    if name == SYSTEM_USER:
        return system_permissions()
    try:
        return party_permissions(name, (consumers or {}).get(name, []))
    except ValueError:
        raise ConfigError(
            f"NATS login {name!r} is neither {HUB_USER!r}, {OPERATOR_USER!r}, {SYSTEM_USER!r} "
            "nor a party's country code, so it can be given no permissions: remove it from "
            "nats/nkeys.json"
        ) from None


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
        ConfigError: the deployment has no logins (run ``enlace init``), or one of them is
            not a known role or a country code.
    """
    keys = read_logins(deployment)
    if not keys:
        raise ConfigError(
            f"no NATS logins in {public_keys_path(deployment)}: the embedded server would "
            "be open to anyone; run `enlace init` again to create them"
        )
    return authorization_for(keys, consumers)


def authorization_for(keys: Mapping[str, str], consumers: Mapping[str, list[str]] | None) -> str:
    """The block of :func:`authorization_block` for logins ``keys`` (name → public nkey).

    Raises:
        ConfigError: a login is not a known role or a country code.
    """
    keys = dict(keys)
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
