"""Every error of the audit log (:mod:`hub.audit`), hung from :class:`hub.errors.HubError`.

``tests/test_error_trees.py`` derives this drawing from the classes.

Tree::

    HubError (hub.errors)
    └── AuditError                        audit_error             an audit error (base)
        ├── AuditEntryInvalid (ValueError)  audit_entry_invalid   an entry breaks the model
        ├── AuditStoreError               audit_store             AUDIT cannot be used
        │   ├── AuditLogCorrupt           audit_log_corrupt       batches are not one log
        │   └── AuditStreamWeakened       audit_stream_weakened   a stream could lose entries
        ├── CheckpointError (ValueError)  audit_checkpoint        malformed or unsigned
        ├── TreeStateError (ValueError)   audit_tree_state        a stored state is malformed
        ├── ProofError (ValueError)       audit_proof             a proof does not hold
        └── ExportError (ValueError)      audit_export            an export cannot be read
"""

from __future__ import annotations

from hub.errors import HubError

__all__ = [
    "AuditEntryInvalid",
    "AuditError",
    "AuditLogCorrupt",
    "AuditStoreError",
    "AuditStreamWeakened",
    "CheckpointError",
    "ExportError",
    "ProofError",
    "TreeStateError",
]


class AuditError(HubError):
    """Base of every error of the audit log."""

    code = "audit_error"


class AuditEntryInvalid(AuditError, ValueError):
    code = "audit_entry_invalid"


class AuditStoreError(AuditError):
    code = "audit_store"


class AuditLogCorrupt(AuditStoreError):
    code = "audit_log_corrupt"


class AuditStreamWeakened(AuditStoreError):
    """An audit stream's configuration lets entries be dropped, deleted or rolled up.

    Attributes:
        stream: AUDIT or AUDIT_CHECKPOINTS.
        problems: each weakness, as a phrase.
    """

    code = "audit_stream_weakened"

    def __init__(self, stream: str, problems: list[str]) -> None:
        self.stream = stream
        self.problems = list(problems)
        super().__init__(
            f"stream {stream} no longer keeps every audit entry: {'; '.join(problems)}. "
            "The hub's login may not change it, so someone else did: find out who, put the "
            "configuration back with an account that may (deny_delete and deny_purge on, no "
            "limits, no rollup), check the log with `enlace audit verify`, then start the hub"
        )


class CheckpointError(AuditError, ValueError):
    code = "audit_checkpoint"


class TreeStateError(AuditError, ValueError):
    code = "audit_tree_state"


class ProofError(AuditError, ValueError):
    code = "audit_proof"


class ExportError(AuditError, ValueError):
    code = "audit_export"
