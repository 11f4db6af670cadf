"""Audit entries as tests of the CLI and the console build them: one GT message, M1."""

from __future__ import annotations

from hub.audit import kinds
from hub.audit.entries import AuditEntry

DIGEST = "sha256:" + "1" * 64


def received_m1(*conditions: str, again: bool = False) -> AuditEntry:
    """The ``received`` entry of GT's gang movement M1 (10 bytes) with ``conditions``."""
    return kinds.received(
        message_id="M1",
        sender_country="GT",
        poc="gt-gangs",
        type_="gang_movement",
        theme="gangs",
        digest=DIGEST,
        size=10,
        again=again,
        conditions=conditions,
    )
