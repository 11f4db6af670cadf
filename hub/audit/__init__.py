"""The tamper-evident audit log: entries, Merkle tree, checkpoints, JetStream store.

Public facade; see DESIGN.md "Audit log" and the modules' docstrings.
"""

from __future__ import annotations

from hub.audit.checkpoint import Checkpoint, CheckpointSigner, CheckpointVerifier, open_checkpoint
from hub.audit.entries import AuditEntry, EntryKind, parse_entry
from hub.audit.errors import AuditError, AuditStoreError
from hub.audit.store import AuditReader, AuditWriter, ensure_streams
from hub.audit.verify import VerifyReport, verify_log

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
    "VerifyReport",
    "ensure_streams",
    "open_checkpoint",
    "parse_entry",
    "verify_log",
]
