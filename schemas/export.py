"""JSON Schema (draft 2020-12) of every message type and an AsyncAPI 3.0 document of the subjects.

``enlace schemas export DIR`` writes, for each registered type and version, the schema of
the *whole* message (the envelope with ``type``, ``version`` and ``theme`` pinned and the
typed payload) as ``DIR/<type>.v<version>.schema.json``, and ``DIR/asyncapi.yaml``.

JSON Schema checks shapes, ranges, enums and patterns, and the models are exactly as strict
about types (no ``"1"`` for 1, no Unix time for a date-time). Some rules are beyond JSON
Schema and are enforced only by the models the hub runs: ISO 3166 / ISO 4217 code lists,
CAS and IMO check digits, closed CAP polygons, real calendar dates, and cross-field rules
(a seizure seizes something). One difference of reading remains: JSON Schema counts ``1.0``
as an integer, the models do not (a recipient decoding into an integer type refuses it).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from ruamel.yaml import YAML

from schemas.amendments import HEADER_SCHEMAS as AMENDMENT_HEADERS
from schemas.asyncapi_parts import params, witness_api
from schemas.common import FULL_DATE_PATTERN, PARTIES, RFC3339_UTC_PATTERN, MessageId
from schemas.envelope import DEFAULT_MAX_BYTES, Envelope
from schemas.handling import Conditions, SignedConsent
from schemas.messages.spec import MessageSpec
from schemas.outcomes import Outcome
from schemas.receipts import Receipt, ReceiptBatch
from schemas.registry import REGISTRY, MessageRegistry
from schemas.subjects import (
    HDR_AGREEMENT,
    HDR_COUNTERSIGNATURE,
    HDR_MSG_ID,
    HDR_ORIGINAL_DIGEST,
    HDR_REASON,
    HDR_RECEIPT_BATCH,
    HDR_RECIPIENT,
    HDR_SIGNATURE,
    HDR_VIEW,
    PREFIX,
)

__all__ = [
    "ASYNCAPI_FILE",
    "JSON_SCHEMA_DIALECT",
    "asyncapi_document",
    "example_message",
    "export_schemas",
    "message_model",
    "message_schema",
    "model_components",
    "outcome_schemas",
    "schema_filename",
    "schema_id",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXAMPLE_ID = "01JDQ7Z8Y6R3M4N5P6Q7R8S9T0"
EXAMPLE_REQUEST_ID = "01JDQ6A1B2C3D4E5F6G7H8J9K0"
ASYNCAPI_FILE = "asyncapi.yaml"


def schema_id(type_: str, version: int) -> str:
    """The ``$id`` of a message type's JSON Schema (``urn:enlace:message:<type>:v<n>``): what
    a webhook's ``ce-dataschema`` and the gateway's OpenAPI document name it by."""
    return f"urn:enlace:message:{type_}:v{version}"


def schema_filename(type_: str, version: int) -> str:
    """``<type>.v<version>.schema.json``."""
    return f"{type_}.v{version}.schema.json"


def _camel(type_: str) -> str:
    return "".join(part.capitalize() for part in type_.split("_"))


# Value types of schemas.common are checked by Python validators that JSON Schema cannot
# see; give their JSON Schema the shape they accept (the code lists stay model-only).
_VALIDATOR_SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("schemas.common", "_country"): {
        "pattern": "^[A-Z]{2}$",
        "description": "ISO 3166-1 alpha-2 country code",
    },
    ("schemas.common", "_currency"): {
        "pattern": "^[A-Z]{3}$",
        "description": "ISO 4217 currency code",
    },
    ("schemas.common", "_message_id"): {
        "pattern": "^([0-9A-HJKMNP-TV-Z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}"
        "-[0-9a-f]{12})$",
        "description": "ULID or UUIDv7",
    },
    ("schemas.common", "_utc"): {
        "pattern": "(Z|[+-]00:00)$",
        "description": "RFC 3339 date-time in UTC",
    },
    # The lexical checks of WireDatetime / WireDate: the same patterns the models run.
    ("schemas.common", "_rfc3339_utc"): {
        "pattern": RFC3339_UTC_PATTERN,
        "description": "RFC 3339 date-time in UTC, e.g. 2026-11-25T10:00:00Z",
    },
    ("schemas.common", "_full_date"): {
        "pattern": FULL_DATE_PATTERN,
        "description": "RFC 3339 full-date, e.g. 2026-11-25",
    },
}


def _with_shape(result: JsonSchemaValue, function: Any) -> JsonSchemaValue:
    shape = _VALIDATOR_SHAPES.get(
        (getattr(function, "__module__", ""), getattr(function, "__qualname__", ""))
    )
    return {**result, **shape} if shape else result


class _SchemaGenerator(GenerateJsonSchema):
    def function_after_schema(
        self, schema: core_schema.AfterValidatorFunctionSchema
    ) -> JsonSchemaValue:
        return _with_shape(super().function_after_schema(schema), schema["function"]["function"])

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        return _with_shape(super().function_before_schema(schema), schema["function"]["function"])


def message_model(spec: MessageSpec) -> type[BaseModel]:
    """The envelope with ``type``/``version``/``theme`` pinned and ``payload`` typed."""
    # Literal[...] of values known only at run time: typing accepts a tuple subscript.
    themes: Any = Literal[tuple(str(t) for t in spec.themes)]
    fields: dict[str, Any] = {
        "type": (Literal[spec.type], ...),
        "version": (Literal[spec.version], ...),
        "theme": (themes, ...),
        "payload": (spec.model, ...),
    }
    if spec.reply:
        fields["in_reply_to"] = (
            MessageId,
            Field(description="the id of the message this one answers"),
        )
    model: type[BaseModel] = create_model(
        f"{_camel(spec.type)}V{spec.version}Message",
        __base__=Envelope,
        __doc__=f"{spec.title} (message type {spec.type}, version {spec.version}).",
        **fields,
    )
    return model


def example_message(spec: MessageSpec) -> dict[str, Any]:
    """A fixed (reproducible) example message of ``spec`` with its template payload."""
    theme = str(spec.themes[0])
    example: dict[str, Any] = {
        "id": EXAMPLE_ID,
        "type": spec.type,
        "version": spec.version,
        "theme": theme,
        "sender": {
            "country": "GT",
            "agency": "Agency of GT",
            "poc": f"gt-{theme}".replace("_", "-"),
        },
        "issued_at": "2026-11-25T10:00:00Z",
        "handling": "amber",
        "evaluation": {"reliability": "B", "credibility": 2},
    }
    if spec.reply:
        example["in_reply_to"] = EXAMPLE_REQUEST_ID
    example["payload"] = copy.deepcopy(spec.example)
    return example


def message_schema(spec: MessageSpec) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole message of ``spec``'s type and version."""
    body = message_model(spec).model_json_schema(
        mode="validation", schema_generator=_SchemaGenerator
    )
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(spec.type, spec.version),
        **body,
        "examples": [example_message(spec)],
    }


def _header(description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if pattern:
        schema["pattern"] = pattern
    return schema


_SENDER_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": [HDR_SIGNATURE, HDR_MSG_ID],
    "properties": {
        HDR_SIGNATURE: _header(
            "Detached JWS (RFC 7515, unencoded payload RFC 7797, alg Ed25519) over the exact "
            "message bytes; kid names the point of contact's key in the directory.",
            r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$",
        ),
        HDR_MSG_ID: _header("The message id, for JetStream de-duplication."),
    },
}

_RECEIPT_BATCH_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "No Enlace-Signature: each receipt of the batch carries its own JWS.",
    "required": [HDR_RECEIPT_BATCH, HDR_MSG_ID],
    "properties": {
        HDR_RECEIPT_BATCH: _header("How many receipts the batch carries.", r"^[0-9]+$"),
        HDR_MSG_ID: _header("receipts:<SHA-256 of the receipts' own ids>, against doubles."),
    },
}

_DELIVERY_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "A full view carries the sender's Enlace-Signature over its exact bytes; a "
    "redacted view carries the hub's Enlace-Countersignature and the original's digest.",
    "required": [HDR_MSG_ID, HDR_VIEW, HDR_RECIPIENT, HDR_AGREEMENT],
    "properties": {
        **_SENDER_HEADERS["properties"],
        HDR_VIEW: _header("'full', or the name of the redaction applied to this view."),
        HDR_COUNTERSIGNATURE: _header(
            "The hub's detached JWS over a redacted view and the original's digest."
        ),
        HDR_ORIGINAL_DIGEST: _header(
            "sha256:<hex> of the original message bytes.", r"^sha256:[0-9a-f]{64}$"
        ),
        HDR_AGREEMENT: _header("Id of the sharing agreement under which this view travels."),
        HDR_RECIPIENT: _header("The receiving country (ISO 3166-1 alpha-2).", r"^[A-Z]{2}$"),
        **AMENDMENT_HEADERS,  # a correction's or retraction's
    },
}

_REASON_HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {HDR_REASON: _header("The reason code of the refusal.")},
}

_COMPONENT_SCHEMAS = "#/components/schemas/{model}"


def model_components(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The JSON Schema of ``model`` as ``components/schemas``: itself under ``name``, with
    the parts it refers to beside it as components of their own."""
    schema = model.model_json_schema(ref_template=_COMPONENT_SCHEMAS)
    parts: dict[str, Any] = schema.pop("$defs", {})
    return {name: schema, **parts}


def outcome_schemas(name: str = "outcome") -> dict[str, Any]:
    """:func:`model_components` of the outcome (the AsyncAPI and OpenAPI documents' one)."""
    return model_components(Outcome, name)


def asyncapi_document(registry: MessageRegistry = REGISTRY) -> dict[str, Any]:
    """An AsyncAPI 3.0 document of Enlace's subjects, from a national system's point of view.

    Message payloads reference the exported JSON Schema files (``<type>.v<n>.schema.json``)
    beside it.
    """
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for type_ in registry.types():
        specs = [registry.spec(type_, v) for v in registry.versions(type_)]
        themes = sorted({str(t) for s in specs for t in s.themes})
        for spec in specs:
            ref = schema_filename(spec.type, spec.version)
            for flow, headers in (("in", "senderHeaders"), ("out", "deliveryHeaders")):
                messages[f"{flow}_{spec.type}_v{spec.version}"] = {
                    "name": spec.type,
                    "title": f"{spec.title} (v{spec.version})",
                    "contentType": "application/json",
                    "headers": {"$ref": f"#/components/schemas/{headers}"},
                    "payload": {"$ref": ref},
                    "examples": [{"name": "example", "payload": example_message(spec)}],
                }
        flows: tuple[tuple[str, str, str | tuple[str, list[str]], str], ...] = (
            ("in", "country", ("the sender's country (a party)", list(PARTIES)), "published"),
            ("out", "recipient", "the receiving country (a party or an observer)", "delivered"),
        )
        for flow, who, who_desc, verb in flows:
            channels[f"{flow}_{type_}"] = {
                "address": f"{PREFIX}.{flow}.{{{who}}}.{{theme}}.{type_}",
                "title": f"{type_} {verb}",
                "parameters": params(
                    **{who: who_desc, "theme": ("a theme the type may travel under", themes)}
                ),
                "messages": {
                    f"{type_}_v{s.version}": {
                        "$ref": f"#/components/messages/{flow}_{type_}_v{s.version}"
                    }
                    for s in specs
                },
            }
        operations[f"publish_{type_}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/in_{type_}"},
            "summary": f"A point of contact publishes a signed {type_}.",
        }
        operations[f"receive_{type_}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/out_{type_}"},
            "summary": f"A country's sink receives the {type_} views it is entitled to.",
        }
    channels["rejected"] = {
        "address": f"{PREFIX}.rejected.{{country}}",
        "title": "Notices to a sender whose message the hub refused",
        "parameters": params(country=("the sender's country", list(PARTIES))),
        "messages": {"rejection": {"$ref": "#/components/messages/rejection"}},
    }
    channels["receipt"] = {
        "address": f"{PREFIX}.receipt.{{country}}",
        "title": "Signed delivery receipts from a country's sinks",
        "parameters": params(country="the receiving country"),
        "messages": {
            "receipt": {"$ref": "#/components/messages/receipt"},
            "receipt_batch": {"$ref": "#/components/messages/receipt_batch"},
        },
    }
    channels["outcome"] = {
        "address": f"{PREFIX}.outcome.{{country}}.{{message_id}}",
        "title": "The hub's outcome of each message of a country, kept (stream "
        "OUTCOMES_<country>, the last per message, for the hub's outcome_max_age) for its "
        "sender's login to read later by id",
        "parameters": params(
            country=("the sender's country", list(PARTIES)),
            message_id="the message's id (one that is not a plain token: ~ and the first "
            "32 hex digits of its SHA-256)",
        ),
        "messages": {"outcome": {"$ref": "#/components/messages/outcome"}},
    }
    operations["receive_outcomes"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/outcome"},
        "summary": "A sender (enlace publish) waits for what became of its message, or "
        "reads it later (a direct get of the last message on its subject: enlace outcome).",
    }
    operations["receive_rejections"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/rejected"},
        "summary": "A sender learns why the hub refused its message (reason code).",
    }
    operations["send_receipt"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/receipt"},
        "summary": "A sink confirms, signed with its party key, that a delivery was written.",
    }
    messages["rejection"] = {
        "name": "notice",
        "title": "Notice of a refused, undeliverable or partly refused message",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/reasonHeaders"},
        "payload": {"$ref": "#/components/schemas/outcome"},
    }
    messages["outcome"] = {
        "name": "outcome",
        "title": "What became of a message (accepted, partial, undeliverable, rejected)",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/outcome"},
    }
    for name, title, headers, payload in (
        ("receipt", "Delivery receipt (one)", "senderHeaders", "receipt"),
        ("receipt_batch", "A sink batch's receipts", "receiptBatchHeaders", "receiptBatch"),
    ):
        messages[name] = {
            "name": name,
            "title": title,
            "contentType": "application/json",
            "headers": {"$ref": f"#/components/schemas/{headers}"},
            "payload": {"$ref": f"#/components/schemas/{payload}"},
        }
    for part, more in zip((channels, operations, messages), witness_api(), strict=True):
        part.update(more)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Enlace",
            "version": "1.0.0",
            "description": "Signed, schema-validated exchange of security information among "
            "the United States and the SICA states over NATS JetStream. Subjects are "
            "country-first so that NATS permissions can be per country. Every message is one "
            f"UTF-8 JSON object of at most {DEFAULT_MAX_BYTES} bytes; its payload schemas are "
            "JSON Schema draft 2020-12 files beside this document.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "enlace up (embedded nats-server, JetStream)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "senderHeaders": _SENDER_HEADERS,
                "deliveryHeaders": _DELIVERY_HEADERS,
                "reasonHeaders": _REASON_HEADERS,
                "receiptBatchHeaders": _RECEIPT_BATCH_HEADERS,
                **outcome_schemas(),
                **model_components(Conditions, "conditions"),  # beside TLP, in every message
                **model_components(SignedConsent, "signedConsent"),  # `enlace consent`
                **model_components(Receipt, "receipt"),
                **model_components(ReceiptBatch, "receiptBatch"),
            },
        },
    }


def export_schemas(directory: Path, registry: MessageRegistry = REGISTRY) -> list[Path]:
    """Write every message's JSON Schema and ``asyncapi.yaml`` into ``directory``.

    Returns:
        The files written, schemas first (by type, version), then the AsyncAPI document.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for spec in registry:
        path = directory / schema_filename(spec.type, spec.version)
        text = json.dumps(message_schema(spec), indent=2, ensure_ascii=False, sort_keys=False)
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    path = directory / ASYNCAPI_FILE
    yaml = YAML(typ="rt")  # round-trip mode keeps the reading order of the keys
    yaml.default_flow_style = False
    yaml.width = 100
    # A JSON round trip gives every list its own object, so YAML writes no &anchors.
    document = json.loads(json.dumps(asyncapi_document(registry)))
    with path.open("w", encoding="utf-8") as stream:
        yaml.dump(document, stream)
    written.append(path)
    return written
