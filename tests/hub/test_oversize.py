"""The watcher of the server's size refusals, on its pure logic: which events it records,
for whom, and what it writes (in-memory audit log and notice stream; the real server is
tests/integration/test_oversize.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hub.audit import AuditEntry, EntryKind
from hub.errors import ConfigError
from hub.pipeline.oversize import OversizeWatcher, oversize_notice, parse_disconnect
from hub.server.logins import NatsUser
from schemas.outcomes import Outcome

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEYS = {
    "GT": "U" + "G" * 55,
    "hub": "U" + "H" * 55,
    "operator": "U" + "O" * 55,
    "system": "U" + "S" * 55,
}


def _event(user: str, reason: str = "Maximum Message Payload Exceeded", **extra: object) -> bytes:
    """A disconnect event as nats-server 2.15 sends it (the fields the watcher reads)."""
    doc = {
        "type": "io.nats.server.advisory.v1.client_disconnect",
        "id": "19DTd09KLBsGVbxVUIbNhb",
        "timestamp": "2026-11-28T12:00:00Z",
        "server": {"name": "n1", "id": "NC7S"},
        "client": {"acc": "$G", "user": user, "kind": "Client"},
        "sent": {"msgs": 0, "bytes": 0},
        "received": {"msgs": 0, "bytes": 0},
        "reason": reason,
        **extra,
    }
    return json.dumps(doc).encode()


class Log:
    """An audit log in memory."""

    def __init__(self, fail: bool = False) -> None:
        self.entries: list[AuditEntry] = []
        self.fail = fail

    async def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        if self.fail:
            raise RuntimeError("the audit stream is unreachable")
        self.entries.extend(entries)
        return list(range(len(entries)))


class Notices:
    """The REJECTED stream in memory."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def __call__(self, subject: str, payload: bytes, *, headers: dict[str, str]) -> object:
        self.sent.append((subject, payload, headers))
        return None


def _watcher(log: Log, notices: Notices, keys: dict[str, str] | None = None) -> OversizeWatcher:
    user = NatsUser("system", KEYS["system"], Path("/nowhere/system.nk"))
    watcher = OversizeWatcher(
        "nats://127.0.0.1:4222",
        lambda: user,
        log,
        notices,
        lambda: KEYS if keys is None else keys,
        max_message_bytes=1024 * 1024,
        clock=lambda: NOW,
    )
    watcher.max_payload = 1114112
    return watcher


async def test_a_countrys_message_over_the_limit_is_audited_and_noticed_to_it() -> None:
    log, notices = Log(), Notices()
    with capture_logs() as logs:
        country = await _watcher(log, notices).handle(_event(KEYS["GT"]))

    assert country == "GT"
    [entry] = log.entries
    assert (entry.kind, entry.country, entry.reason) == (EntryKind.REJECTED, "GT", "too_large")
    assert entry.message_id is None and entry.digest is None and entry.size is None
    assert entry.detail == (
        "refused by the NATS server (n1): over max_payload 1114112 bytes; connection closed"
    )
    [(subject, payload, headers)] = notices.sent
    assert subject == "enlace.rejected.GT"
    assert headers == {"Nats-Msg-Id": "nats-event-19DTd09KLBsGVbxVUIbNhb:notice"}
    notice = Outcome.from_json(payload)
    assert notice == oversize_notice("GT", 1114112, 1024 * 1024, NOW)
    assert (notice.status.value, notice.reason, notice.message_id) == ("rejected", "too_large", "")
    assert "over its limit of 1114112 bytes" in notice.description
    assert "at most 1048576 bytes" in notice.description
    said = [e for e in logs if e["event"] == "oversize_refused_by_server"]
    assert said and said[0]["country"] == "GT" and said[0]["public_key"] is None


@pytest.mark.parametrize("who", ["hub", "operator", "system", "stranger"])
async def test_a_login_that_is_no_countrys_is_only_logged(who: str) -> None:
    log, notices = Log(), Notices()
    key = KEYS.get(who, "U" + "X" * 55)
    with capture_logs() as logs:
        country = await _watcher(log, notices).handle(_event(key))
    assert country is None and log.entries == [] and notices.sent == []
    said = [e for e in logs if e["event"] == "oversize_refused_by_server"]
    assert said[0]["country"] is None
    assert said[0]["login"] == (None if who == "stranger" else who)
    # A stranger's key is said, to find it in the server's log; a known login by name.
    assert said[0]["public_key"] == (key if who == "stranger" else None)


@pytest.mark.parametrize(
    "data",
    [
        _event(KEYS["GT"], reason="Client Closed"),
        _event(KEYS["GT"], reason="Slow Consumer (Write Deadline)"),
        _event(KEYS["GT"], type="io.nats.server.advisory.v1.client_connect"),
        b"not json",
        b"[1, 2]",
    ],
)
async def test_other_events_are_ignored(data: bytes) -> None:
    log, notices = Log(), Notices()
    with capture_logs() as logs:
        assert await _watcher(log, notices).handle(data) is None
    assert log.entries == [] and notices.sent == [] and logs == []


async def test_the_notice_goes_out_when_the_audit_log_cannot_be_written_and_that_is_said() -> None:
    log, notices = Log(fail=True), Notices()
    with capture_logs() as logs:
        assert await _watcher(log, notices).handle(_event(KEYS["GT"])) == "GT"
    assert [subject for subject, _, _ in notices.sent] == ["enlace.rejected.GT"]
    failed = [e for e in logs if e["event"] == "oversize_not_recorded"]
    assert [(e["country"], e["missing"]) for e in failed] == [("GT", "audit_entry")]
    assert "the audit stream is unreachable" in failed[0]["error"]


async def test_an_unreadable_list_of_logins_records_nothing_and_says_why() -> None:
    def broken() -> dict[str, str]:
        raise ConfigError("nats/nkeys.json: cannot read the NATS public keys")

    log, notices = Log(), Notices()
    watcher = _watcher(log, notices)
    watcher.logins = broken
    with capture_logs() as logs:
        assert await watcher.handle(_event(KEYS["GT"])) is None
    assert log.entries == [] and notices.sent == []
    assert any(e["event"] == "oversize_sender_unknown" for e in logs)


def test_the_fields_of_a_disconnect_event() -> None:
    event = parse_disconnect(_event(KEYS["GT"]))
    assert event is not None and event.over_max_payload
    assert (event.public_key, event.account, event.server) == (KEYS["GT"], "$G", "n1")
    assert parse_disconnect(_event(KEYS["GT"], client="?")) is not None  # no client: no key
