"""Audit exports: one file with the entries and the signed checkpoints, for offline checks.

JSON Lines, UTF-8::

    {"exported_at": "...", "format": "enlace-audit-export", "origin": "...", "version": 1}
    <entry 0, its exact stored bytes>
    <entry 1>
    ...
    {"checkpoint": "<signed note text>"}
    ...
    {"leaves": "<signed leaves note text>"}      (hub.audit.leaves; may be absent)
    ...
    {"witness": {"country": "GT", "kind": "cosigned", "text": "<cosigned checkpoint>"}}
    ...                                          (hub.audit.witness; may be absent)

Entry lines are the stored canonical JSON bytes themselves (a change to one byte of the
file is a change to one byte of an entry), so ``enlace audit verify --from-export``
recomputes the same leaves the hub hashed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hub.audit.checkpoint import Checkpoint
from hub.audit.errors import CheckpointError, ExportError
from hub.audit.reader import WitnessRecord
from schemas.canonical import canonical_json

__all__ = ["EXPORT_FORMAT", "AuditExport", "latest_size", "read_export", "write_export"]

EXPORT_FORMAT = "enlace-audit-export"


@dataclass(frozen=True)
class AuditExport:
    origin: str | None
    entries: list[bytes]
    checkpoints: list[str]
    leaves: list[str] = field(default_factory=list)
    witnesses: list[WitnessRecord] = field(default_factory=list)


def latest_size(notes: Sequence[str]) -> int:
    """The largest size any (parseable) checkpoint claims; signatures are checked by verify."""
    sizes = [0]
    for note in notes:
        body = note.partition("\n\n")[0] + "\n"
        try:
            sizes.append(Checkpoint.parse_body(body).size)
        except CheckpointError:
            continue
    return max(sizes)


def write_export(
    path: Path,
    origin: str | None,
    entries: Sequence[bytes],
    checkpoints: Sequence[str],
    leaves: Sequence[str] = (),
    witnesses: Sequence[WitnessRecord] = (),
) -> None:
    """Write an export file atomically (temp file, fsync, rename).

    Args:
        path: the file to write.
        origin: the log's origin (as its checkpoints name it), when known.
        entries: the leaves, in order, as stored.
        checkpoints: the signed checkpoints, as stored.
        leaves: the signed leaves notes stored beside them.
        witnesses: what the parties' witnesses stored (AUDIT_WITNESS).
    """
    header = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "origin": origin,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(canonical_json(header) + b"\n")
        for raw in entries:
            fh.write(raw + b"\n")
        for note in checkpoints:
            fh.write(canonical_json({"checkpoint": note}) + b"\n")
        for note in leaves:
            fh.write(canonical_json({"leaves": note}) + b"\n")
        for record in witnesses:
            said = {"country": record.country, "kind": record.kind, "text": record.data.decode()}
            fh.write(canonical_json({"witness": said}) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def read_export(path: Path) -> AuditExport:
    """Read an export file (entries are kept as raw bytes, unchecked: verify checks them).

    Raises:
        ExportError: unreadable, or the first line is not an export header.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read export {path}: {exc.strerror}") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise ExportError(
            f"{path} line 1: not an Enlace audit export header; make one with `enlace audit export`"
        )
    entries: list[bytes] = []
    notes: dict[str, list[str]] = {"checkpoint": [], "leaves": []}
    witnesses: list[WitnessRecord] = []
    for raw in lines[1:]:
        if raw.startswith(b'{"witness":'):
            record = _witness_line(raw, len(witnesses))
            if record is not None:
                witnesses.append(record)
                continue
        key = next((k for k in notes if raw.startswith(b'{"%s":' % k.encode())), None)
        if key is not None:
            try:
                note = json.loads(raw)[key]
            except (ValueError, KeyError, TypeError):
                note = None
            if isinstance(note, str):
                notes[key].append(note)
                continue
        entries.append(raw)
    origin = header.get("origin")
    return AuditExport(
        origin if isinstance(origin, str) else None,
        entries,
        notes["checkpoint"],
        notes["leaves"],
        witnesses,
    )


def _witness_line(raw: bytes, seq: int) -> WitnessRecord | None:
    try:
        said = json.loads(raw)["witness"]
        return WitnessRecord(
            seq + 1, str(said["country"]), str(said["kind"]), said["text"].encode()
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
