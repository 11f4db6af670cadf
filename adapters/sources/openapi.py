"""The HTTP gateway's OpenAPI 3.1 document, built from the exported message JSON Schemas.

``GET /openapi.json`` serves it, so an integrator's tooling (code generators, API
consoles, contract tests) reads the gateway the way it reads any HTTP API. The request body
of ``POST /v1/messages`` is one of the message types: each is the very schema ``enlace
schemas export`` writes (:func:`schemas.export.message_schema`), with its ``$defs`` moved to
``components/schemas`` as ``<Message>.<Def>`` and ``id``, ``issued_at`` and ``sender`` no
longer required, since the gateway fills them in for the token's point of contact.
"""

from __future__ import annotations

from typing import Any

from schemas.envelope import DEFAULT_MAX_BYTES
from schemas.export import JSON_SCHEMA_DIALECT, message_schema, outcome_schemas
from schemas.registry import REGISTRY, MessageRegistry

__all__ = ["FILLED_IN", "MESSAGES_PATH", "OPENAPI_PATH", "OUTCOME_PATH", "gateway_openapi"]

MESSAGES_PATH = "/v1/messages"
OUTCOME_PATH = "/v1/messages/{id}/outcome"
OPENAPI_PATH = "/openapi.json"
FILLED_IN = ("id", "issued_at", "sender")
"""Envelope fields the gateway completes when a national system leaves them out."""

_REFUSAL = {
    "type": "object",
    "required": ["reason", "detail"],
    "properties": {
        "reason": {"type": "string", "description": "the reason code"},
        "detail": {"type": "string", "description": "what was wrong and what to do"},
    },
}

_ACCEPTED = {
    "type": "object",
    "required": ["id", "status", "subject", "seq"],
    "properties": {
        "id": {"type": "string", "description": "the message id (given or made)"},
        "status": {
            "enum": ["accepted", "duplicate"],
            "description": "accepted: stored in INGRESS (the hub's verdict comes later); "
            "duplicate: this id was published before",
        },
        "subject": {"type": "string", "description": "enlace.in.<cc>.<theme>.<type>"},
        "seq": {"type": "integer", "description": "its sequence in the ingress stream"},
    },
}

_REFUSALS: dict[str, str] = {
    "400": "malformed_json: the body is not JSON",
    "401": "bad_token: no valid `Authorization: Bearer <token>`",
    "403": "sender_mismatch: the message names another point of contact",
    "413": "too_large: the body is over the hub's limit",
    "422": "duplicate_key, invalid_envelope, unknown_type, theme_not_allowed, schema_invalid",
    "429": "ingress_full: the country's ingress quota is full; retry after Retry-After",
    "500": "the gateway cannot sign for this point of contact (signing_key_missing)",
    "503": "hub_unavailable: NATS did not take the message; retry later",
}


_OUTCOME_REFUSALS: dict[str, str] = {
    "401": "bad_token: no valid `Authorization: Bearer <token>`",
    "403": "outcome_not_permitted: the gateway's NATS login is not the token's country's",
    "404": "no_such_outcome: none kept for this id and the token's country: it expired "
    "(the hub's outcome_max_age, 7 days by default), the hub has not finished it yet, "
    "or the country never sent it",
    "503": "hub_unavailable: NATS did not answer; retry later",
}


def _outcome_operation() -> dict[str, Any]:
    """``GET /v1/messages/{id}/outcome``: the hub's kept outcome of a message."""
    refusal = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
    responses: dict[str, Any] = {
        "200": {
            "description": "what became of the message (accepted, partial, undeliverable, "
            "rejected), as the hub said it",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Outcome"}}},
        }
    }
    for status, description in _OUTCOME_REFUSALS.items():
        responses[status] = {"description": description, "content": refusal}
    return {
        "get": {
            "operationId": "messageOutcome",
            "summary": "The hub's outcome of a message the token's country sent",
            "description": "The hub keeps the last outcome of each message for a while, "
            "readable by its sender's country only: collect it here after a 202, at any "
            "time later.",
            "security": [{"bearer": []}],
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "description": "the message id (the 202's `id`)",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                }
            ],
            "responses": responses,
        }
    }


def _rewrite_refs(node: Any, prefix: str) -> Any:
    """``#/$defs/X`` → ``#/components/schemas/<prefix>.X``, everywhere in ``node``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = f"#/components/schemas/{prefix}.{value.removeprefix('#/$defs/')}"
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, prefix) for item in node]
    return node


def _submission(schema: dict[str, Any]) -> dict[str, Any]:
    """A message schema as the gateway takes it: ``FILLED_IN`` fields may be left out."""
    body = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs", "examples")}
    body["required"] = [f for f in schema.get("required", []) if f not in FILLED_IN]
    body["description"] = (
        f"{schema.get('description', '')} JSON Schema {schema['$id']}; "
        f"{', '.join(FILLED_IN)} may be left out (the gateway fills them in)."
    ).strip()
    example = {k: v for k, v in schema["examples"][0].items() if k not in FILLED_IN}
    body["examples"] = [example]
    return body


def gateway_openapi(
    registry: MessageRegistry = REGISTRY, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the gateway, for the message types of ``registry``."""
    components: dict[str, Any] = {
        "Accepted": _ACCEPTED,
        "Refusal": _REFUSAL,
        **outcome_schemas("Outcome"),
    }
    bodies = []
    for spec in registry:
        schema = message_schema(spec)
        name = str(schema["title"])
        for def_name, definition in schema.get("$defs", {}).items():
            components[f"{name}.{def_name}"] = _rewrite_refs(definition, name)
        components[name] = _rewrite_refs(_submission(schema), name)
        bodies.append({"$ref": f"#/components/schemas/{name}"})
    refusal = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
    responses: dict[str, Any] = {
        "202": {
            "description": "stored in INGRESS, signed by the token's point of contact; the "
            "hub's verdict is then at GET /v1/messages/{id}/outcome",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
        },
    }
    for status, description in _REFUSALS.items():
        responses[status] = {"description": description, "content": refusal}
    responses["429"]["headers"] = {
        "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": JSON_SCHEMA_DIALECT,
        "info": {
            "title": "Enlace HTTP gateway",
            "version": "1.0.0",
            "description": "A national system POSTs an unsigned message with its point of "
            "contact's API token; the gateway completes it (id, issued_at, sender), validates "
            "it against its type's JSON Schema (the same as `enlace schemas export`), signs it "
            f"with that point of contact's key and publishes it. At most {max_bytes} bytes.",
        },
        "paths": {
            MESSAGES_PATH: {
                "post": {
                    "operationId": "publishMessage",
                    "summary": "Sign and publish a message as the token's point of contact",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"oneOf": bodies}}},
                    },
                    "responses": responses,
                }
            },
            OUTCOME_PATH: _outcome_operation(),
            OPENAPI_PATH: {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "the OpenAPI 3.1 document"}},
                }
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `enlace gateway --issue-token POC`",
                }
            },
        },
    }
