"""The tamper-evident audit log: entries, Merkle tree, checkpoints; writing, reading, verifying.

The hub pipeline uses it like this (see DESIGN.md "Audit log" and the modules)::

    await ensure_audit_streams(js, settings)    # hub.jetstream.streams: AUDIT, AUDIT_CHECKPOINTS
    origin = await log_name(js, settings.deployment_id, hub_id)   # enlace.<deployment id>
    signer = CheckpointSigner(hub_private_key, name=origin)   # the key is named as the log
    writer = await AuditWriter.open(js, signer, origin)
    await writer.append([kinds.received(...), kinds.routed(...)])  # persisted now
    ...
    await writer.close()                                      # final signed checkpoint

``append`` returns the entries' leaf indexes only after JetStream acknowledged the batch
holding them; concurrent callers are coalesced into one publish.
"""

from __future__ import annotations

from hub.audit import kinds
from hub.audit.checkpoint import Checkpoint, CheckpointSigner, CheckpointVerifier, open_checkpoint
from hub.audit.entries import AuditEntry, EntryKind, parse_entry
from hub.audit.errors import AuditError, AuditStoreError
from hub.audit.reader import AuditReader
from hub.audit.tail import OpenReport
from hub.audit.verify import VerifyReport, verify_log
from hub.audit.writer import AuditWriter

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditReader",
    "AuditStoreError",
    "AuditWriter",
    "Checkpoint",
    "CheckpointSigner",
    "CheckpointVerifier",
    "EntryKind",
    "OpenReport",
    "VerifyReport",
    "kinds",
    "open_checkpoint",
    "parse_entry",
    "verify_log",
]
