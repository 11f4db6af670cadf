"""Small arms theme: firearm trace requests and results (eTrace-style fields)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.common import CountryCode, StrictModel, Theme, WireDate, WireDatetime
from schemas.messages.base import Firearm, Location, Person, Place, ShortText, Text
from schemas.messages.spec import MessageSpec

__all__ = [
    "FIREARM_TRACE_REQUEST_V1",
    "FIREARM_TRACE_RESULT_V1",
    "FirearmTraceRequestV1",
    "FirearmTraceResultV1",
    "RetailSale",
]

_FIREARM_THEMES = (Theme.SMALL_ARMS, Theme.ORGANIZED_CRIME, Theme.GANGS, Theme.TERRORISM)


class FirearmTraceRequestV1(StrictModel):
    """Firearm trace request: a recovered firearm to trace from maker to first retail sale."""

    case_reference: ShortText
    firearm: Firearm
    recovered_at: WireDatetime
    recovery: Literal["seizure", "crime_scene", "found", "surrendered", "other"]
    location: Location
    trace_country: CountryCode = Field(
        description="country asked to trace (where the firearm was made or imported)"
    )
    crime_code: ShortText | None = None
    persons: list[Person] = Field(default_factory=list, max_length=50)
    urgent: bool = Field(default=False, strict=True)
    notes: Text | None = None


class RetailSale(StrictModel):
    dealer: ShortText
    dealer_licence: ShortText | None = None
    place: Place
    sold_on: WireDate


class FirearmTraceResultV1(StrictModel):
    """Firearm trace result: the answer to a trace request (a reply, carries in_reply_to)."""

    trace_number: ShortText
    status: Literal["completed", "no_record", "not_traceable", "in_progress"]
    firearm: Firearm
    manufactured_in: CountryCode | None = None
    imported_by: ShortText | None = None
    first_retail_sale: RetailSale | None = None
    time_to_crime_days: int | None = Field(default=None, strict=True, ge=0, le=100_000)
    persons: list[Person] = Field(default_factory=list, max_length=50)
    notes: Text | None = None

    @model_validator(mode="after")
    def _sale_when_completed(self) -> FirearmTraceResultV1:
        if self.status == "completed" and self.first_retail_sale is None:
            raise ValueError("a completed trace names its first_retail_sale")
        return self


_GLOCK = {
    "serial_number": "BXKM512",
    "make": "Glock",
    "model": "19 Gen5",
    "type": "pistol",
    "caliber": "9mm",
    "country_of_manufacture": "AT",
    "importer": "Glock Inc., Smyrna GA",
}

FIREARM_TRACE_REQUEST_V1 = MessageSpec(
    type="firearm_trace_request",
    version=1,
    model=FirearmTraceRequestV1,
    themes=_FIREARM_THEMES,
    example={
        "case_reference": "HN-DPI-2026-004512",
        "firearm": _GLOCK,
        "recovered_at": "2026-11-20T03:40:00Z",
        "recovery": "crime_scene",
        "location": {"lat": 15.5042, "lon": -88.025, "description": "Colonia Rivera Hernández"},
        "trace_country": "US",
        "crime_code": "homicide",
        "persons": [
            {"name": "Carlos Mejía Flores", "role": "possessor", "nationality": "HN"},
        ],
        "urgent": True,
    },
)

FIREARM_TRACE_RESULT_V1 = MessageSpec(
    type="firearm_trace_result",
    version=1,
    model=FirearmTraceResultV1,
    themes=_FIREARM_THEMES,
    reply=True,
    example={
        "trace_number": "T20260012345",
        "status": "completed",
        "firearm": _GLOCK,
        "manufactured_in": "AT",
        "imported_by": "Glock Inc., Smyrna GA",
        "first_retail_sale": {
            "dealer": "Gulf Coast Guns LLC",
            "dealer_licence": "5-59-071-01-2K-01234",
            "place": {"country": "US", "locode": "USHOU", "description": "Houston, TX"},
            "sold_on": "2024-06-02",
        },
        "time_to_crime_days": 901,
        "persons": [{"name": "Daniel R. Smith", "role": "purchaser", "nationality": "US"}],
    },
)
