"""``enlace audit show|tail`` name a message's handling conditions on its received line."""

from __future__ import annotations

from hub.cli.audit import _what
from tests.hub.audit.entrykit import received_m1


def _received(*conditions: str, again: bool = False) -> str:
    return _what(received_m1(*conditions, again=again))


def test_the_received_line_names_the_conditions() -> None:
    assert _received() == "GT gt-gangs gangs/gang_movement 10 B"
    assert (
        _received("no_onward", "note") == "GT gt-gangs gangs/gang_movement 10 B [no_onward, note]"
    )
    assert _received("not_for_court", again=True).endswith("B [not_for_court] (again: redelivered)")
