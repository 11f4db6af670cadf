from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.audit.key_events import key_events
from schemas.directory import Directory
from schemas.govdoc import rfc3339
from tests.factories import make_directory


def _changed(directory: Directory, change: Any) -> Directory:
    data = directory.model_dump(mode="json")
    change(data)
    return Directory.model_validate(data)


Row = tuple[str | None, str | None, str | None]


def _summary(before: Directory, after: Directory) -> list[Row]:
    return [(e.outcome, e.version, e.owner) for e in key_events(before, after)]


def test_the_same_directory_has_no_key_events() -> None:
    directory = make_directory(parties=("GT", "US"), themes=("gangs",)).directory
    assert key_events(directory, directory) == []


def test_revoked_created_removed_and_expiry_are_each_recorded_with_their_holder() -> None:
    before = make_directory(parties=("GT", "US"), themes=("gangs",)).directory
    new_key = before.pocs[0].keys[0].model_dump(mode="json") | {"kid": "gt-gangs-k2"}
    when = rfc3339(datetime(2027, 1, 1, tzinfo=UTC))

    def change(data: dict[str, Any]) -> None:
        gt = next(p for p in data["pocs"] if p["id"] == "gt-gangs")
        gt["keys"][0]["revoked_at"] = when
        us = next(p for p in data["pocs"] if p["id"] == "us-gangs")
        us["keys"][0]["not_after"] = when
        data["parties"][0]["keys"] = []  # GT's system key removed
        # the same public key under a new kid is still a new key for the record
        data["hub"]["keys"].append(new_key | {"kid": "hub-k2"})

    after = _changed(before, change)
    assert _summary(before, after) == [
        ("revoked", "gt-gangs-k1", "gt-gangs"),
        ("removed", "gt-system-k1", "GT"),
        ("created", "hub-k2", "hub"),
        ("expiry_changed", "us-gangs-k1", "us-gangs"),
    ]
    # entries carry ids only: no key material
    for entry in key_events(before, after):
        assert not {"jwk", "x", "d"} & set(entry.to_json())
