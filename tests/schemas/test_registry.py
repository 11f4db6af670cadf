"""The registry of message types: lookups, themes, replies, templates."""

from __future__ import annotations

import pytest

from schemas.common import THEMES
from schemas.errors import UnknownMessageType
from schemas.messages import ALL_SPECS
from schemas.messages.base import Location, Person
from schemas.messages.seizures import SeizureV1
from schemas.registry import REGISTRY, MessageRegistry

REQUIRED_TYPES = {
    "gang_movement",
    "firearm_trace_request",
    "firearm_trace_result",
    "seizure",
    "border_alert",
    "trafficking_case",
    "disaster_alert",
    "cbrn_interdiction",
    "information_request",
    "information_response",
}


def test_every_required_type_is_registered_at_version_1() -> None:
    assert set(REGISTRY.types()) >= REQUIRED_TYPES
    for type_ in REQUIRED_TYPES:
        assert (type_, 1) in REGISTRY
        assert REGISTRY.latest(type_) == 1


def test_model_lookup() -> None:
    assert REGISTRY.model("seizure", 1) is SeizureV1


@pytest.mark.parametrize(("type_", "version"), [("seizure", 2), ("nope", 1), ("Seizure", 1)])
def test_unknown_pair_names_what_is_known(type_: str, version: int) -> None:
    with pytest.raises(UnknownMessageType) as info:
        REGISTRY.model(type_, version)
    assert info.value.code == "unknown_type"
    assert "gang_movement v1" in info.value.known
    assert "seizure v1" in str(info.value)


def test_latest_of_an_unknown_type() -> None:
    with pytest.raises(UnknownMessageType):
        REGISTRY.latest("nope")


@pytest.mark.parametrize(
    ("type_", "themes"),
    [
        ("gang_movement", {"gangs", "organized_crime"}),
        (
            "seizure",
            {"narcotics", "small_arms", "organized_crime", "border_security", "terrorism"},
        ),
        ("cbrn_interdiction", {"terrorism", "border_security"}),
        ("disaster_alert", {"natural_disasters"}),
        ("trafficking_case", {"trafficking_in_persons", "organized_crime"}),
        ("information_request", set(THEMES)),
        ("information_response", set(THEMES)),
        ("firearm_trace_request", {"small_arms", "organized_crime", "gangs", "terrorism"}),
        ("firearm_trace_result", {"small_arms", "organized_crime", "gangs", "terrorism"}),
    ],
)
def test_themes_for(type_: str, themes: set[str]) -> None:
    assert set(REGISTRY.themes_for(type_, 1)) == themes


def test_border_alert_travels_under_border_security() -> None:
    assert "border_security" in REGISTRY.themes_for("border_alert", 1)


def test_reply_types() -> None:
    assert REGISTRY.reply_types == {"information_response", "firearm_trace_result"}
    assert REGISTRY.is_reply("firearm_trace_result", 1)
    assert not REGISTRY.is_reply("firearm_trace_request", 1)


def test_template_is_a_fresh_valid_copy() -> None:
    first = REGISTRY.template("seizure")
    first["drugs"].clear()
    second = REGISTRY.template("seizure", 1)
    assert second["drugs"], "changing one template must not change the next"
    SeizureV1.model_validate(second)


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_every_template_validates_against_its_model(type_: str) -> None:
    REGISTRY.model(type_, 1).model_validate(REGISTRY.template(type_))


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_persons_and_location_are_named_alike(type_: str) -> None:
    """Redactions address ``payload.persons`` and ``payload.location.lat/lon`` in every type."""
    fields = REGISTRY.model(type_, 1).model_fields
    # A CAP alert names areas, not people; a retraction names only the message withdrawn.
    if type_ not in ("disaster_alert", "retraction"):
        assert fields["persons"].annotation == list[Person]
    if "location" in fields:
        assert fields["location"].annotation in (Location, Location | None)


def test_a_type_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        MessageRegistry([*ALL_SPECS, ALL_SPECS[0]])


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_a_validated_payload_dumps_to_a_valid_payload(type_: str) -> None:
    model = REGISTRY.model(type_, 1)
    payload = model.model_validate(REGISTRY.template(type_))
    assert model.model_validate(payload.model_dump(mode="json")) == payload


@pytest.mark.parametrize("type_", REGISTRY.types())
def test_a_redacted_template_is_still_valid(type_: str) -> None:
    """Sharing-agreement views drop payload.persons and round payload.location.lat/lon."""
    payload = REGISTRY.template(type_)
    payload.pop("persons", None)
    if isinstance(payload.get("location"), dict):
        payload["location"].pop("description", None)
        for axis in ("lat", "lon"):
            payload["location"][axis] = round(payload["location"][axis], 1)
    REGISTRY.model(type_, 1).model_validate(payload)
