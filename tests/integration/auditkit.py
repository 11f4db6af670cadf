"""An audit log for the integration tests, made as the hub makes it: streams, then writer."""

from __future__ import annotations

from nats.js import JetStreamContext

from hub.audit import AuditEntry, AuditWriter, CheckpointSigner, kinds
from hub.audit.inflight import DEPTH
from hub.config import HubSettings
from hub.jetstream.streams import ensure_audit_streams
from schemas.countersign import sha256_digest

__all__ = ["numbered_entry", "open_audit_writer", "received_entry"]

_SETTINGS = HubSettings(nats_url="nats://unused")  # one replica, as every test server has


async def open_audit_writer(
    js: JetStreamContext,
    signer: CheckpointSigner,
    origin: str,
    *,
    checkpoint_every: int = 1000,
    checkpoint_seconds: float = 10.0,
    max_batch_bytes: int = 512 * 1024,
    max_batch: int = 1000,
    depth: int = DEPTH,
) -> AuditWriter:
    """Make the audit streams (:func:`~hub.jetstream.streams.ensure_audit_streams`, as the
    hub does at start), then open a writer on them (:meth:`AuditWriter.open`).

    Args:
        js: a JetStream context (the hub's login, or none).
        signer: the checkpoint key.
        origin: the log's origin line.
        checkpoint_every: entries between checkpoints.
        checkpoint_seconds: seconds between checkpoints.
        max_batch_bytes: the most entry bytes in one AUDIT message.
        max_batch: the most entries in one AUDIT message.
        depth: the most batches in flight (:mod:`hub.audit.inflight`).
    """
    await ensure_audit_streams(js, _SETTINGS)
    return await AuditWriter.open(
        js,
        signer,
        origin,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        max_batch_bytes=max_batch_bytes,
        max_batch=max_batch,
        depth=depth,
    )


def received_entry(message_id: str, theme: str, country: str, again: bool = False) -> AuditEntry:
    """A ``received`` entry of a message of ``theme`` from ``country`` (``again``: a
    redelivered message's repeated decision)."""
    return kinds.received(
        message_id=message_id,
        sender_country=country,
        poc=None,
        type_="gang_movement",
        theme=theme,
        digest=sha256_digest(message_id.encode()),
        size=10,
        again=again,
    )


def numbered_entry(n: int) -> AuditEntry:
    """A ``rejected`` entry told apart by ``n`` (its digest and size)."""
    return kinds.rejected(None, "GT", "malformed_json", sha256_digest(str(n).encode()), n)
