"""The gateway's OpenAPI 3.1 document: valid, and its bodies are the exported schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from adapters.sources.openapi import FILLED_IN, MESSAGES_PATH, gateway_openapi
from schemas.export import example_message, message_schema
from schemas.messages.spec import MessageSpec
from schemas.registry import REGISTRY

DOCUMENT = gateway_openapi()
SPECS = list(REGISTRY)


def body_validator(name: str | None = None) -> Draft202012Validator:
    """A validator of the request body (one message type, or any), refs resolved in-document."""
    body = DOCUMENT["paths"][MESSAGES_PATH]["post"]["requestBody"]["content"]["application/json"]
    schema = {"$ref": f"#/components/schemas/{name}"} if name else body["schema"]
    return Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    validate(DOCUMENT)  # raises OpenAPIValidationError naming what is wrong


def test_every_message_type_is_a_request_body() -> None:
    body = DOCUMENT["paths"][MESSAGES_PATH]["post"]["requestBody"]["content"]["application/json"]
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in body["schema"]["oneOf"]]
    assert names == [message_schema(spec)["title"] for spec in SPECS]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}.v{s.version}")
def test_a_body_is_the_exported_schema_with_the_filled_in_fields_optional(
    spec: MessageSpec,
) -> None:
    exported = message_schema(spec)
    component = DOCUMENT["components"]["schemas"][exported["title"]]
    assert component["properties"].keys() == exported["properties"].keys()
    assert component["required"] == [f for f in exported["required"] if f not in FILLED_IN]
    assert exported["$id"] in component["description"]
    for name in exported["$defs"]:
        assert f"{exported['title']}.{name}" in DOCUMENT["components"]["schemas"]

    # What a national system sends: the example without what the gateway fills in.
    submitted: dict[str, Any] = {
        k: v for k, v in example_message(spec).items() if k not in FILLED_IN
    }
    assert list(body_validator().iter_errors(submitted)) == []
    assert list(body_validator(exported["title"]).iter_errors(example_message(spec))) == []
    wrong = copy.deepcopy(submitted)
    wrong["handling"] = "purple"
    assert list(body_validator().iter_errors(wrong)) != []
    wrong = copy.deepcopy(submitted)
    wrong["payload"]["unexpected"] = True  # the payload's own schema, reached by $ref
    assert list(body_validator(exported["title"]).iter_errors(wrong)) != []


def test_refusals_say_their_reason_codes() -> None:
    responses = DOCUMENT["paths"][MESSAGES_PATH]["post"]["responses"]
    assert set(responses) == {"202", "400", "401", "403", "413", "422", "429", "500", "503"}
    assert "ingress_full" in responses["429"]["description"]
    assert "Retry-After" in responses["429"]["headers"]
    assert DOCUMENT["paths"][MESSAGES_PATH]["post"]["security"] == [{"bearer": []}]
