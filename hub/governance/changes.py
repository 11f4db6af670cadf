"""What a governance load changes, for the record: its audit entries and its warnings.

``enlace up`` puts these entries on the audit log when it starts and on every reload
(accepted or refused), and logs the agreements that load but are not in force.
"""

from __future__ import annotations

import structlog

from hub.audit import AuditEntry, kinds
from hub.audit.key_events import key_events
from hub.governance.model import Governance
from hub.policy import set_changes
from schemas.errors import EnlaceError

__all__ = ["loaded_entries", "refused_entry", "warn_unsigned"]

log = structlog.get_logger("enlace.governance")


def warn_unsigned(governance: Governance) -> None:
    """Log the agreements that load but are not in force for want of signatures, with their file."""
    for status in governance.agreements.statuses:
        if status.missing or status.bad:
            log.warning(
                "agreement_not_in_force",
                agreement=status.agreement.id,
                file=str(status.path),
                missing_signatures=list(status.missing),
                bad_signatures=[f"{party}: {problem}" for party, problem in status.bad],
            )


def loaded_entries(governance: Governance, before: Governance | None = None) -> list[AuditEntry]:
    """Audit entries for governance now in force: directory version, key and agreement changes.

    Args:
        governance: the governance now in force.
        before: what was in force until now; None at start (every agreement is then new).
    """
    entries = [
        kinds.governance("directory", str(governance.directory.version), "loaded"),
    ]
    if before is not None:
        entries += key_events(before.directory, governance.directory)
    empty = type(governance.agreements)()
    previous = before.agreements if before is not None else empty
    for change in set_changes(previous, governance.agreements):
        entries.append(
            kinds.governance(
                "agreement", change["agreement"], change["change"], detail=change["digest"]
            )
        )
    return entries


def refused_entry(error: EnlaceError) -> AuditEntry:
    """The audit entry of a reload refused for ``error`` (its reason code, no content)."""
    return kinds.governance("reload", "refused", "refused", detail=error.code)
