"""Audit entries hold declared metadata only, in canonical JSON."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.audit import kinds
from hub.audit.entries import REDELIVERED, AuditEntry, EntryKind, parse_entry
from hub.audit.errors import AuditEntryInvalid
from schemas.canonical import canonical_json
from schemas.countersign import sha256_digest

MID = "01JB6X1Q8Y6Z3N4M5P7R8S9T0V"
DIGEST = sha256_digest(b"message bytes")


def _received(again: bool = False) -> AuditEntry:
    return kinds.received(
        message_id=MID,
        sender_country="GT",
        poc="gt-gangs",
        type_="gang_movement",
        theme="gangs",
        digest=DIGEST,
        size=812,
        again=again,
    )


def _every_kind() -> list[AuditEntry]:
    return [
        _received(),
        kinds.rejected(None, "HN", "malformed_json", DIGEST, 40),
        kinds.routed(MID, "SV", "gangs-2026", "gt-to-sv", "full", DIGEST),
        kinds.undeliverable(MID, [("CR", "no_agreement"), ("PA", "tlp_red")]),
        kinds.not_routed(MID, [("GT", "sender_self"), ("HN", "not_in_to")]),
        kinds.delivered(MID, "SV", DIGEST, "folder"),
        kinds.dead_lettered(MID, "SV", DIGEST, "folder", "tampered"),
        kinds.receipt_rejected(MID, "SV", "bad_signature", DIGEST, 300),
        kinds.governance("directory", "7", "refused", "governance_unsigned"),
        kinds.key_event("revoked", "gt-gangs-k1", "gt-gangs"),
        kinds.consumer_event("DELIVERY", "sink-HN-folder", "repaired", "filter_subject"),
        kinds.quarantine_viewed("ana", 7, DIGEST, "shown", "HN"),
        kinds.hub_event("start", "hub"),
        kinds.hub_event("stop", "hub"),
        kinds.server_restarted("hub", -9, 1),
    ]


def test_every_kind_round_trips_through_its_canonical_bytes() -> None:
    entries = [e.with_index(i) for i, e in enumerate(_every_kind())]
    assert [e.kind for e in entries] == list(EntryKind)
    for entry in entries:
        raw = entry.canonical()
        assert raw == canonical_json(json.loads(raw))
        assert parse_entry(raw) == entry
        assert b"null" not in raw  # absent fields are omitted, not null


def test_canonical_at_is_the_bytes_of_the_entry_with_its_index() -> None:
    for i, entry in enumerate(_every_kind()):
        raw = entry.canonical_at(i + 7)
        assert raw == entry.with_index(i + 7).canonical()
        assert parse_entry(raw).index == i + 7
        assert entry.index is None  # the entry itself is not changed


def test_payload_content_has_no_field_to_go_in() -> None:
    with pytest.raises(AuditEntryInvalid, match="reason"):
        kinds.rejected(MID, "GT", "suspect Juan Pérez seen in Tapachula", DIGEST, 1)
    with pytest.raises(AuditEntryInvalid, match="digest"):
        kinds.routed(MID, "SV", "a1", None, "full", "the payload itself")
    for kind in (kinds.not_routed, kinds.undeliverable):
        with pytest.raises(AuditEntryInvalid, match=r"refused\.1\.reason"):
            kind(MID, [("GT", "sender_self"), ("HN", "Juan Pérez is not for HN")])
    data = json.loads(_every_kind()[0].with_index(0).canonical())
    data["payload"] = {"alias": "El Flaco"}
    with pytest.raises(AuditEntryInvalid, match="payload"):
        parse_entry(canonical_json(data))


def test_parse_refuses_non_canonical_bytes() -> None:
    raw = _every_kind()[1].with_index(0).canonical()
    with pytest.raises(AuditEntryInvalid, match="canonical"):
        parse_entry(json.dumps(json.loads(raw), indent=1).encode())
    with pytest.raises(AuditEntryInvalid, match="not JSON"):
        parse_entry(raw[:-1])


def test_a_server_restart_says_how_the_server_ended() -> None:
    killed = kinds.server_restarted("hub", -9, 2)
    assert (killed.kind, killed.hub_id) == (EntryKind.SERVER_RESTARTED, "hub")
    assert killed.detail == "nats-server killed by signal 9; started again (restart 2 in a row)"
    assert "exited with 1" in str(kinds.server_restarted("hub", 1, 1).detail)


def test_hub_event_must_be_start_or_stop() -> None:
    with pytest.raises(AuditEntryInvalid):
        kinds.hub_event("reboot", "hub")


def test_a_viewing_of_quarantined_bytes_is_shown_or_exported_and_names_who() -> None:
    entry = kinds.quarantine_viewed("ana", 7, DIGEST, "exported")
    assert (entry.owner, entry.seq, entry.outcome) == ("ana", 7, "exported")
    with pytest.raises(AuditEntryInvalid):
        kinds.quarantine_viewed("ana", 7, DIGEST, "edited")
    with pytest.raises(AuditEntryInvalid):
        kinds.quarantine_viewed("ana lópez", 7, DIGEST, "shown")  # who is a name, not text


@given(st.binary(max_size=200))
def test_parse_entry_never_crashes_on_hostile_bytes(raw: bytes) -> None:
    with contextlib.suppress(AuditEntryInvalid):
        parse_entry(raw)


def test_a_decision_made_again_after_a_redelivery_says_so() -> None:
    first, again = _received(), _received(again=True)
    assert first.detail is None and "detail" not in json.loads(first.canonical())
    assert again.detail == REDELIVERED
    assert parse_entry(again.canonical()) == again


def test_a_refusal_by_the_server_records_what_the_server_said_and_no_digest() -> None:
    detail = "refused by the NATS server (n1): over max_payload 1114112 bytes; connection closed"
    entry = kinds.refused_by_server("GT", "too_large", detail).with_index(3)
    stored = json.loads(entry.canonical())
    assert stored["kind"] == "rejected" and stored["reason"] == "too_large"
    assert (stored["country"], stored["detail"]) == ("GT", detail)
    # The hub never had a byte of it: no id, digest or size to claim.
    assert not {"message_id", "digest", "size"} & set(stored)
    assert parse_entry(entry.canonical()) == entry
    with pytest.raises(AuditEntryInvalid, match="reason"):
        kinds.refused_by_server("GT", "Maximum Message Payload Exceeded", detail)
