"""Reading quarantine copies (stream QUARANTINE) and showing their bytes to operators.

Operators read copies by stream sequence (a stream message get: no consumer, nothing
changed); showing a copy's bytes is recorded in the audit log first, by the hub
(:mod:`hub.quarantine.viewings`).
"""

from __future__ import annotations

from hub.quarantine.display import Shown, hex_dump, show_bytes
from hub.quarantine.records import (
    QUARANTINE_STREAM,
    CopyFilter,
    QuarantineCopy,
    copy_at,
    find_copy,
    recent_copies,
)
from hub.quarantine.viewings import ViewingRefused, record_viewing, serve_viewings

__all__ = [
    "QUARANTINE_STREAM",
    "CopyFilter",
    "QuarantineCopy",
    "Shown",
    "ViewingRefused",
    "copy_at",
    "find_copy",
    "hex_dump",
    "recent_copies",
    "record_viewing",
    "serve_viewings",
    "show_bytes",
]
