"""Every error of the audit log (:mod:`hub.audit`).

Tree::

    HubError (hub.errors)
    └── AuditError                    audit_error
        ├── AuditEntryInvalid         audit_entry_invalid     an entry breaks the model
        ├── AuditStoreError           audit_store             the AUDIT stream cannot be used
        │   └── AuditLogCorrupt       audit_log_corrupt       stored batches are not one linear log
        ├── CheckpointError           audit_checkpoint        a checkpoint is malformed or unsigned
        ├── TreeStateError            audit_tree_state        a stored writer state is malformed
        ├── ProofError                audit_proof             an inclusion/consistency proof fails
        └── ExportError               audit_export            an export file cannot be read
"""

from __future__ import annotations

from hub.errors import HubError

__all__ = [
    "AuditEntryInvalid",
    "AuditError",
    "AuditLogCorrupt",
    "AuditStoreError",
    "CheckpointError",
    "ExportError",
    "ProofError",
    "TreeStateError",
]


class AuditError(HubError):
    code = "audit_error"


class AuditEntryInvalid(AuditError, ValueError):
    code = "audit_entry_invalid"


class AuditStoreError(AuditError):
    code = "audit_store"


class AuditLogCorrupt(AuditStoreError):
    code = "audit_log_corrupt"


class CheckpointError(AuditError, ValueError):
    code = "audit_checkpoint"


class TreeStateError(AuditError, ValueError):
    code = "audit_tree_state"


class ProofError(AuditError, ValueError):
    code = "audit_proof"


class ExportError(AuditError, ValueError):
    code = "audit_export"
