"""Event ids and the tail's filters (pure logic)."""

from __future__ import annotations

from hub.audit import kinds
from hub.audit.entries import AuditEntry
from hub.console.feed import EventId, FeedEntry, TailFilter

DIGEST = "sha256:" + "0" * 64


def test_event_ids_round_trip_and_order_by_sequence_then_index() -> None:
    assert EventId.parse("12-40") == EventId(12, 40)
    assert str(EventId(12, 40)) == "12-40"
    for bad in (None, "", "12", "a-1", "1-b", "-1-2"):
        assert EventId.parse(bad) is None
    assert EventId(12, 40) < EventId(12, 41) < EventId(13, 0)


def _item(entry: AuditEntry, theme: str | None = None, type_: str | None = None) -> FeedEntry:
    return FeedEntry(EventId(1, 0), entry, theme, type_, None)


def test_filters_by_country_kind_theme_and_type() -> None:
    routed = _item(kinds.routed("M1", "HN", "ag", "f", "full", DIGEST), "gangs", "seizure")
    refused = _item(kinds.not_routed("M1", [("US", "no_agreement")]), "gangs", "seizure")
    rejected = _item(kinds.rejected(None, "GT", "bad_signature", DIGEST, 5))
    flt = TailFilter.from_query({"country": "hn"})
    assert [flt.matches(i) for i in (routed, refused, rejected)] == [True, False, False]
    flt = TailFilter.from_query({"country": "US", "kind": "routed"})
    assert [flt.matches(i) for i in (routed, refused, rejected)] == [False, True, False]
    flt = TailFilter.from_query({"kind": "rejected"})
    assert [flt.matches(i) for i in (routed, refused, rejected)] == [False, False, True]
    flt = TailFilter.from_query({"theme": "gangs", "type": "seizure"})
    assert [flt.matches(i) for i in (routed, refused, rejected)] == [True, True, False]
    assert TailFilter.from_query({"kind": "nonsense"}).kind == ""
    assert TailFilter.from_query({"country": "HN", "kind": ""}).query() == {"country": "HN"}
