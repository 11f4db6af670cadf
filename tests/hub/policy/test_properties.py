"""Properties over random agreement sets and messages (hypothesis).

- nobody receives a message unless an agreement in force allows that flow (checked by an
  independent, brute-force reading of the rules);
- a view never contains a field its redaction drops;
- the decision does not depend on the order of the agreements.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.policy.decide import decide
from hub.policy.loader import AgreementSet, AgreementStatus
from hub.policy.model import Agreement
from hub.policy.redaction import render_view, select
from hub.policy.requests import REPLY_TYPES, InMemoryRequestMemory
from schemas.common import PARTIES, new_message_id, tlp_rank
from schemas.envelope import Envelope
from tests.factories import later, make_directory
from tests.hub.policy.helpers import agreement, status

TD = make_directory(themes=("gangs", "narcotics"), observers=("MX",))
EVERYONE = (*PARTIES, "MX")
THEMES = ("gangs", "narcotics")
TYPES = ("gang_movement", "seizure", "firearm_trace_result")
TLPS = ("clear", "green", "amber", "amber+strict", "red")
DROPS = ("payload.persons", "payload.location", "payload.**.name", "payload.items.*")
REQUEST_ID = new_message_id()
PAYLOAD: dict[str, Any] = {
    "persons": [{"name": "A", "dob": "1990-01-01"}],
    "location": {"lat": 14.63456, "lon": -90.51327},
    "items": [{"name": "x", "kg": 1.25}, {"name": "y", "kg": 2.5}],
    "note": "n",
}


@st.composite
def agreements(draw: st.DrawFn, id_: str) -> AgreementStatus:
    parties = draw(
        st.just(list(PARTIES))
        | st.lists(st.sampled_from(EVERYONE), min_size=1, max_size=10, unique=True)
    )
    types = draw(st.just(list(TYPES)) | st.lists(st.sampled_from(TYPES), min_size=1, unique=True))
    ends = st.just(["all"]) | st.lists(
        st.sampled_from((*parties, "members", "sica", "all")), min_size=1, max_size=3
    )
    views = {}
    if draw(st.booleans()):
        drop = draw(st.lists(st.sampled_from(DROPS), min_size=1, max_size=2, unique=True))
        views["redacted"] = {"drop": drop}
    flows = [
        {
            "from": draw(ends),
            "to": draw(ends) + draw(st.sampled_from(([], ["requester"]))),
            "types": draw(st.none() | st.lists(st.sampled_from(types), min_size=1, unique=True)),
            "view": draw(st.sampled_from(["full", *views])),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    start = draw(st.integers(0, 10))
    data = agreement(
        id_,
        draw(st.just(list(THEMES)) | st.lists(st.sampled_from(THEMES), min_size=1, unique=True)),
        types,
        flows,
        parties=tuple(parties),
        max_tlp=draw(st.sampled_from(TLPS)),
        valid_from=later(start),
        valid_until=later(start + draw(st.integers(1, 60))),
        views=views,
    )
    missing = draw(st.sampled_from(((), (), (), (parties[0],))))
    return status(data, missing=tuple(missing))


@st.composite
def agreement_sets(draw: st.DrawFn) -> list[AgreementStatus]:
    n = draw(st.integers(0, 8))
    return [draw(agreements(f"a{i}")) for i in range(n)]


@st.composite
def messages(draw: st.DrawFn) -> Envelope:
    fields: dict[str, Any] = {"handling": draw(st.sampled_from(TLPS[:3]) | st.sampled_from(TLPS))}
    to = draw(
        st.none()
        | st.none()
        | st.lists(st.sampled_from((*EVERYONE, "FR")), min_size=1, unique=True)
    )
    if to is not None:
        fields["to"] = to
    if draw(st.integers(0, 3)) == 0:
        fields["in_reply_to"] = draw(st.sampled_from((REQUEST_ID, new_message_id())))
    sender = draw(st.sampled_from(EVERYONE))
    data = TD.envelope(
        sender, draw(st.sampled_from(THEMES)), draw(st.sampled_from(TYPES)), PAYLOAD, **fields
    )
    return Envelope.model_validate(data)


def ends(names: list[str], a: Agreement, requester: str | None) -> set[str]:
    """Independent reading of flow ends: groups are members only, inside the parties."""
    members = {p.code for p in TD.directory.parties if p.role == "member"}
    out: set[str] = set()
    for name in names:
        out |= {
            "members": members,
            "all": members,
            "sica": members - {"US"},
            "requester": {requester} if requester else set(),
        }.get(name, {name})
    return out & set(a.parties)


def allowed(
    env: Envelope, s: AgreementStatus, cc: str, at: datetime, requester: str | None
) -> bool:
    """Brute force: does agreement ``s`` let ``cc`` receive ``env`` at ``at``?"""
    a = s.agreement
    if s.missing or not (a.valid_from <= at < a.valid_until):
        return False
    if env.theme not in a.themes or tlp_rank(env.handling) > tlp_rank(a.max_tlp):
        return False
    return any(
        env.type in (f.types or a.types)
        and env.sender.country in ends(f.from_, a, requester)
        and cc in ends(f.to, a, requester)
        for f in a.flows
    )


MEMORY = InMemoryRequestMemory({REQUEST_ID: "GT"})


@settings(max_examples=300, deadline=None)
@given(agreement_sets(), messages(), st.integers(0, 50))
def test_nobody_receives_without_an_agreement_in_force(
    items: list[AgreementStatus], env: Envelope, day: int
) -> None:
    at = later(day)
    decision = decide(env, AgreementSet.of(items), TD.directory, at, MEMORY)
    requester = MEMORY.requester_of(env.in_reply_to) if env.in_reply_to else None
    reply_only = env.in_reply_to is not None and (env.type in REPLY_TYPES or requester)
    expected = {
        cc
        for cc in TD.directory.party_codes
        if cc != env.sender.country
        and (env.to is None or cc in env.to)
        and (env.handling != "red" or env.to is not None)
        and (not reply_only or cc == requester)
        and any(allowed(env, s, cc, at, requester) for s in items)
    }
    assert {r.recipient for r in decision.recipients} == expected
    for route in decision.recipients:
        s = next(s for s in items if s.id == route.agreement)
        assert allowed(env, s, route.recipient, at, requester)
        assert route.view.name == s.agreement.flows[route.flow].view


@settings(max_examples=200, deadline=None)
@given(agreement_sets(), messages())
def test_views_never_contain_a_dropped_field(items: list[AgreementStatus], env: Envelope) -> None:
    raw = json.dumps(env.model_dump(mode="json")).encode()
    decision = decide(env, AgreementSet.of(items), TD.directory, later(10), MEMORY)
    for route in decision.recipients:
        view = json.loads(render_view(raw, route.view))
        for path in route.view.drop:
            assert list(select(view, path)) == []
        if route.view.is_full:
            assert render_view(raw, route.view) == raw


@settings(max_examples=200, deadline=None)
@given(agreement_sets(), messages(), st.randoms(use_true_random=False))
def test_order_of_agreements_does_not_matter(
    items: list[AgreementStatus], env: Envelope, rnd: Any
) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    one = decide(env, AgreementSet.of(items), TD.directory, later(10), MEMORY)
    two = decide(env, AgreementSet.of(shuffled), TD.directory, later(10), MEMORY)
    assert one.to_dict() == two.to_dict()
