"""The exported JSON Schema and AsyncAPI document hold the handling conditions and consents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas.envelope import Sender
from schemas.export import asyncapi_document, export_schemas, schema_filename
from schemas.handling import NOTE_MAX, Consent, sign_consent
from schemas.message import new_message
from schemas.registry import REGISTRY
from schemas.testing import make_directory

TD = make_directory(parties=("GT", "SV"), themes=("gangs",))
SENDER = Sender(country="SV", agency="PNC", poc="sv-gangs")
ORIGINAL = "01JD0000000000000000000000"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("schemas")
    export_schemas(directory)
    return directory


def schema_of(directory: Path, type_: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((directory / schema_filename(type_, 1)).read_bytes()))


def passed_on() -> dict[str, Any]:
    consent = Consent(message_id=ORIGINAL, sender="GT", by="SV", issued_at=datetime.now(UTC))
    signed = sign_consent(consent, TD.keys["gt-system-k1"], "gt-system-k1")
    return new_message(
        "gang_movement",
        SENDER,
        conditions={"no_onward": True, "not_for_court": False, "note": "sólo análisis"},
        derived_from=[ORIGINAL],
        consents=[signed.model_dump(mode="json")],
    )


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_every_message_schema_has_the_new_fields(exported: Path, type_: str) -> None:
    schema = json.loads((exported / schema_filename(type_, 1)).read_bytes())
    assert {"conditions", "derived_from", "consents"} <= set(schema["properties"])
    assert {"Conditions", "Consent", "SignedConsent"} <= set(schema["$defs"])
    assert schema["$defs"]["Conditions"]["properties"]["note"]["anyOf"][0]["maxLength"] == NOTE_MAX


def test_a_message_passed_on_with_consent_is_valid_under_its_schema(exported: Path) -> None:
    errors = list(schema_of(exported, "gang_movement").iter_errors(passed_on()))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    "change",
    [
        {"conditions": {"no_onward": "yes"}},
        {"conditions": {"note": "x" * (NOTE_MAX + 1)}},
        {"conditions": {"never_ever": True}},
        {"derived_from": ["not an id"]},
        {"derived_from": []},
        {"consents": [{"jws": "x"}]},
    ],
)
def test_wrong_handling_fields_are_refused_by_the_schema(
    exported: Path, change: dict[str, Any]
) -> None:
    assert list(schema_of(exported, "gang_movement").iter_errors(passed_on() | change))


def test_the_asyncapi_document_names_conditions_and_consents() -> None:
    components = asyncapi_document()["components"]["schemas"]
    assert set(components["conditions"]["properties"]) == {"no_onward", "not_for_court", "note"}
    assert components["signedConsent"]["properties"]["consent"] == {
        "$ref": "#/components/schemas/Consent"
    }
    assert set(components["Consent"]["required"]) == {"message_id", "sender", "by", "issued_at"}
