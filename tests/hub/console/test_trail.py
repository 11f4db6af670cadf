"""The trail of one message: every party, routed or not and why, with receipts."""

from __future__ import annotations

from hub.audit import kinds
from hub.audit.entries import EntryKind
from hub.console.trail import build_trail

DIGEST = "sha256:" + "1" * 64
PARTIES = [(cc, cc) for cc in ("BZ", "CR", "DO", "GT", "HN", "NI", "PA", "SV", "US")]


def test_every_party_has_a_decision_and_receipts_land_on_their_recipient() -> None:
    entries = [
        kinds.received(
            message_id="M1",
            sender_country="GT",
            poc="gt-small-arms",
            type_="firearm_trace_request",
            theme="small_arms",
            digest=DIGEST,
            size=10,
        ),
        kinds.routed("M1", "US", "traces", "gt-us", "full", DIGEST),
        kinds.not_routed(
            "M1",
            [("GT", "sender_self")]
            + [(cc, "no_agreement") for cc, _ in PARTIES[:3]]
            + [(cc, "no_agreement") for cc in ("HN", "NI", "PA", "SV")],
        ),
        kinds.delivered("M1", "US", DIGEST, "webhook"),
        kinds.routed("OTHER", "HN", "x", "y", "full", DIGEST),
    ]
    trail = build_trail("M1", entries, PARTIES)
    by = {p.country: p for p in trail.parties}
    assert [p.country for p in trail.parties] == [cc for cc, _ in PARTIES]
    assert by["US"].status == "routed" and by["US"].agreement == "traces"
    assert by["US"].delivered is not None and by["US"].delivered.sink == "webhook"
    assert by["GT"].status == "sender" and by["GT"].reason == "sender_self"
    assert all(
        by[cc].status == "not_routed" and by[cc].reason == "no_agreement"
        for cc in ("BZ", "CR", "DO", "HN", "NI", "PA", "SV")
    )
    assert len(trail.entries) == 4 and trail.received is not None
    assert all(e.kind is not EntryKind.ROUTED or e.recipient == "US" for e in trail.entries)


def test_a_party_without_a_recorded_decision_is_unknown() -> None:
    trail = build_trail("M1", [kinds.routed("M1", "US", "a", "f", "full", DIGEST)], PARTIES)
    assert {p.status for p in trail.parties if p.country != "US"} == {"unknown"}
