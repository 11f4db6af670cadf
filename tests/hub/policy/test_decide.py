"""The decision table: every rule, asserting exactly which parties get which view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.policy.decide import REASONS, Decision, decide
from hub.policy.requests import InMemoryRequestMemory
from schemas.common import PARTIES, new_message_id
from tests.factories import EPOCH, TestDirectory, later, make_directory
from tests.hub.policy.helpers import agreement, envelope, status, statuses

SICA = tuple(p for p in PARTIES if p != "US")
STATS_VIEW = {
    "drop": ["payload.persons"],
    "round": [{"field": "payload.**.lat", "decimals": 1}],
}
ALL = {"from": "all", "to": "all"}

AGREEMENTS = statuses(
    status(agreement("gangs", ["gangs"], ["gang_movement"], [ALL])),
    status(
        agreement(
            "seizure-stats",
            ["narcotics"],
            ["seizure"],
            [{**ALL, "view": "stats"}, {"from": "all", "to": "MX", "view": "stats"}],
            parties=(*PARTIES, "MX"),
            views={"stats": STATS_VIEW},
        )
    ),
    status(
        agreement(
            "gt-us-seizures", ["narcotics"], ["seizure"], [{"from": "GT", "to": "US"}], ("GT", "US")
        )
    ),
    status(
        agreement(
            "traces",
            ["small_arms"],
            ["firearm_trace_request", "firearm_trace_result"],
            [
                {"name": "request", "from": "sica", "to": "US", "types": ["firearm_trace_request"]},
                {
                    "name": "result",
                    "from": "US",
                    "to": "requester",
                    "types": ["firearm_trace_result"],
                },
            ],
        )
    ),
    status(agreement("terror", ["terrorism"], ["cbrn_interdiction"], [ALL], max_tlp="red")),
    status(
        agreement(
            "old-border",
            ["border_security"],
            ["border_alert"],
            [ALL],
            valid_from=later(10),
            valid_until=later(20),
        )
    ),
    status(
        agreement("disasters", ["natural_disasters"], ["disaster_alert"], [ALL]), missing=("HN",)
    ),
)

NOW = later(15)


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(observers=("MX",))


@dataclass
class Case:
    name: str
    sender: str
    theme: str
    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    gets: dict[str, str] = field(default_factory=dict)  # recipient -> view
    refused: dict[str, str] = field(default_factory=dict)  # `to` entry -> reason
    excluded: dict[str, str] = field(default_factory=dict)  # other party -> reason (subset)
    at: Any = NOW
    requests: dict[str, str] = field(default_factory=dict)


def others(sender: str, view: str = "full", parties: tuple[str, ...] = PARTIES) -> dict[str, str]:
    return {p: view for p in parties if p != sender}


REQ = new_message_id()

CASES = [
    Case("members to members, full", "GT", "gangs", "gang_movement", gets=others("GT"),
         excluded={"GT": "sender_self", "MX": "no_agreement"}),
    Case("to narrows", "GT", "gangs", "gang_movement", {"to": ["HN", "SV"]},
         gets={"HN": "full", "SV": "full"}, excluded={"CR": "not_in_to", "US": "not_in_to"}),
    Case("to never widens: observer named but no agreement", "GT", "gangs", "gang_movement",
         {"to": ["HN", "MX"]}, gets={"HN": "full"}, refused={"MX": "no_agreement"}),
    Case("to an unknown country", "GT", "gangs", "gang_movement", {"to": ["HN", "FR"]},
         gets={"HN": "full"}, refused={"FR": "unknown_party"}),
    Case("sender named in to", "GT", "gangs", "gang_movement", {"to": ["GT"]},
         refused={"GT": "sender_self"}),
    Case("TLP above max_tlp", "GT", "gangs", "gang_movement", {"handling": "amber+strict"},
         excluded={"HN": "tlp_too_high", "US": "tlp_too_high"}),
    Case("redacted view for all, full for the flow that allows it", "GT", "narcotics", "seizure",
         gets={**others("GT", "stats"), "MX": "stats", "US": "full"}),
    Case("redacted view only", "HN", "narcotics", "seizure",
         gets={**others("HN", "stats"), "MX": "stats"}),
    Case("observer only where named", "GT", "gangs", "gang_movement", {"to": ["MX"]},
         refused={"MX": "no_agreement"}),
    Case("observer as sender is in no flow", "MX", "gangs", "gang_movement",
         excluded={"GT": "no_agreement", "US": "no_agreement"}),
    Case("trace request to US only", "GT", "small_arms", "firearm_trace_request",
         gets={"US": "full"}, excluded={"HN": "no_agreement"}),
    Case("trace request from US matches no flow", "US", "small_arms", "firearm_trace_request",
         excluded={"GT": "no_agreement"}),
    Case("trace result to the requester only", "US", "small_arms", "firearm_trace_result",
         {"in_reply_to": REQ}, gets={"GT": "full"}, excluded={"HN": "reply_not_requester"},
         requests={REQ: "GT"}),
    Case("trace result: to cannot add anyone", "US", "small_arms", "firearm_trace_result",
         {"in_reply_to": REQ, "to": ["HN", "GT"]}, gets={"GT": "full"},
         refused={"HN": "reply_not_requester"}, requests={REQ: "GT"}),
    Case("trace result to an unknown request", "US", "small_arms", "firearm_trace_result",
         {"in_reply_to": REQ}, excluded={"GT": "unknown_request", "HN": "unknown_request"}),
    Case("trace result without in_reply_to reaches nobody", "US", "small_arms",
         "firearm_trace_result", excluded={"GT": "no_agreement"}),
    Case("TLP:RED without to goes nowhere", "PA", "terrorism", "cbrn_interdiction",
         {"handling": "red"}, excluded={"US": "tlp_red_not_in_to"}),
    Case("TLP:RED to the named only", "PA", "terrorism", "cbrn_interdiction",
         {"handling": "red", "to": ["US", "CR"]}, gets={"US": "full", "CR": "full"},
         excluded={"GT": "not_in_to"}),
    Case("TLP:RED under an amber agreement", "GT", "gangs", "gang_movement",
         {"handling": "red", "to": ["HN"]}, refused={"HN": "tlp_too_high"}),
    Case("expired agreement", "GT", "border_security", "border_alert", at=later(20),
         excluded={"HN": "expired"}),
    Case("agreement not yet in force", "GT", "border_security", "border_alert", at=later(9),
         excluded={"HN": "not_yet_valid"}),
    Case("agreement in its window", "GT", "border_security", "border_alert", at=later(10),
         gets=others("GT")),
    Case("agreement not signed by every party", "GT", "natural_disasters", "disaster_alert",
         excluded={"HN": "not_signed", "US": "not_signed"}),
    Case("type under the wrong theme", "GT", "terrorism", "gang_movement",
         excluded={"HN": "no_agreement"}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(td: TestDirectory, case: Case) -> None:
    env = envelope(td, case.sender, case.theme, case.type, **case.fields)
    decision = decide(env, AGREEMENTS, td.directory, case.at, InMemoryRequestMemory(case.requests))
    assert {r.recipient: r.view_name for r in decision.recipients} == case.gets
    assert {r.recipient: r.reason for r in decision.refused} == case.refused
    excluded = {r.recipient: r.reason for r in decision.excluded}
    assert {cc: excluded.get(cc) for cc in case.excluded} == case.excluded
    assert decision.undeliverable == (not case.gets)
    everyone = {*td.directory.party_codes, *(case.fields.get("to") or ())}
    accounted = [r.recipient for r in decision.recipients]
    accounted += [r.recipient for r in (*decision.refused, *decision.excluded)]
    assert sorted(accounted) == sorted(everyone)
    for refusal in (*decision.refused, *decision.excluded):
        assert refusal.reason in REASONS and refusal.detail


def test_route_names_agreement_and_flow(td: TestDirectory) -> None:
    env = envelope(td, "GT", "small_arms", "firearm_trace_request")
    decision = decide(env, AGREEMENTS, td.directory, NOW, InMemoryRequestMemory())
    (route,) = decision.recipients
    assert (route.agreement, route.flow, route.flow_name) == ("traces", 0, "request")


def test_unsigned_names_the_missing_party(td: TestDirectory) -> None:
    env = envelope(td, "GT", "natural_disasters", "disaster_alert")
    decision = decide(env, AGREEMENTS, td.directory, NOW, InMemoryRequestMemory())
    refusal = decision.refusal_for("US")
    assert refusal is not None and "HN" in refusal.detail
    assert refusal.agreements == ("disasters",)


def test_the_richest_view_wins_over_order(td: TestDirectory) -> None:
    env = envelope(td, "GT", "narcotics", "seizure")
    forward = decide(env, AGREEMENTS, td.directory, NOW, InMemoryRequestMemory())
    backward = decide(
        env, statuses(*reversed(AGREEMENTS.statuses)), td.directory, NOW, InMemoryRequestMemory()
    )
    assert forward == backward
    assert isinstance(forward, Decision)
    assert forward.to_dict()["recipients"][-1]["recipient"] == "US"


def test_no_agreements_denies_everything(td: TestDirectory) -> None:
    env = envelope(td, "GT", "gangs", "gang_movement")
    decision = decide(env, statuses(), td.directory, EPOCH, InMemoryRequestMemory())
    assert decision.undeliverable
    assert {r.reason for r in decision.excluded} == {"no_agreement", "sender_self"}
