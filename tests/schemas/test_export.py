"""Exported JSON Schemas validate every template and refuse invalid messages; AsyncAPI 3 shape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from schemas.amendments import HDR_AMENDMENT, HDR_AMENDS, HDR_ORIGINAL_ID, HDR_VERSION
from schemas.common import PARTIES
from schemas.envelope import Sender
from schemas.export import ASYNCAPI_FILE, export_schemas, schema_filename
from schemas.message import new_message, parse_message
from schemas.registry import REGISTRY
from schemas.subjects import HDR_SIGNATURE

SENDER = Sender(country="HN", agency="DPI", poc="hn-gangs")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("schemas")
    export_schemas(directory)
    return directory


def validator(directory: Path, type_: str) -> Draft202012Validator:
    schema = json.loads((directory / schema_filename(type_, 1)).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_one_file_per_type_and_version_plus_asyncapi(tmp_path: Path) -> None:
    written = export_schemas(tmp_path / "out")
    expected = {schema_filename(s.type, s.version) for s in REGISTRY} | {ASYNCAPI_FILE}
    assert {p.name for p in written} == expected
    assert {p.name for p in (tmp_path / "out").iterdir()} == expected


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_every_template_message_is_valid_under_its_schema(exported: Path, type_: str) -> None:
    schema = validator(exported, type_)
    assert isinstance(schema.schema, dict)
    assert schema.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for theme in REGISTRY.themes_for(type_, 1):
        message = new_message(type_, SENDER, theme=theme)
        errors = list(schema.iter_errors(message))
        assert not errors, [e.message for e in errors]


def _bad(message: dict[str, Any], change: str) -> dict[str, Any]:
    bad: dict[str, Any] = json.loads(json.dumps(message))
    if change == "unknown field":
        bad["payload"]["surprise"] = True
    elif change == "lat 91":
        bad["payload"]["location"]["lat"] = 91
    elif change == "theme":
        bad["theme"] = "natural_disasters"
    elif change == "type":
        bad["type"] = "gang_movement"
    elif change == "serial and obliterated":
        bad["payload"]["firearms"][0]["serial_number"] = "X1"
    elif change == "cash as float":
        bad["payload"]["cash"][0]["amount"] = 12.5
    elif change == "locode format":
        bad["payload"]["location"]["locode"] = "GT-PRQ"
    elif change == "cas format":
        bad["payload"]["precursors"][0]["cas"] = "7664939"
    elif change == "missing id":
        del bad["id"]
    elif change == "id not a ULID":
        bad["id"] = "message-1"
    elif change == "country shape":
        bad["sender"]["country"] = "gtm"
    elif change == "currency shape":
        bad["payload"]["cash"][0]["currency"] = "usd"
    elif change == "local time":
        bad["issued_at"] = "2026-11-25T04:00:00-06:00"
    return bad


@pytest.mark.parametrize(
    "change",
    [
        "unknown field",
        "lat 91",
        "theme",
        "type",
        "serial and obliterated",
        "cash as float",
        "locode format",
        "cas format",
        "missing id",
        "id not a ULID",
        "country shape",
        "currency shape",
        "local time",
    ],
)
def test_an_invalid_seizure_is_refused_by_the_schema(exported: Path, change: str) -> None:
    schema = validator(exported, "seizure")
    message = new_message("seizure", SENDER, theme="narcotics")
    assert schema.is_valid(message)
    assert not schema.is_valid(_bad(message, change))


def test_reply_schemas_require_in_reply_to(exported: Path) -> None:
    for type_ in REGISTRY.reply_types:
        message = new_message(type_, SENDER, theme="gangs")
        del message["in_reply_to"]
        assert not validator(exported, type_).is_valid(message)


def test_cap_enums_are_in_the_disaster_alert_schema(exported: Path) -> None:
    schema = validator(exported, "disaster_alert")
    message = new_message("disaster_alert", SENDER)
    message["payload"]["urgency"] = "Soon"
    assert not schema.is_valid(message)


def load_asyncapi(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe").load(directory / ASYNCAPI_FILE)
    return document


def test_asyncapi_channels_cover_every_type_and_subject(exported: Path) -> None:
    document = load_asyncapi(exported)
    assert document["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in document["channels"].values()}
    for type_ in REGISTRY.types():
        assert f"enlace.in.{{country}}.{{theme}}.{type_}" in addresses
        assert f"enlace.out.{{recipient}}.{{theme}}.{type_}" in addresses
    assert "enlace.rejected.{country}" in addresses
    assert "enlace.receipt.{country}" in addresses
    assert "enlace.outcome.{country}.{message_id}" in addresses
    for what in ("checkpoint", "cosigned", "refused"):  # every party a witness
        assert f"enlace.witness.{{country}}.{what}" in addresses


def test_asyncapi_references_resolve(exported: Path) -> None:
    document = load_asyncapi(exported)
    schemas = document["components"]["schemas"]
    for channel in document["channels"].values():
        named = set(re.findall(r"{(\w+)}", channel["address"]))
        assert named == set(channel["parameters"])
        for ref in channel["messages"].values():
            name = ref["$ref"].removeprefix("#/components/messages/")
            message = document["components"]["messages"][name]
            refs = [part.get("$ref") for part in (message["payload"], message.get("headers", {}))]
            refs = [r for r in refs if r]
            for target in refs:
                if target.startswith("#/components/schemas/"):
                    assert target.removeprefix("#/components/schemas/") in schemas
                else:
                    assert (exported / target).is_file()
    for operation in document["operations"].values():
        assert operation["action"] in ("send", "receive")
        assert operation["channel"]["$ref"].removeprefix("#/channels/") in document["channels"]


def test_asyncapi_parameters_and_signature_header(exported: Path) -> None:
    document = load_asyncapi(exported)
    ingress = document["channels"]["in_disaster_alert"]["parameters"]
    assert ingress["country"]["enum"] == list(PARTIES)
    assert ingress["theme"]["enum"] == ["natural_disasters"]
    headers = document["components"]["schemas"]["senderHeaders"]
    assert HDR_SIGNATURE in headers["required"]


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_schema_examples_are_valid_messages(exported: Path, type_: str) -> None:
    schema = validator(exported, type_)
    assert isinstance(schema.schema, dict)
    for example in schema.schema["examples"]:
        assert schema.is_valid(example)
        assert parse_message(json.dumps(example).encode()).type == type_


def test_export_is_reproducible(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in export_schemas(tmp_path / "a")]
    second = [p.read_bytes() for p in export_schemas(tmp_path / "b")]
    assert first == second


def test_corrections_and_retractions_are_in_the_export(exported: Path) -> None:
    message = new_message("gang_movement", SENDER, theme="gangs")
    fix = {**message, "corrects": message["id"]}
    assert validator(exported, "gang_movement").is_valid(fix)
    assert not validator(exported, "gang_movement").is_valid({**message, "corrects": "x y"})
    withdraw = new_message(
        "retraction",
        SENDER,
        theme="gangs",
        payload={"original_id": message["id"], "reason": "legal"},
    )
    retraction = validator(exported, "retraction")
    assert retraction.is_valid(withdraw)
    assert not retraction.is_valid({**withdraw, "payload": {"original_id": message["id"]}})
    document = load_asyncapi(exported)
    assert "out_retraction" in document["channels"]
    delivery = document["components"]["schemas"]["deliveryHeaders"]["properties"]
    assert {HDR_AMENDMENT, HDR_AMENDS, HDR_ORIGINAL_ID, HDR_VERSION} <= set(delivery)
