"""Terrorism / WMD (UNSCR 1540): interdictions of chemical, biological, radiological, nuclear."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.common import CountryCode, StrictModel, Theme, WireDatetime
from schemas.messages.base import (
    CasNumber,
    Conveyance,
    Location,
    Person,
    Quantity,
    ShortText,
    Text,
)
from schemas.messages.spec import MessageSpec

__all__ = ["CBRN_INTERDICTION_V1", "CbrnInterdictionV1", "CbrnMaterial", "Shipment"]


class CbrnMaterial(StrictModel):
    """A controlled material: chemicals by CAS number, radioactive sources by nuclide."""

    category: Literal["chemical", "biological", "radiological", "nuclear"]
    name: ShortText
    cas: CasNumber | None = None
    un_number: str | None = Field(default=None, pattern=r"^UN[0-9]{4}$", examples=["UN1830"])
    control_list_entry: str | None = Field(
        default=None, max_length=40, description="e.g. Australia Group / Wassenaar entry"
    )
    nuclide: str | None = Field(default=None, pattern=r"^[A-Z][a-z]?-[0-9]{1,3}m?$")
    activity_bq: float | None = Field(default=None, strict=True, ge=0, le=1e22, allow_inf_nan=False)
    quantity: Quantity

    @model_validator(mode="after")
    def _identified(self) -> CbrnMaterial:
        if self.category == "chemical" and self.cas is None:
            raise ValueError("a chemical is identified by its CAS number (cas)")
        if self.category == "radiological" and self.nuclide is None:
            raise ValueError("a radiological source names its nuclide (e.g. Cs-137)")
        return self


class Shipment(StrictModel):
    declared_as: ShortText | None = None
    consignor: ShortText | None = None
    consignee: ShortText | None = None
    origin_country: CountryCode | None = None
    destination_country: CountryCode | None = None


class CbrnInterdictionV1(StrictModel):
    """CBRN interdiction: controlled materials stopped at a border, port or in transit."""

    case_reference: ShortText
    interdicted_at: WireDatetime
    location: Location
    materials: list[CbrnMaterial] = Field(min_length=1, max_length=100)
    shipment: Shipment | None = None
    conveyances: list[Conveyance] = Field(default_factory=list, max_length=50)
    persons: list[Person] = Field(default_factory=list, max_length=100)
    status: Literal["detained", "released", "under_investigation", "returned", "destroyed"]
    summary: Text


CBRN_INTERDICTION_V1 = MessageSpec(
    type="cbrn_interdiction",
    version=1,
    model=CbrnInterdictionV1,
    themes=(Theme.TERRORISM, Theme.BORDER_SECURITY),
    example={
        "case_reference": "PA-ANA-2026-2210",
        "interdicted_at": "2026-11-22T14:05:00Z",
        "location": {
            "lat": 9.3547,
            "lon": -79.8817,
            "locode": "PAMIT",
            "description": "Manzanillo International Terminal, Colón",
        },
        "materials": [
            {
                "category": "chemical",
                "name": "thiodiglycol",
                "cas": "111-48-8",
                "control_list_entry": "Australia Group CW precursor 11",
                "quantity": {"value": 1200, "unit": "kg"},
            }
        ],
        "shipment": {
            "declared_as": "textile dye auxiliaries",
            "consignee": "Importadora Ejemplo S.A.",
            "origin_country": "CN",
            "destination_country": "VE",
        },
        "conveyances": [{"kind": "vessel", "name": "MSC ALMA", "imo": "9155808", "flag": "PA"}],
        "status": "detained",
        "summary": "Undeclared Schedule 2 chemical found in transshipment container.",
    },
)
