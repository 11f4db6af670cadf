"""The audit log's streams: their names, subjects and headers, and what a writer needs.

AUDIT holds the entries (``enlace.audit``), AUDIT_CHECKPOINTS the signed checkpoints
(``enlace.audit.checkpoint``), AUDIT_WITNESS what the parties' witnesses said of them
(``enlace.witness.CC.cosigned`` / ``.refused``, :mod:`hub.audit.witness`). All are made
by the hub's stream registry (:func:`hub.jetstream.streams.ensure_audit_streams`) with
``deny_delete`` and ``deny_purge``: the server refuses to remove entries, whoever asks.
A writer checks them
before it appends (:func:`check_stream`): it refuses a stream that is missing or whose
configuration could lose entries (:func:`weaknesses`). Restrict publishing on
``enlace.audit`` to the hub's credentials: the log proves order and integrity against its
checkpoints, not who published an entry.
"""

from __future__ import annotations

from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from hub.audit.errors import AuditStoreError, AuditStreamWeakened

__all__ = [
    "AUDIT_STREAM",
    "AUDIT_SUBJECT",
    "CHECKPOINT_STREAM",
    "CHECKPOINT_SUBJECT",
    "HDR_COUNT",
    "HDR_EXPECTED_LAST_SEQ",
    "HDR_FIRST",
    "HDR_LEAVES",
    "HDR_MSG_ID",
    "HDR_STATE",
    "WITNESS_STREAM",
    "check_stream",
    "weaknesses",
]

AUDIT_STREAM = "AUDIT"
AUDIT_SUBJECT = "enlace.audit"
CHECKPOINT_STREAM = "AUDIT_CHECKPOINTS"
CHECKPOINT_SUBJECT = "enlace.audit.checkpoint"
WITNESS_STREAM = "AUDIT_WITNESS"  # the parties' cosignatures and refusals (hub.audit.witness)
HDR_FIRST = "Enlace-Audit-First"
HDR_COUNT = "Enlace-Audit-Count"
HDR_STATE = "Enlace-Audit-State"  # base64 of the signed WriterState note, on checkpoints
HDR_LEAVES = "Enlace-Audit-Leaves"  # base64 of the signed SignedLeaves note, on checkpoints
HDR_EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
HDR_MSG_ID = "Nats-Msg-Id"


def _unlimited(value: float | None) -> bool:
    return value is None or value <= 0


def weaknesses(config: api.StreamConfig, replicas: int) -> list[str]:
    """What in an audit stream's configuration could lose or rewrite entries (none: []).

    Args:
        config: the stream's configuration as the server reports it.
        replicas: the replicas the deployment asks for (``streams.replicas``).
    """
    found = []
    if not config.deny_delete:
        found.append("deny_delete is off (entries could be deleted)")
    if not config.deny_purge:
        found.append("deny_purge is off (the stream could be purged)")
    if config.retention not in (None, api.RetentionPolicy.LIMITS):
        found.append(f"retention is {config.retention} (acks would remove entries)")
    limits = {
        "max_msgs": config.max_msgs,
        "max_bytes": config.max_bytes,
        "max_age": config.max_age,
        "max_msgs_per_subject": config.max_msgs_per_subject,
    }
    found += [
        f"{k} is {v} (old entries would be dropped)" for k, v in limits.items() if not _unlimited(v)
    ]
    if config.allow_rollup_hdrs:
        found.append("allow_rollup_hdrs is on (a Nats-Rollup header would purge entries)")
    if config.allow_msg_ttl:
        found.append("allow_msg_ttl is on (a Nats-TTL header would expire entries)")
    if config.sealed:
        found.append("sealed (no entry can be appended)")
    if (config.num_replicas or 1) < replicas:
        found.append(f"num_replicas is {config.num_replicas or 1}, the deployment asks {replicas}")
    return found


async def check_stream(js: JetStreamContext, name: str, replicas: int) -> int:
    """Refuse to write to audit stream ``name`` unless it is there and keeps every entry;
    returns its replicas.

    The hub's login may not update these streams (:mod:`hub.server.logins`), so what another
    login weakened cannot be put back from here: the hub refuses to write to it.

    Args:
        js: the hub's JetStream context.
        name: :data:`AUDIT_STREAM` or :data:`CHECKPOINT_STREAM`.
        replicas: the replicas the deployment asks for (``streams.replicas``).

    Raises:
        AuditStoreError: the stream does not exist.
        AuditStreamWeakened: it may drop, delete or roll up entries.
    """
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        raise AuditStoreError(
            f"stream {name} does not exist on this NATS server; the hub makes it at start "
            "(hub.jetstream.streams.ensure_audit_streams, which `enlace up` runs)"
        ) from None
    found = weaknesses(info.config, replicas)
    if found:
        raise AuditStreamWeakened(name, found)
    return info.config.num_replicas or 1
