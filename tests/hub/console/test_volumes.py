"""The Volumes and Adapters pages' counts: what the audit log's entries add up to."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js import JetStreamContext

from hub.audit import kinds
from hub.audit.entries import AuditEntry
from hub.console.sinks import SinkFilter, SinkProbe, sink_rows
from hub.console.tally import WINDOWS, AuditTally
from hub.console.volumes import VolumeFilter, volume_report
from schemas.countersign import sha256_digest
from tests.integration.auditkit import received_entry

NOW = datetime(2026, 12, 6, 12, 30, 30, tzinfo=UTC)
DIGEST = sha256_digest(b"x")


def _received(mid: str, theme: str, country: str, ago: timedelta, again: bool = False) -> bytes:
    return _at(received_entry(mid, theme, country, again), ago)


def _at(entry: AuditEntry, ago: timedelta) -> bytes:
    return entry.model_copy(update={"time": NOW - ago}).canonical()


def _tally(*raws: bytes) -> AuditTally:
    tally = AuditTally()
    for raw in raws:
        tally.fold(raw)
    return tally


def test_accepted_by_theme_and_country_rejected_by_reason_within_the_window() -> None:
    tally = _tally(
        _received("A", "gangs", "GT", timedelta(minutes=1)),
        _received("B", "gangs", "HN", timedelta(minutes=2)),
        _received("C", "firearms", "GT", timedelta(hours=3)),
        _received("A", "gangs", "GT", timedelta(seconds=30), again=True),  # not counted twice
        _at(kinds.rejected("D", "GT", "bad_signature", DIGEST, 5), timedelta(minutes=5)),
        _at(kinds.rejected(None, None, "malformed_json", DIGEST, 5), timedelta(minutes=5)),
        _at(kinds.rejected("E", "SV", "bad_signature", DIGEST, 5), timedelta(days=2)),
        _at(kinds.routed("A", "US", "agr", "f", "full", DIGEST), timedelta(minutes=1)),
        b"not json, and not counted",
    )
    hour = volume_report(tally, VolumeFilter(WINDOWS["1h"]), NOW)
    assert hour["accepted"] == 2 and len(hour["times"]) == 60
    assert hour["rejected"] == {"bad_signature": 1, "malformed_json": 1}
    assert sum(hour["by_theme"]["gangs"]) == 2 and "firearms" not in hour["by_theme"]
    assert {cc: sum(n) for cc, n in hour["by_country"].items()} == {"GT": 1, "HN": 1}
    assert hour["times"][-1] <= NOW.timestamp() < hour["times"][-1] + 60
    day = volume_report(tally, VolumeFilter(WINDOWS["24h"]), NOW)
    assert day["accepted"] == 3 and day["by_theme"]["firearms"][-13] == 1
    week = volume_report(tally, VolumeFilter(WINDOWS["7d"]), NOW)
    assert week["rejected"] == {"bad_signature": 2, "malformed_json": 1}
    only_gt = volume_report(tally, VolumeFilter(WINDOWS["24h"], "GT"), NOW)
    assert only_gt["accepted"] == 2 and only_gt["rejected"] == {"bad_signature": 1}
    assert list(only_gt["by_country"]) == ["GT"]


def test_the_window_and_country_come_from_the_url_and_anything_else_is_the_default() -> None:
    assert VolumeFilter.from_query({"window": "7d", "country": "gt"}).query() == {
        "window": "7d",
        "country": "GT",
    }
    assert VolumeFilter.from_query({"window": "1y", "country": "<x>"}).query() == {"window": "24h"}


def test_counts_older_than_kept_are_dropped_and_later_entries_fold_in() -> None:
    tally = _tally(_received("OLD", "gangs", "GT", timedelta(days=8)))
    tally._prune(int(NOW.timestamp()))
    assert not tally.minutes and not tally.hours
    tally.fold(_received("NEW", "gangs", "GT", timedelta(0)))
    assert volume_report(tally, VolumeFilter(WINDOWS["7d"]), NOW)["accepted"] == 1


def _probe(states: dict[tuple[str, str], dict[str, Any]]) -> SinkProbe:
    register: dict[str, list[str]] = {}
    for cc, sink in states:
        register.setdefault(cc, []).append(sink)

    async def status(js: JetStreamContext, cc: str, sink: str) -> Mapping[str, Any]:
        return states[(cc, sink)]

    return SinkProbe(register=lambda: register, status=status)


async def test_a_sink_is_stalled_when_deliveries_wait_and_no_receipt_came_for_long() -> None:
    row = {"state": "ok", "lag": 0, "ack_pending": 0, "redelivered": 0, "dead_letters": 0}
    probe = _probe(
        {
            ("GT", "idle"): row,
            ("HN", "busy"): {**row, "lag": 3},
            ("SV", "stuck"): {**row, "ack_pending": 1},
            ("US", "new"): {**row, "lag": 1},
            ("MX", "off"): {"state": "never started", "lag": None, "dead_letters": None},
        }
    )
    tally = _tally(
        _at(kinds.delivered("A", "HN", DIGEST, "busy"), timedelta(seconds=10)),
        _at(kinds.dead_lettered("B", "SV", DIGEST, "stuck", "bad"), timedelta(minutes=5)),
        _at(kinds.delivered("C", "GT", DIGEST, "idle"), timedelta(hours=1)),
    )
    rows = await sink_rows(probe, None, tally.receipts, NOW, 120)  # type: ignore[arg-type]
    stalled = {r.country: r.stalled for r in rows}
    assert stalled == {"GT": False, "HN": False, "SV": True, "US": True, "MX": False}
    ages = {r.country: r.receipt_age for r in rows}
    assert ages == {"GT": 3600, "HN": 10, "SV": 300, "US": None, "MX": None}
    assert [r.pending for r in rows] == [0, 3, 0, 1, None]
    only = SinkFilter.from_query({"stalled": "1", "country": "sv"})
    assert [r.sink for r in rows if only.keeps(r)] == ["stuck"]
