"""Views checked against the message schemas when an agreement loads.

A view that drops a required field (or breaks a rule the model checks across fields) would
have the hub countersign and deliver messages that fail their own schema; a path that
reaches no field redacts nothing. Both are refused with file, line and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.admin.demo import demo_agreements
from hub.admin.init import init_demo
from hub.cli import cli
from hub.cli.exit_codes import ExitCode
from hub.deployment import Deployment
from hub.governance import load_governance
from hub.policy.loader import load_agreements
from hub.policy.model import Agreement
from hub.policy.views.check import view_problems
from schemas.errors import GovernanceFileError
from tests.factories import TestDirectory, make_directory
from tests.hub.policy.helpers import agreement


def problems(types: list[str], view: dict[str, Any]) -> list[tuple[str, Any]]:
    data = agreement(
        "checked",
        ["organized_crime"],
        types,
        [{"from": "all", "to": "all", "view": "v"}],
        views={"v": view},
    )
    return view_problems(Agreement.model_validate(data))


REFUSED = [
    # a field the JSON Schema requires
    (["seizure"], {"drop": ["payload.case_reference"]}, "drop", 0, "is required"),
    (["seizure"], {"drop": ["payload.location"]}, "drop", 0, "is required"),
    (["trafficking_case"], {"drop": ["payload.victims_count"]}, "drop", 0, "is required"),
    # required inside list items, one and two list levels down
    (["seizure"], {"drop": ["payload.persons.name"]}, "drop", 0, "drop `payload.persons` as"),
    (["seizure"], {"drop": ["payload.persons.identifiers.number"]}, "drop", 0, "is required"),
    # reached through wildcards
    (["seizure"], {"drop": ["payload.**.name"]}, "drop", 0, "reaches `payload.precursors.name`"),
    (["seizure"], {"drop": ["payload.*"]}, "drop", 0, "requires case_reference"),
    # a list that must hold items, emptied
    (["information_request"], {"drop": ["payload.questions.*"]}, "drop", 0, "at least 1 item"),
    # required in one of the forms the schema allows (serial number or obliterated)
    (["seizure"], {"drop": ["payload.firearms.serial_number"]}, "drop", 0, "one of the forms"),
    # rules the models check across fields, found on sample messages
    (["seizure"], {"drop": ["payload.drugs"]}, "drop", 0, "at least one of drugs"),
    (["seizure"], {"drop": ["payload.conveyances"]}, "drop", 0, "at least one of drugs"),
    (["seizure"], {"drop": ["payload.conveyances.plate"]}, "drop", 0, "identifier: plate, vin"),
    (["information_response"], {"drop": ["payload.declined_reason"]}, "drop", 0, "declined"),
    (["firearm_trace_result"], {"drop": ["payload.first_retail_sale"]}, "drop", 0, "completed"),
    (["border_alert"], {"drop": ["payload.conveyances"]}, "drop", 0, "lists its conveyances"),
    (["disaster_alert"], {"drop": ["payload.area.geocode"]}, "drop", 0, "polygon, circle"),
    (["cbrn_interdiction"], {"drop": ["payload.materials.nuclide"]}, "drop", 0, "nuclide"),
    # paths that reach no field: a typo redacts nothing
    (["seizure"], {"drop": ["payload.person"]}, "drop", 0, "Did you mean `payload.persons`"),
    (["seizure"], {"drop": ["payload.persons.identifers"]}, "drop", 0,
     "`payload.persons.identifiers`"),
    (["seizure"], {"drop": ["payload.questions"]}, "drop", 0, "no field of seizure v1"),
    (["seizure"], {"drop": ["payload.case_reference.text"]}, "drop", 0, "has no fields"),
    (["seizure"], {"round": [{"field": "payload.**.latitude", "decimals": 1}]}, "round", 0,
     "`payload.**.lat`"),
    # a rounding that rounds nothing
    (["seizure"], {"round": [{"field": "payload.case_reference", "decimals": 1}]}, "round", 0,
     "rounds nothing"),
    # the entry to blame is the one at fault, not the first
    (["seizure"], {"drop": ["payload.persons", "payload.persn"]}, "drop", 1, "payload.persn"),
]  # fmt: skip


@pytest.mark.parametrize(("types", "view", "kind", "index", "says"), REFUSED)
def test_a_view_that_would_deliver_invalid_messages_or_redact_nothing_is_refused(
    types: list[str], view: dict[str, Any], kind: str, index: int, says: str
) -> None:
    found = problems(types, view)
    assert found, "the view was allowed"
    problem, loc = found[0]
    assert loc[:4] == ("views", "v", kind, index)
    assert says in problem


ALLOWED = [
    (["seizure"], {"drop": ["payload.persons"]}),
    (["seizure"], {"drop": ["payload.persons.*"]}),  # empties an optional list
    (["seizure"], {"drop": ["payload.persons.aliases", "payload.persons.identifiers"]}),
    (["seizure"], {"drop": ["payload.drugs.packages", "payload.drugs.description"]}),
    (["seizure"], {"drop": ["payload.**.description", "payload.agency_unit"]}),
    (["seizure"], {"round": [{"field": "payload.location", "decimals": 1}]}),
    (["seizure"], {"round": [{"field": "payload.**.mass_kg", "decimals": 0}]}),
    (["trafficking_case"], {"drop": ["payload.persons", "payload.route.locode",
                                     "payload.minors_count"]}),
    # a path that only some of the view's types have is fine: it drops nothing in others
    (["seizure", "disaster_alert"], {"drop": ["payload.persons"]}),
    (["gang_movement", "trafficking_case"], {"drop": ["payload.persons"],
     "round": [{"field": "payload.location.lat", "decimals": 2}]}),
]  # fmt: skip


@pytest.mark.parametrize(("types", "view"), ALLOWED)
def test_a_view_of_optional_fields_is_allowed(types: list[str], view: dict[str, Any]) -> None:
    assert problems(types, view) == []


@pytest.mark.parametrize("data", demo_agreements(), ids=lambda d: str(d["id"]))
def test_the_demo_agreements_views_are_allowed(data: dict[str, Any]) -> None:
    assert view_problems(Agreement.model_validate(data)) == []


def test_a_view_is_checked_against_the_types_of_the_flows_that_use_it() -> None:
    data = agreement(
        "two-flows",
        ["organized_crime"],
        ["seizure", "trafficking_case"],
        [
            {"from": "all", "to": "all", "types": ["trafficking_case"], "view": "v"},
            {"from": "all", "to": "all", "types": ["seizure"], "view": "full"},
        ],
        # victims_count is required in trafficking_case; seizure has no such field
        views={"v": {"drop": ["payload.persons", "payload.drugs"]}},
    )
    ((problem, loc),) = view_problems(Agreement.model_validate(data))
    assert loc == ("views", "v", "drop", 1)
    assert "no field of trafficking_case v1" in problem


@pytest.mark.parametrize(
    ("bound", "decimals", "breaks"),
    [
        ({"minimum": 0}, 0, None),
        ({"minimum": -90, "maximum": 90}, 1, None),
        ({"minimum": 0.25}, 1, "at least 0.25"),
        ({"maximum": 1.05}, 1, "at most 1.05"),
        ({"exclusiveMinimum": 0}, 3, "above 0"),
        ({"multipleOf": 0.5}, 1, "a multiple of 0.5"),
    ],
)
def test_a_rounding_that_can_cross_a_bound_is_named(
    bound: dict[str, object], decimals: int, breaks: str | None
) -> None:
    # No registered type has such a bound today; the rule guards the types to come.
    from hub.policy.views.check import _rounding_breaks  # the rule itself, not reachable yet

    assert _rounding_breaks({"type": "number", **bound}, decimals) == breaks


# -- the loader: file, line and field -----------------------------------------------------

BASE = """\
id: seizures
title: Seizures without persons
parties: [GT, HN]
themes: [narcotics]
types: [seizure]
max_tlp: amber
valid_from: 2026-01-01T00:00:00Z
valid_until: 2027-01-01T00:00:00Z
views:
  no-persons:
    drop:
      - payload.persons
      - {entry}
flows:
- {{from: all, to: all, view: no-persons}}
"""


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "HN"), themes=("narcotics",))


def _no_key(_party: str, _kid: str) -> None:
    return None


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("payload.case_reference", "in message type `seizure` v1 `payload.case_reference` is"),
        ("payload.drugs", "which some valid messages of type `seizure` v1 need"),
        ("payload.person", "Did you mean `payload.persons`"),
    ],
)
def test_the_loader_names_file_line_and_field_of_the_view_entry(
    tmp_path: Path, td: TestDirectory, entry: str, says: str
) -> None:
    path = tmp_path / "seizures.yaml"
    path.write_text(BASE.format(entry=entry))
    with pytest.raises(GovernanceFileError) as info:
        load_agreements(tmp_path, td.directory, _no_key)
    err = info.value
    assert err.path == path
    assert err.line == 13  # the line of `- <entry>`
    assert err.field == "views.no-persons.drop.1"
    assert f"view `no-persons` drops `{entry}`" in err.problem
    assert says in err.problem
    assert "remove this entry" in err.problem.lower()  # what to do
    assert f"{path}:13: field 'views.no-persons.drop.1':" in str(err)


def test_an_envelope_field_is_no_view_path(tmp_path: Path, td: TestDirectory) -> None:
    path = tmp_path / "seizures.yaml"
    path.write_text(BASE.format(entry="id"))
    with pytest.raises(GovernanceFileError) as info:
        load_agreements(tmp_path, td.directory, _no_key)
    assert info.value.field == "views.no-persons.drop.1"
    assert "not a payload field path" in info.value.problem


# -- the CLI and the hub's (re)load use the same loader -----------------------------------


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("views") / "enlace"
    init_demo(Deployment(home))
    return home


def test_verify_and_the_hub_refuse_a_deployment_with_a_bad_view(
    demo_home: Path, tmp_path: Path
) -> None:
    dep = Deployment(demo_home)
    load_governance(dep)  # the demo deployment loads
    path = dep.agreements_dir / "seizure-statistics.yaml"
    text = path.read_text()
    try:
        path.write_text(text.replace("- payload.persons\n", "- payload.persons.name\n", 1))
        result = CliRunner().invoke(cli, ["--home", str(demo_home), "agreements", "verify"])
        assert result.exit_code == ExitCode.GOVERNANCE, result.output
        assert f"{path}:" in result.output and "payload.persons.name" in result.output
        result = CliRunner().invoke(
            cli, ["--home", str(demo_home), "agreements", "verify", "--json"]
        )
        assert "views.statistics.drop.0" in json.dumps(json.loads(result.stdout))
        # What SIGHUP and `enlace reload` run: refused, so the hub keeps its running set.
        with pytest.raises(GovernanceFileError, match=r"views\.statistics\.drop\.0"):
            load_governance(dep)
    finally:
        path.write_text(text)
