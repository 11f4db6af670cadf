"""decide's kept decisions: given again only when everything they depend on is the same."""

from __future__ import annotations

import importlib
from dataclasses import replace
from datetime import datetime

import pytest

from hub.policy.decide import Decision, _decide, decide
from hub.policy.requests import InMemoryRequestMemory
from schemas.envelope import Envelope
from tests.factories import TestDirectory, later, make_directory
from tests.hub.policy.helpers import envelope, statuses
from tests.hub.policy.test_decide import AGREEMENTS, CASES, NOW, Case

decide_module = importlib.import_module("hub.policy.decide")


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(observers=("MX",))


def _fresh(env: Envelope, td: TestDirectory, at: datetime = NOW) -> Decision:
    """What decide says without any kept decision."""
    return _decide(env, AGREEMENTS, td.directory, at, InMemoryRequestMemory())


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_a_second_message_gets_the_decision_made_afresh_under_its_own_id(
    td: TestDirectory, c: Case
) -> None:
    first = envelope(td, c.sender, c.theme, c.type, **c.fields)
    memory = InMemoryRequestMemory(c.requests)
    decide(first, AGREEMENTS, td.directory, c.at, memory)
    second = envelope(td, c.sender, c.theme, c.type, **c.fields)
    again = decide(second, AGREEMENTS, td.directory, c.at, memory)
    fresh = _decide(second, AGREEMENTS, td.directory, c.at, memory)
    assert again == fresh and again.message_id == second.id != first.id


def test_an_agreement_coming_into_force_or_expiring_changes_the_decision(
    td: TestDirectory,
) -> None:
    # "old-border" is in force from later(10) until later(20).
    seen = {}
    for at in (later(15), later(5), later(25), later(15)):
        env = envelope(td, "GT", "border_security", "border_alert")
        decision = decide(env, AGREEMENTS, td.directory, at, InMemoryRequestMemory())
        assert decision == _fresh(env, td, at)
        seen[at] = {r.reason for r in decision.excluded}
    assert "not_yet_valid" in seen[later(5)] and "expired" in seen[later(25)]
    assert not {"not_yet_valid", "expired"} & seen[later(15)]


def test_another_directory_is_decided_afresh(td: TestDirectory) -> None:
    env = envelope(td, "GT", "gangs", "gang_movement")
    decide(env, AGREEMENTS, td.directory, NOW, InMemoryRequestMemory())
    fewer = make_directory(parties=("GT", "HN", "SV"))
    decision = decide(env, AGREEMENTS, fewer.directory, NOW, InMemoryRequestMemory())
    assert {r.recipient for r in decision.recipients} == {"HN", "SV"}


def test_to_and_tlp_are_part_of_the_key(td: TestDirectory) -> None:
    def recipients(**fields: object) -> set[str]:
        env = envelope(td, "GT", "terrorism", "cbrn_interdiction", **fields)
        decision = decide(env, AGREEMENTS, td.directory, NOW, InMemoryRequestMemory())
        assert decision == _fresh(env, td)
        return {r.recipient for r in decision.recipients}

    assert recipients(to=["HN", "SV"]) == {"HN", "SV"}
    assert recipients(to=["SV", "HN"]) == {"HN", "SV"}
    assert recipients(to=["CR"]) == {"CR"}
    assert recipients(handling="red") == set()
    assert len(recipients()) == 8


def test_replies_are_never_kept(td: TestDirectory) -> None:
    kept = statuses(*AGREEMENTS.statuses)
    env = envelope(
        td,
        "US",
        "small_arms",
        "firearm_trace_result",
        in_reply_to=envelope(td, "GT", "small_arms", "firearm_trace_request").id,
    )
    decide(env, kept, td.directory, NOW, InMemoryRequestMemory())
    assert kept.decisions == {}


def test_the_kept_decisions_are_bounded(td: TestDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decide_module, "_KEPT", 3)
    kept = statuses(*AGREEMENTS.statuses)
    for to in (["HN"], ["SV"], ["CR"], ["PA"], ["BZ"]):
        env = envelope(td, "GT", "gangs", "gang_movement", to=to)
        decision = decide(env, kept, td.directory, NOW, InMemoryRequestMemory())
        assert [r.recipient for r in decision.recipients] == to
        assert len(kept.decisions) <= 3
    assert replace(decision, message_id="x").message_id == "x"  # a plain frozen dataclass
