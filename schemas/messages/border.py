"""Border security theme: alerts to border posts about people, conveyances and routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.common import StrictModel, Theme, WireDatetime
from schemas.messages.base import Conveyance, Location, Person, Place, ShortText, Text
from schemas.messages.spec import MessageSpec

__all__ = ["BORDER_ALERT_V1", "BorderAlertV1"]


class BorderAlertV1(StrictModel):
    """Border alert: a person, conveyance or route that border posts should look out for."""

    alert_type: Literal[
        "wanted_person",
        "suspect_vehicle",
        "suspect_vessel",
        "suspect_aircraft",
        "document_fraud",
        "smuggling_route",
        "other",
    ]
    action_requested: Literal["monitor", "inspect", "report", "detain", "deny_entry"]
    valid_until: WireDatetime | None = None
    crossing_points: list[Place] = Field(default_factory=list, max_length=50)
    location: Location | None = None
    persons: list[Person] = Field(default_factory=list, max_length=100)
    conveyances: list[Conveyance] = Field(default_factory=list, max_length=50)
    reference: ShortText | None = None
    summary: Text

    @model_validator(mode="after")
    def _names_a_target(self) -> BorderAlertV1:
        # No such rule for wanted_person and persons: redactions drop payload.persons, and a
        # redacted view must still be a valid message.
        if self.alert_type.startswith("suspect_") and not self.conveyances:
            raise ValueError(f"a {self.alert_type} alert lists its conveyances")
        return self


BORDER_ALERT_V1 = MessageSpec(
    type="border_alert",
    version=1,
    model=BorderAlertV1,
    themes=(
        Theme.BORDER_SECURITY,
        Theme.NARCOTICS,
        Theme.SMALL_ARMS,
        Theme.ORGANIZED_CRIME,
        Theme.TRAFFICKING_IN_PERSONS,
        Theme.GANGS,
        Theme.TERRORISM,
    ),
    example={
        "alert_type": "suspect_vehicle",
        "action_requested": "inspect",
        "valid_until": "2026-12-01T00:00:00Z",
        "crossing_points": [
            {"country": "HN", "description": "El Amatillo"},
            {"country": "SV", "description": "El Amatillo (La Unión)"},
        ],
        "location": {"lat": 13.5957, "lon": -87.7558, "description": "last seen, CA-1 km 176"},
        "conveyances": [
            {
                "kind": "vehicle",
                "plate": "HBX 4521",
                "plate_country": "HN",
                "make": "Isuzu",
                "model": "D-Max",
                "colour": "white",
            }
        ],
        "reference": "HN-DPF-ALERTA-2026-118",
        "summary": "Pick-up believed to carry firearms in a hidden compartment under the bed.",
    },
)
