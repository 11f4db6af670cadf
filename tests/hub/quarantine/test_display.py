"""Quarantined bytes shown to people: JSON indented when it parses, else a hex dump."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hub.quarantine import CopyFilter, QuarantineCopy
from hub.quarantine.display import hex_dump, show_bytes


def test_json_is_indented_and_keeps_its_text() -> None:
    shown = show_bytes(b'{"id":"M1","payload":{"alias":"El Ni\xc3\xb1o"}}')
    assert shown.form == "json"
    assert shown.text.splitlines()[1] == '  "id": "M1",'
    assert "El Niño" in shown.text


def test_what_is_not_utf8_json_is_a_hex_dump_of_every_byte() -> None:
    for data in (b"\xff\xfe{}", b"not json", b'{"cut": ', b""):
        assert show_bytes(data).form == "hex"
    dump = hex_dump(bytes(range(20)))
    first, second = dump.splitlines()
    assert first.startswith("00000000  00 01 02") and first.endswith("  ................")
    assert second.startswith("00000010  10 11 12 13")
    recovered = bytes.fromhex("".join(row[10:57] for row in dump.splitlines()))
    assert recovered == bytes(range(20))


def _copy(country: str, reason: str, headers: dict[str, str], body: bytes) -> QuarantineCopy:
    return QuarantineCopy(1, datetime.now(UTC), country, reason, headers, body)


def test_a_copy_says_its_full_size_when_truncated_and_the_id_it_came_with() -> None:
    body = json.dumps({"id": "FROM-BODY"}).encode()
    plain = _copy("GT", "bad_signature", {}, body)
    assert (plain.size, plain.truncated, plain.message_id) == (len(body), False, "FROM-BODY")
    cut = _copy("GT", "too_large", {"Enlace-Truncated": "2000000"}, b"\x00" * 10)
    assert (cut.size, cut.truncated, cut.message_id) == (2_000_000, True, None)
    sent = _copy("GT", "bad_signature", {"Enlace-Original-Msg-Id": "FROM-HEADER"}, body)
    assert sent.message_id == "FROM-HEADER"
    assert "FROM-BODY" not in repr(plain)  # the bytes stay out of logs and tracebacks


def test_the_filter_takes_country_and_reason_together() -> None:
    gt = _copy("GT", "bad_signature", {}, b"")
    hn = _copy("HN", "bad_signature", {}, b"")
    assert CopyFilter()(gt) and CopyFilter(country="GT")(gt) and not CopyFilter("GT")(hn)
    assert not CopyFilter(country="GT", reason="too_large")(gt)
    assert CopyFilter(reason="bad_signature")(hn)
