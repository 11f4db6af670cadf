"""The demo deployment's agreements: signed by all nine parties, routing the samples right."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.admin.init import init_demo
from hub.deployment import Deployment
from hub.policy.decide import decide
from hub.policy.loader import AgreementSet, load_agreements
from hub.policy.redaction import render_view
from hub.policy.requests import InMemoryRequestMemory
from schemas.common import PARTIES
from schemas.directory import Directory
from schemas.envelope import Envelope, parse_envelope
from schemas.message import parse_message
from schemas.trust import load_directory, load_trust_root

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
SICA = tuple(p for p in PARTIES if p != "US")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dep = Deployment(tmp_path_factory.mktemp("demo") / "enlace")
    init_demo(dep, now=NOW)
    return dep


@pytest.fixture(scope="module")
def loaded(demo: Deployment) -> tuple[AgreementSet, Directory]:
    trust_root = load_trust_root(demo.trust_root)
    directory = load_directory(demo.directory, trust_root, at=NOW)
    return load_agreements(demo.agreements_dir, directory, trust_root, NOW), directory


def sample(demo: Deployment, name: str, **changes: object) -> tuple[bytes, Envelope]:
    raw = (demo.samples_dir / f"{name}.json").read_bytes()
    if changes:
        raw = json.dumps({**json.loads(raw), **changes}).encode()
    return raw, parse_envelope(raw)


def routes(loaded: tuple[AgreementSet, Directory], env: Envelope, **known: str) -> dict[str, str]:
    agreements, directory = loaded
    memory = InMemoryRequestMemory(known)
    decision = decide(env, agreements, directory, NOW + timedelta(hours=1), memory)
    return {r.recipient: r.view_name for r in decision.recipients}


def test_every_demo_agreement_is_signed_by_all_and_in_force(
    loaded: tuple[AgreementSet, Directory],
) -> None:
    agreements, _ = loaded
    assert len(agreements) >= 6
    for status in agreements.statuses:
        assert status.signed_by == PARTIES
        assert status.in_force_at(NOW)[0], status.id


def test_gang_movements_reach_every_other_party(
    demo: Deployment, loaded: tuple[AgreementSet, Directory]
) -> None:
    _, env = sample(demo, "gang_movement")
    sender = env.sender.country
    assert routes(loaded, env) == {p: "full" for p in PARTIES if p != sender}


def test_seizures_reach_all_without_persons_or_exact_places(
    demo: Deployment, loaded: tuple[AgreementSet, Directory]
) -> None:
    raw, env = sample(demo, "seizure")
    got = routes(loaded, env)
    assert set(got) == set(PARTIES) - {env.sender.country}
    assert set(got.values()) == {"statistics"}
    agreements, _ = loaded
    status = agreements.get("seizure-statistics")
    assert status is not None
    view = json.loads(render_view(raw, status.agreement.view("statistics")))
    assert "persons" not in view["payload"]
    location = view["payload"]["location"]
    assert "description" not in location
    assert location["lat"] == round(env.payload["location"]["lat"], 1)
    # The redacted view is still a valid seizure: sinks parse it like any message.
    assert parse_message(render_view(raw, status.agreement.view("statistics"))).type == "seizure"


def test_trace_requests_go_to_us_and_results_to_the_requester(
    demo: Deployment, loaded: tuple[AgreementSet, Directory]
) -> None:
    _, request = sample(demo, "firearm_trace_request")
    assert routes(loaded, request) == {"US": "full"}
    _, result = sample(demo, "firearm_trace_result")
    assert result.in_reply_to == request.id
    assert routes(loaded, result, **{request.id: request.sender.country}) == {
        request.sender.country: "full"
    }
    assert routes(loaded, result) == {}  # the hub does not know the request: nobody


def test_red_terrorism_goes_to_the_named_only(
    demo: Deployment, loaded: tuple[AgreementSet, Directory]
) -> None:
    _, env = sample(demo, "cbrn_interdiction", handling="red")
    assert routes(loaded, env) == {}
    named = [p for p in ("US", "PA", "CR") if p != env.sender.country][:2]
    _, env = sample(demo, "cbrn_interdiction", handling="red", to=named)
    assert routes(loaded, env) == dict.fromkeys(named, "full")


def test_demo_files_are_yaml_in_the_agreements_folder(demo: Deployment) -> None:
    files = sorted(p.name for p in Path(demo.agreements_dir).iterdir())
    assert "seizure-statistics.yaml" in files
    assert all(name.endswith(".yaml") for name in files)
