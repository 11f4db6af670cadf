"""Trafficking in persons theme: cases (Palermo Protocol forms of exploitation)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.common import StrictModel, Theme, WireDate
from schemas.messages.base import Location, Person, Place, ShortText, Text
from schemas.messages.spec import MessageSpec

__all__ = ["TRAFFICKING_CASE_V1", "TraffickingCaseV1"]

Exploitation = Literal[
    "sexual",
    "forced_labour",
    "servitude",
    "forced_criminality",
    "begging",
    "organ_removal",
    "forced_marriage",
    "illegal_adoption",
    "other",
]


class TraffickingCaseV1(StrictModel):
    """Trafficking case: victims, suspects and the route of a trafficking in persons case."""

    case_reference: ShortText
    opened_on: WireDate
    status: Literal["open", "under_investigation", "prosecuted", "closed"]
    exploitation: list[Exploitation] = Field(min_length=1, max_length=9)
    victims_count: int = Field(strict=True, ge=0, le=100_000)
    minors_count: int = Field(default=0, strict=True, ge=0, le=100_000)
    route: list[Place] = Field(
        default_factory=list, max_length=20, description="origin, transit, destination in order"
    )
    location: Location | None = None
    persons: list[Person] = Field(default_factory=list, max_length=500)
    summary: Text

    @model_validator(mode="after")
    def _minors_among_victims(self) -> TraffickingCaseV1:
        if self.minors_count > self.victims_count:
            raise ValueError("minors_count cannot exceed victims_count")
        return self


TRAFFICKING_CASE_V1 = MessageSpec(
    type="trafficking_case",
    version=1,
    model=TraffickingCaseV1,
    themes=(Theme.TRAFFICKING_IN_PERSONS, Theme.ORGANIZED_CRIME),
    example={
        "case_reference": "SV-FGR-UTP-2026-077",
        "opened_on": "2026-10-02",
        "status": "under_investigation",
        "exploitation": ["sexual", "forced_labour"],
        "victims_count": 6,
        "minors_count": 2,
        "route": [
            {"country": "SV", "locode": "SVSAL"},
            {"country": "GT", "description": "Tecún Umán"},
            {"country": "MX", "description": "Tapachula"},
        ],
        "location": {"lat": 13.6929, "lon": -89.2182, "description": "safe house, San Salvador"},
        "persons": [
            {"name": "Ana Lucía Romero", "role": "suspect", "nationality": "SV", "sex": "female"},
            {"name": "Victim 1 (minor)", "role": "victim", "nationality": "SV"},
        ],
        "summary": "Recruitment through false job offers; victims moved overland to Mexico.",
    },
)
