"""An audit log for the integration tests, made as the hub makes it: streams, then writer."""

from __future__ import annotations

from nats.js import JetStreamContext

from hub.audit import AuditEntry, AuditWriter, CheckpointSigner, kinds
from hub.config import HubSettings
from hub.jetstream.streams import ensure_audit_streams
from schemas.countersign import sha256_digest

__all__ = ["open_audit_writer", "received_entry"]

_SETTINGS = HubSettings(nats_url="nats://unused")  # one replica, as every test server has


async def open_audit_writer(
    js: JetStreamContext,
    signer: CheckpointSigner,
    origin: str,
    *,
    checkpoint_every: int = 1000,
    checkpoint_seconds: float = 10.0,
    max_batch_bytes: int = 512 * 1024,
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
    """
    await ensure_audit_streams(js, _SETTINGS)
    return await AuditWriter.open(
        js,
        signer,
        origin,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        max_batch_bytes=max_batch_bytes,
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
