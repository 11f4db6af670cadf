"""Payload models: templates are valid, the standards are enforced, parse_message's reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.envelope import Sender
from schemas.errors import (
    DuplicateKey,
    InvalidEnvelope,
    MalformedJson,
    MessageError,
    MessageTooLarge,
    SchemaInvalid,
    ThemeNotAllowed,
    UnknownMessageType,
)
from schemas.message import Message, new_message, parse_message
from schemas.messages.base import cas_check_digit
from schemas.messages.seizures import SeizureV1
from schemas.registry import REGISTRY

SENDER = Sender(country="GT", agency="PNC", poc="gt-narcotics")
MISSING = object()


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode()


def with_change(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``path`` set to ``value`` (MISSING deletes it)."""
    copy: dict[str, Any] = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node: Any = copy
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is MISSING:
        del node[last]
    else:
        node[last] = value
    return copy


def message_of(type_: str, **fields: Any) -> dict[str, Any]:
    return new_message(type_, SENDER, **fields)


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_every_template_is_a_valid_message(type_: str) -> None:
    message = message_of(type_)
    parsed = parse_message(encode(message))
    assert isinstance(parsed, Message)
    assert parsed.type == type_
    assert isinstance(parsed.payload, REGISTRY.model(type_, 1))
    assert parsed.raw == encode(message)


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_every_type_travels_under_each_of_its_themes(type_: str) -> None:
    for theme in REGISTRY.themes_for(type_, 1):
        assert parse_message(encode(message_of(type_, theme=theme))).envelope.theme == theme


def test_seizure_template_uses_the_standards() -> None:
    seizure = parse_message(encode(message_of("seizure"))).payload
    assert isinstance(seizure, SeizureV1)
    assert {p.cas for p in seizure.precursors} == {"7664-93-9", "90-82-4"}
    assert seizure.cash[0].currency == "USD"
    assert seizure.cash[0].amount == "184350.00"  # decimal string, never a float
    assert seizure.location.locode == "GTPRQ"


def test_cas_check_digit_of_known_chemicals() -> None:
    assert cas_check_digit("766493") == 9  # sulfuric acid 7664-93-9
    assert cas_check_digit("9082") == 4  # pseudoephedrine 90-82-4
    assert cas_check_digit("6764") == 1  # acetone 67-64-1


# (type, payload path, bad value, the field the error names)
BAD_PAYLOADS: list[tuple[str, str, Any, str]] = [
    ("seizure", "precursors.0.cas", "7664-93-8", "payload.precursors.0.cas"),
    ("seizure", "precursors.0.cas", "7664939", "payload.precursors.0.cas"),
    ("seizure", "precursors.1.quantity.unit", "lb", "payload.precursors.1.quantity.unit"),
    ("seizure", "precursors.1.quantity.value", -1, "payload.precursors.1.quantity.value"),
    ("seizure", "cash.0.currency", "XYZ", "payload.cash.0.currency"),
    ("seizure", "cash.0.currency", "usd", "payload.cash.0.currency"),
    ("seizure", "cash.0.amount", 184350.0, "payload.cash.0.amount"),
    ("seizure", "cash.0.amount", "1.2345", "payload.cash.0.amount"),
    ("seizure", "location.lat", 91, "payload.location.lat"),
    ("seizure", "location.lon", -180.5, "payload.location.lon"),
    ("seizure", "location.locode", "GTPR1", "payload.location.locode"),
    ("seizure", "location.locode", "GT PRQ", "payload.location.locode"),
    ("seizure", "location.locode", "XXPRQ", "payload.location.locode"),
    ("seizure", "firearms.0.caliber", "", "payload.firearms.0.caliber"),
    ("seizure", "firearms.0.serial_number", "ABC123", "payload.firearms.0"),
    ("seizure", "firearms.0.obliterated_serial", False, "payload.firearms.0"),
    ("seizure", "firearms.0.type", "bazooka", "payload.firearms.0.type"),
    (
        "seizure",
        "firearms.0.country_of_manufacture",
        "ZZ",
        "payload.firearms.0.country_of_manufacture",
    ),
    ("seizure", "drugs.0.substance", "chocolate", "payload.drugs.0.substance"),
    ("seizure", "conveyances.1.imo", "9155807", "payload.conveyances.1.imo"),
    ("seizure", "conveyances.0.kind", "bicycle", "payload.conveyances.0"),
    ("seizure", "persons.0.nationality", "GTM", "payload.persons.0.nationality"),
    ("seizure", "persons.0.role", "bystander", "payload.persons.0.role"),
    ("seizure", "persons.0.date_of_birth", "30/07/1985", "payload.persons.0.date_of_birth"),
    ("seizure", "surprise", 1, "payload.surprise"),
    ("seizure", "seized_at", "2026-11-24T06:30:00", "payload.seized_at"),
    ("seizure", "location.lat", "13.9", "payload.location.lat"),
    ("seizure", "drugs.0.mass_kg", "412.5", "payload.drugs.0.mass_kg"),
    ("seizure", "ammunition.0.rounds", 240.0, "payload.ammunition.0.rounds"),
    ("seizure", "firearms.0.obliterated_serial", "yes", "payload.firearms.0.obliterated_serial"),
    ("gang_movement", "armed", 1, "payload.armed"),
    ("gang_movement", "movement", "teleport", "payload.movement"),
    ("gang_movement", "destination.locode", "GTGUA", "payload.destination"),
    ("gang_movement", "location", MISSING, "payload.location"),
    ("firearm_trace_request", "firearm.serial_number", None, "payload.firearm"),
    ("firearm_trace_request", "trace_country", "USA", "payload.trace_country"),
    ("firearm_trace_result", "first_retail_sale", None, "payload"),
    ("border_alert", "conveyances", [], "payload"),
    ("border_alert", "alert_type", "wanted_person_of_interest", "payload.alert_type"),
    ("trafficking_case", "minors_count", 7, "payload"),
    ("trafficking_case", "exploitation", [], "payload.exploitation"),
    ("disaster_alert", "urgency", "Soon", "payload.urgency"),
    ("disaster_alert", "severity", "severe", "payload.severity"),
    ("disaster_alert", "certainty", "Certain", "payload.certainty"),
    (
        "disaster_alert",
        "area.0.polygon.0",
        "15.9,-87.9 16.1,-85.9 15.3,-83.2",
        "payload.area.0.polygon.0",
    ),
    (
        "disaster_alert",
        "area.0.polygon.0",
        "95,-87.9 16.1,-85.9 15.3,-83.2 95,-87.9",
        "payload.area.0.polygon.0",
    ),
    ("disaster_alert", "area.1.circle.0", "16.33,-86.53", "payload.area.1.circle.0"),
    ("disaster_alert", "area.1", {"areaDesc": "Bay Islands"}, "payload.area.1"),
    ("cbrn_interdiction", "materials.0.cas", None, "payload.materials.0"),
    ("cbrn_interdiction", "materials.0.cas", "111-48-9", "payload.materials.0.cas"),
    ("cbrn_interdiction", "materials.0.un_number", "1830", "payload.materials.0.un_number"),
    ("cbrn_interdiction", "materials", [], "payload.materials"),
    ("information_request", "questions", [], "payload.questions"),
    ("information_response", "status", "declined", "payload"),
    # No coercion and ASCII digits only: what the exported JSON Schema refuses.
    ("seizure", "seized_at", 1764052200, "payload.seized_at"),
    ("seizure", "seized_at", "1764052200", "payload.seized_at"),
    ("seizure", "seized_at", "2026-11-24 06:30:00Z", "payload.seized_at"),
    ("seizure", "persons.0.date_of_birth", 491529600, "payload.persons.0.date_of_birth"),
    (
        "seizure",
        "persons.0.date_of_birth",
        "1985-07-30T00:00:00Z",
        "payload.persons.0.date_of_birth",
    ),
    ("seizure", "ammunition.0.rounds", "240", "payload.ammunition.0.rounds"),
    ("seizure", "drugs.0.packages", True, "payload.drugs.0.packages"),
    ("seizure", "precursors.0.cas", "٧٦٦٤-٩٣-٩", "payload.precursors.0.cas"),
    ("seizure", "conveyances.1.imo", "٩١٥٥٨٠٨", "payload.conveyances.1.imo"),
    ("seizure", "conveyances.1.mmsi", "١٢٣٤٥٦٧٨٩", "payload.conveyances.1.mmsi"),
    ("seizure", "cash.0.amount", "١٨٤٣٥٠", "payload.cash.0.amount"),
    ("trafficking_case", "opened_on", "2026-10-02T00:00:00Z", "payload.opened_on"),
    ("trafficking_case", "victims_count", "6", "payload.victims_count"),
    ("firearm_trace_request", "urgent", "true", "payload.urgent"),
    (
        "firearm_trace_result",
        "first_retail_sale.sold_on",
        1717286400,
        "payload.first_retail_sale.sold_on",
    ),
    ("disaster_alert", "area.1.circle.0", "16.33,-86.53 ٦٠", "payload.area.1.circle.0"),
    ("information_request", "respond_by", 1764892800, "payload.respond_by"),
]


@pytest.mark.parametrize(("type_", "path", "value", "field"), BAD_PAYLOADS)
def test_the_standards_are_enforced_and_the_field_named(
    type_: str, path: str, value: Any, field: str
) -> None:
    message = message_of(type_)
    bad = with_change(message, f"payload.{path}", value)
    with pytest.raises(SchemaInvalid) as info:
        parse_message(encode(bad))
    assert info.value.code == "schema_invalid"
    assert info.value.field is not None
    assert info.value.field == field, info.value.description
    assert message["id"] in info.value.description


def test_area_desc_key_missing_is_named() -> None:
    bad = with_change(message_of("disaster_alert"), "payload.area.0.area_desc", "x")
    with pytest.raises(SchemaInvalid) as info:
        parse_message(encode(bad))
    # The extra snake_case key or the missing CAP key: either way the area is named.
    assert info.value.field is not None and info.value.field.startswith("payload.area.0")


def test_obliterated_serial_without_serial_is_valid() -> None:
    message = message_of("seizure")
    firearm = message["payload"]["firearms"][0]
    assert firearm["obliterated_serial"] is True and "serial_number" not in firearm
    parse_message(encode(message))


def test_ok_values_near_the_limits() -> None:
    message = with_change(message_of("seizure"), "payload.location.lat", -90)
    message = with_change(message, "payload.location.lon", 180)
    message = with_change(message, "payload.cash.0", {"currency": "HNL", "amount": "0"})
    message = with_change(message, "payload.precursors.0.cas", "50-00-0")  # formaldehyde
    parse_message(encode(message))


def test_seizure_must_seize_something() -> None:
    message = message_of("seizure")
    for key in ("drugs", "precursors", "firearms", "ammunition", "cash", "conveyances"):
        message = with_change(message, f"payload.{key}", [])
    with pytest.raises(SchemaInvalid, match="at least one of drugs"):
        parse_message(encode(message))


# -- every reason code parse_message raises -----------------------------------------------


def test_reason_too_large() -> None:
    raw = encode(message_of("seizure"))
    with pytest.raises(MessageTooLarge) as info:
        parse_message(raw, max_bytes=len(raw) - 1)
    assert info.value.code == "too_large"
    assert parse_message(raw, max_bytes=len(raw)).raw == raw


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b'{"a": NaN}', b"", "text".encode("utf-16")])
def test_reason_malformed_json(raw: bytes) -> None:
    with pytest.raises(MalformedJson) as info:
        parse_message(raw)
    assert info.value.code == "malformed_json"


def test_a_str_is_not_bytes() -> None:
    with pytest.raises(MalformedJson):
        parse_message(encode(message_of("seizure")).decode())  # type: ignore[arg-type]  # on purpose


@pytest.mark.parametrize(
    ("key", "path"),
    [("id", "id"), ("handling", "handling"), ("mass_kg", "payload.drugs.0.mass_kg")],
)
def test_reason_duplicate_key(key: str, path: str) -> None:
    raw = encode(message_of("seizure"))
    text = raw.decode()
    at = text.index(f'"{key}": ')
    repeated = text[:at] + f'"{key}": 1, ' + text[at:]  # the original value comes last
    with pytest.raises(DuplicateKey) as info:
        parse_message(repeated.encode())
    assert info.value.code == "duplicate_key"
    assert info.value.path == path


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sender": {"country": "GT", "agency": "PNC"}}, "sender.poc"),
        ({"theme": "piracy"}, "theme"),
        ({"payload": []}, "payload"),
        ({"version": 0}, "version"),
    ],
)
def test_reason_invalid_envelope(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEnvelope) as info:
        parse_message(encode({**message_of("seizure"), **changes}))
    assert info.value.code == "invalid_envelope"
    assert info.value.field == field


def test_a_json_array_is_an_invalid_envelope() -> None:
    with pytest.raises(InvalidEnvelope):
        parse_message(b"[1, 2]")


@pytest.mark.parametrize(("type_", "version"), [("piracy_report", 1), ("seizure", 2)])
def test_reason_unknown_type(type_: str, version: int) -> None:
    message = {**message_of("seizure"), "type": type_, "version": version}
    with pytest.raises(UnknownMessageType) as info:
        parse_message(encode(message))
    assert info.value.code == "unknown_type"
    assert "seizure v1" in info.value.description  # names what is known


def test_reason_theme_not_allowed() -> None:
    message = {**message_of("seizure"), "theme": "natural_disasters"}
    with pytest.raises(ThemeNotAllowed) as info:
        parse_message(encode(message))
    assert info.value.code == "theme_not_allowed"
    assert "narcotics" in info.value.allowed


@pytest.mark.parametrize("type_", sorted(REGISTRY.reply_types))
def test_reason_schema_invalid_for_a_reply_without_in_reply_to(type_: str) -> None:
    message = message_of(type_)
    del message["in_reply_to"]
    with pytest.raises(SchemaInvalid) as info:
        parse_message(encode(message))
    assert info.value.field == "in_reply_to"


def test_reason_codes_are_all_message_errors() -> None:
    codes = set()
    for raw in (b"x" * 10, b"{", b"{}"):
        with pytest.raises(MessageError) as info:
            parse_message(raw, max_bytes=5 if raw == b"x" * 10 else 100)
        codes.add(info.value.code)
    assert codes == {"too_large", "malformed_json", "invalid_envelope"}


# -- new_message --------------------------------------------------------------------------


def test_new_message_is_fresh_and_overridable() -> None:
    first, second = message_of("seizure"), message_of("seizure")
    assert first["id"] != second["id"]
    assert first["issued_at"].endswith("Z")
    message = new_message(
        "seizure",
        SENDER,
        theme="border_security",
        handling="amber",
        to=["US", "HN"],
        evaluation={"reliability": "B", "credibility": 2},
    )
    envelope = parse_message(encode(message)).envelope
    assert (envelope.theme, envelope.handling, envelope.to) == (
        "border_security",
        "amber",
        ["US", "HN"],
    )


def test_new_message_refuses_what_would_be_invalid() -> None:
    with pytest.raises(ThemeNotAllowed):
        new_message("disaster_alert", SENDER, theme="gangs")
    with pytest.raises(UnknownMessageType):
        new_message("piracy_report", SENDER)
    with pytest.raises(InvalidEnvelope):
        new_message("seizure", SENDER, handling="black")
    with pytest.raises(SchemaInvalid):
        new_message("seizure", SENDER, payload={"case_reference": "x"})


def test_new_message_reply_takes_the_request_id() -> None:
    request = message_of("information_request")
    reply = new_message("information_response", SENDER, in_reply_to=request["id"])
    assert parse_message(encode(reply)).envelope.in_reply_to == request["id"]
