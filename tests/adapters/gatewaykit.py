"""A deployment-like folder for source tests: POC keys on disk, tokens, a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.jws import private_key_pem
from schemas.messages.gangs import GANG_MOVEMENT_V1
from tests.factories import TestDirectory, make_directory, poc_id

__all__ = ["SourceSetup", "gang_message", "source_setup"]


@dataclass
class SourceSetup:
    td: TestDirectory
    keys_dir: Path
    poc: str


def source_setup(root: Path, country: str = "GT") -> SourceSetup:
    """A directory of GT, SV, US (gangs) with ``country``'s gangs POC key written to disk."""
    td = make_directory(parties=("GT", "SV", "US"), themes=("gangs",))
    poc = poc_id(country, "gangs")
    kid = td.poc_kid(country, "gangs")
    folder = root / "keys" / "poc" / poc
    folder.mkdir(parents=True)
    (folder / f"{kid}.pem").write_bytes(private_key_pem(td.keys[kid]))
    return SourceSetup(td, root / "keys", poc)


def gang_message(**fields: Any) -> dict[str, Any]:
    """What a national system sends: no id, sender or issued_at (the adapter adds them)."""
    message: dict[str, Any] = {
        "type": "gang_movement",
        "version": 1,
        "theme": "gangs",
        "handling": "amber",
        "payload": dict(GANG_MOVEMENT_V1.example),
    }
    message.update(fields)
    return message
