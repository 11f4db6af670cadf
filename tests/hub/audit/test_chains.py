"""hub.audit.chains: the versions of a message from the audit log's received entries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.audit import kinds
from hub.audit.chains import build_chain
from hub.audit.entries import AuditEntry

DIGEST = "sha256:" + "0" * 64


def received(message_id: str, amends: str | None = None, type_: str = "seizure") -> AuditEntry:
    return kinds.received(
        message_id=message_id,
        sender_country="GT",
        poc="gt-narcotics",
        type_=type_,
        theme="narcotics",
        digest=DIGEST,
        size=10,
        amends=amends,
    )


LOG = [
    received("A"),
    received("X"),  # another message
    received("A2", "A"),
    kinds.routed("A2", "SV", "ag", None, "full", DIGEST),
    received("A3", "A2"),
    received("A3", "A2"),  # a redelivery records it twice
    received("R", "A3", "retraction"),
]


@pytest.mark.parametrize("start", ["A", "A2", "A3", "R"])
def test_any_version_gives_the_whole_chain(start: str) -> None:
    chain = build_chain(start, LOG)
    assert [(v.message_id, v.number, v.kind) for v in chain.versions] == [
        ("A", 1, "original"),
        ("A2", 2, "correction"),
        ("A3", 3, "correction"),
        ("R", 3, "retraction"),
    ]
    assert chain.amended and chain.ids == {"A", "A2", "A3", "R"}
    assert chain.describe() == "A (v1) → A2 (v2) → A3 (v3), withdrawn by R"


def test_a_message_never_amended_is_a_chain_of_one() -> None:
    chain = build_chain("X", LOG)
    assert [v.message_id for v in chain.versions] == ["X"]
    assert not chain.amended


@given(st.lists(st.tuples(st.sampled_from("ABCDE"), st.sampled_from("ABCDE")), max_size=12))
def test_any_links_even_cycles_end_and_name_each_message_once(links: list[tuple[str, str]]) -> None:
    # A hostile or broken log may link messages in a cycle: the walk must still end.
    entries = [received(m, amends) for m, amends in links]
    chain = build_chain("A", entries)
    ids = [v.message_id for v in chain.versions]
    assert len(ids) == len(set(ids))
    assert "A" in ids
