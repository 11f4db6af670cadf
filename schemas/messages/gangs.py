"""Gangs theme: movements of gang members (maras, pandillas) within and across borders."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import StrictModel, Theme, WireDatetime
from schemas.messages.base import Conveyance, Location, Person, Place, ShortText, Text
from schemas.messages.spec import MessageSpec

__all__ = ["GANG_MOVEMENT_V1", "Gang", "GangMovementV1"]


class Gang(StrictModel):
    name: ShortText
    clique: ShortText | None = Field(default=None, description="local cell (clica, programa)")
    aliases: list[ShortText] = Field(default_factory=list, max_length=20)


class GangMovementV1(StrictModel):
    """Gang movement: members of a gang seen moving, with where from, where to and who."""

    gang: Gang
    observed_at: WireDatetime
    movement: Literal["entering", "leaving", "transit", "internal"]
    location: Location
    origin: Place | None = None
    destination: Place | None = None
    group_size: int | None = Field(default=None, strict=True, ge=1, le=10_000)
    armed: bool | None = Field(default=None, strict=True)
    persons: list[Person] = Field(default_factory=list, max_length=500)
    conveyances: list[Conveyance] = Field(default_factory=list, max_length=100)
    summary: Text


GANG_MOVEMENT_V1 = MessageSpec(
    type="gang_movement",
    version=1,
    model=GangMovementV1,
    themes=(Theme.GANGS, Theme.ORGANIZED_CRIME),
    example={
        "gang": {"name": "Barrio 18", "clique": "Revolucionarios", "aliases": ["B-18"]},
        "observed_at": "2026-11-24T22:15:00Z",
        "movement": "leaving",
        "location": {
            "lat": 14.6349,
            "lon": -90.5069,
            "locode": "GTGUA",
            "description": "bus terminal, zona 4",
        },
        "origin": {"country": "GT", "locode": "GTGUA"},
        "destination": {"country": "MX", "description": "Tapachula, Chiapas"},
        "group_size": 4,
        "armed": True,
        "persons": [
            {
                "name": "José Antonio Pérez López",
                "role": "leader",
                "date_of_birth": "1991-03-14",
                "nationality": "GT",
                "sex": "male",
                "aliases": ["El Flaco"],
            }
        ],
        "conveyances": [
            {"kind": "vehicle", "plate": "P-123ABC", "plate_country": "GT", "make": "Toyota"}
        ],
        "summary": "Four members of the Revolucionarios clique left by road towards the "
        "Mexican border after a search of their neighbourhood.",
    },
)
