"""The outcome contract: one model, the bytes consumers already read, its exported schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from schemas.export import ASYNCAPI_FILE, asyncapi_document, export_schemas
from schemas.outcomes import Outcome, OutcomeStatus, RecipientView, RefusedRecipient

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

PARTIAL = Outcome(
    message_id="01JB6X1Q8Y6Z3N4M5P7R8S9T0W",
    status=OutcomeStatus.PARTIAL,
    at=datetime(2026, 11, 28, 6, 49, 2, 123456, tzinfo=timezone(timedelta(hours=-6))),
    reason="partly_refused",
    description="entregado a SV, pero no a HN (no_agreement) — “ñ”",
    recipients=(
        RecipientView(country="SV", view="full", agreement="gangs-ca"),
        RecipientView(country="US", view="no-names", agreement="gangs-us"),
    ),
    refused=(
        RefusedRecipient(country="HN", reason="no_agreement", detail="no flow"),
        RefusedRecipient(country="NI", reason="not_in_to"),
    ),
)


def test_outcome_json_round_trip() -> None:
    outcome = Outcome(
        message_id="01ABC",
        status=OutcomeStatus.PARTIAL,
        at=NOW,
        reason="partly_refused",
        description="delivered to SV, not to HN",
        recipients=(RecipientView(country="SV", view="full", agreement="gangs-ca"),),
        refused=(RefusedRecipient(country="HN", reason="no_agreement", detail="no flow"),),
    )
    doc = json.loads(outcome.to_json())
    assert doc["refused"] == [{"country": "HN", "reason": "no_agreement", "detail": "no flow"}]
    assert doc["at"] == "2026-11-25T12:00:00Z"
    assert Outcome.from_json(outcome.to_json()) == outcome
    assert outcome.is_notice and outcome.accepted


def test_the_bytes_on_the_wire_are_those_consumers_already_read() -> None:
    # Written by the hand-made serialiser this model replaces (hub/pipeline/notices.py).
    assert (
        PARTIAL.to_json()
        == (
            '{"at": "2026-11-28T12:49:02Z", "description": "entregado a SV, pero no a HN '
            '(no_agreement) — “ñ”", "message_id": "01JB6X1Q8Y6Z3N4M5P7R8S9T0W", "reason": '
            '"partly_refused", "recipients": [{"agreement": "gangs-ca", "country": "SV", "view": '
            '"full"}, {"agreement": "gangs-us", "country": "US", "view": "no-names"}], "refused": '
            '[{"country": "HN", "detail": "no flow", "reason": "no_agreement"}, {"country": "NI", '
            '"detail": "", "reason": "not_in_to"}], "status": "partial"}'
        ).encode()
    )
    rejected = Outcome(message_id="in42", status=OutcomeStatus.REJECTED, at=NOW, reason="x")
    assert rejected.to_json() == (
        b'{"at": "2026-11-25T12:00:00Z", "description": "", "message_id": "in42", '
        b'"reason": "x", "recipients": [], "refused": [], "status": "rejected"}'
    )
    assert list(PARTIAL.to_dict()) == sorted(PARTIAL.to_dict())


def test_a_reader_takes_fields_left_out_or_added() -> None:
    outcome = Outcome.from_json(
        b'{"message_id": "m1", "status": "accepted", "at": "2026-11-25T12:00:00Z", '
        b'"recipients": [{"country": "SV", "view": "full", "agreement": "a"}], "new": 1}'
    )
    assert (outcome.reason, outcome.description, outcome.refused) == ("", "", ())
    assert outcome.recipients[0].country == "SV"
    assert outcome.at == NOW


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"message_id": "m1", "at": "2026-11-25T12:00:00Z"}',
        b'{"message_id": "m1", "status": "lost", "at": "2026-11-25T12:00:00Z"}',
        b'{"message_id": "m1", "status": "accepted", "at": "yesterday"}',
    ],
)
def test_what_is_not_an_outcome_is_refused_as_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        Outcome.from_json(data)


def _outcome_validator(document: dict[str, Any]) -> Draft202012Validator:
    # The schema refers to its parts as #/components/schemas/…: resolve them in the document.
    root = {"$ref": "#/components/schemas/outcome", "components": document["components"]}
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root)


def test_the_exported_schema_is_the_models_and_takes_what_the_hub_writes(tmp_path: Path) -> None:
    export_schemas(tmp_path)
    document = YAML(typ="safe").load(tmp_path / ASYNCAPI_FILE)
    assert document["components"]["schemas"]["outcome"]["required"] == [
        "message_id",
        "status",
        "at",
    ]
    validator = _outcome_validator(document)
    for outcome in (PARTIAL, Outcome(message_id="m", status=OutcomeStatus.ACCEPTED, at=NOW)):
        assert validator.is_valid(json.loads(outcome.to_json()))
    assert not validator.is_valid({"message_id": "m", "status": "lost", "at": "x"})
    assert not validator.is_valid({"message_id": "m", "status": "accepted"})


def test_the_schema_has_no_definitions_of_its_own_that_would_not_resolve() -> None:
    schemas = asyncapi_document()["components"]["schemas"]
    assert "$defs" not in schemas["outcome"]
    assert {"OutcomeStatus", "RecipientView", "RefusedRecipient"} <= set(schemas)
