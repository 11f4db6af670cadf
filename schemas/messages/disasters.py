"""Natural disasters theme: alerts with the fields of the Common Alerting Protocol (CAP 1.2).

Field names are CAP's own element names (``areaDesc``, ``senderName``, ``valueName`` …) so
that an alert maps one to one to and from a CAP 1.2 ``<info>`` block, and ``polygon`` /
``circle`` keep CAP's text forms: ``"lat,lon lat,lon …"`` (a closed ring of at least four
WGS84 points) and ``"lat,lon radius"`` (radius in kilometres).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from schemas.common import StrictModel, Theme, WireDatetime
from schemas.messages.base import ShortText, Text
from schemas.messages.spec import MessageSpec

__all__ = ["DISASTER_ALERT_V1", "CapArea", "CapGeocode", "DisasterAlertV1"]

_NUM = r"-?[0-9]{1,3}(?:\.[0-9]+)?"
_POINT = re.compile(rf"^({_NUM}),({_NUM})$")


def _point(text: str) -> tuple[float, float]:
    match = _POINT.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a CAP point 'lat,lon'")
    lat, lon = float(match[1]), float(match[2])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"point {text!r} is outside WGS84 (lat -90..90, lon -180..180)")
    return lat, lon


def _polygon(text: str) -> str:
    points = [_point(p) for p in text.split(" ")]
    if len(points) < 4:
        raise ValueError("a CAP polygon has at least four points")
    if points[0] != points[-1]:
        raise ValueError("a CAP polygon is closed: its first and last points are the same")
    return text


def _circle(text: str) -> str:
    center, _, radius = text.partition(" ")
    _point(center)
    if not re.fullmatch(r"[0-9]{1,5}(?:\.[0-9]+)?", radius):
        raise ValueError(f"{text!r} is not a CAP circle 'lat,lon radius_km'")
    return text


CapPolygon = Annotated[str, Field(max_length=20_000), AfterValidator(_polygon)]
CapCircle = Annotated[str, Field(max_length=100), AfterValidator(_circle)]


class CapGeocode(StrictModel):
    model_config = ConfigDict(serialize_by_alias=True)  # dump CAP's names, as validated
    value_name: str = Field(alias="valueName", min_length=1, max_length=100)
    value: str = Field(min_length=1, max_length=100)


class CapArea(StrictModel):
    """A CAP ``<area>``: a description and at least one polygon, circle or geocode."""

    model_config = ConfigDict(serialize_by_alias=True)  # dump CAP's names, as validated

    area_desc: Text = Field(alias="areaDesc")
    polygon: list[CapPolygon] = Field(default_factory=list, max_length=50)
    circle: list[CapCircle] = Field(default_factory=list, max_length=50)
    geocode: list[CapGeocode] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _located(self) -> CapArea:
        if not (self.polygon or self.circle or self.geocode):
            raise ValueError("an area has at least one polygon, circle or geocode")
        return self


Category = Literal[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
]


class DisasterAlertV1(StrictModel):
    """Disaster alert: a CAP 1.2 alert (status, msgType and one info block with its areas)."""

    model_config = ConfigDict(serialize_by_alias=True)  # dump CAP's names, as validated

    status: Literal["Actual", "Exercise", "System", "Test", "Draft"]
    msg_type: Literal["Alert", "Update", "Cancel"] = Field(alias="msgType")
    category: list[Category] = Field(min_length=1, max_length=12)
    event: ShortText
    urgency: Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
    severity: Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
    certainty: Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
    onset: WireDatetime | None = None
    expires: WireDatetime | None = None
    sender_name: ShortText | None = Field(default=None, alias="senderName")
    headline: ShortText | None = None
    description: Text | None = None
    instruction: Text | None = None
    web: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    area: list[CapArea] = Field(min_length=1, max_length=50)


DISASTER_ALERT_V1 = MessageSpec(
    type="disaster_alert",
    version=1,
    model=DisasterAlertV1,
    themes=(Theme.NATURAL_DISASTERS,),
    example={
        "status": "Actual",
        "msgType": "Alert",
        "category": ["Met"],
        "event": "Hurricane",
        "urgency": "Expected",
        "severity": "Extreme",
        "certainty": "Likely",
        "onset": "2026-11-26T06:00:00Z",
        "expires": "2026-11-28T00:00:00Z",
        "senderName": "COPECO Honduras",
        "headline": "Hurricane warning for the Caribbean coast of Honduras",
        "description": "Category 4 hurricane expected to make landfall near Trujillo.",
        "instruction": "Evacuate low-lying coastal areas; follow COPECO instructions.",
        "area": [
            {
                "areaDesc": "Atlántida, Colón and Gracias a Dios coast",
                "polygon": ["15.9,-87.9 16.1,-85.9 15.3,-83.2 15.0,-84.0 15.6,-87.8 15.9,-87.9"],
                "geocode": [
                    {"valueName": "ISO3166-2", "value": "HN-AT"},
                    {"valueName": "ISO3166-2", "value": "HN-CL"},
                ],
            },
            {"areaDesc": "Bay Islands", "circle": ["16.33,-86.53 60"]},
        ],
    },
)
