"""``enlace audit show|tail`` name a message's handling conditions on its received line."""

from __future__ import annotations

from hub.audit import kinds
from hub.cli.audit import _what

DIGEST = "sha256:" + "1" * 64


def _received(*conditions: str, again: bool = False) -> str:
    entry = kinds.received(
        message_id="M1",
        sender_country="GT",
        poc="gt-gangs",
        type_="gang_movement",
        theme="gangs",
        digest=DIGEST,
        size=10,
        again=again,
        conditions=conditions,
    )
    return _what(entry)


def test_the_received_line_names_the_conditions() -> None:
    assert _received() == "GT gt-gangs gangs/gang_movement 10 B"
    assert (
        _received("no_onward", "note") == "GT gt-gangs gangs/gang_movement 10 B [no_onward, note]"
    )
    assert _received("not_for_court", again=True).endswith("B [not_for_court] (again: redelivered)")
