"""The sender's handling conditions in a STIX bundle: statement markings that validate."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stix2

from adapters.sinks.stix import bundle_bytes
from adapters.sinks.stix_bundle import TLP_MARKINGS, sender_identity_id
from adapters.sinks.stix_conditions import NO_ONWARD_STATEMENT, NOT_FOR_COURT_STATEMENT
from schemas.registry import REGISTRY
from schemas.testing import TestDirectory, make_directory
from tests.adapters.stixkit import delivery_of, errors_of, validate

SEIZURE = next(spec for spec in REGISTRY if spec.type == "seizure")


@pytest.fixture(scope="module")
def td() -> TestDirectory:
    return make_directory(parties=("GT", "SV"), themes=(str(SEIZURE.themes[0]),))


def statements(bundle: bytes) -> dict[str, dict[str, Any]]:
    return {
        o["id"]: o
        for o in json.loads(bundle)["objects"]
        if o["type"] == "marking-definition" and o.get("definition_type") == "statement"
    }


def test_each_condition_is_a_statement_marking_on_every_object(td: TestDirectory) -> None:
    conditions = {"no_onward": True, "not_for_court": True, "note": "ver acuerdo 7"}
    data = bundle_bytes(delivery_of(td, SEIZURE, conditions=conditions))

    results = validate(data)
    assert errors_of(results) == [] and results.is_valid
    stix2.parse(data.decode(), allow_custom=True)
    found = statements(data)
    assert sorted(m["definition"]["statement"] for m in found.values()) == sorted(
        [
            NO_ONWARD_STATEMENT,
            NOT_FOR_COURT_STATEMENT,
            "Enlace handling condition of the originator: ver acuerdo 7",
        ]
    )
    sender = sender_identity_id("SV", "Agency of SV")
    assert {m["created_by_ref"] for m in found.values()} == {sender}
    tlp = TLP_MARKINGS["green"].id
    for obj in json.loads(data)["objects"]:
        if obj["type"] == "marking-definition" or obj["id"] == sender:
            continue
        assert obj["object_marking_refs"] == [tlp, *found], obj["type"]


def test_no_conditions_no_statements_and_the_same_marking_across_messages(
    td: TestDirectory,
) -> None:
    assert statements(bundle_bytes(delivery_of(td, SEIZURE))) == {}
    first = bundle_bytes(delivery_of(td, SEIZURE, conditions={"no_onward": True}))
    second = bundle_bytes(delivery_of(td, SEIZURE, conditions={"no_onward": True}))
    assert list(statements(first)) == list(statements(second))  # one marking in a store
    assert len(statements(first)) == 1
