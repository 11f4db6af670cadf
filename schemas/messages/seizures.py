"""Narcotics (and other themes): seizures of drugs, precursors, firearms, cash, conveyances."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.common import StrictModel, Theme, WireDatetime
from schemas.messages.base import (
    Ammunition,
    CashAmount,
    CasNumber,
    Conveyance,
    Firearm,
    Location,
    Person,
    Quantity,
    ShortText,
    Text,
)
from schemas.messages.spec import MessageSpec

__all__ = ["SEIZURE_V1", "DrugSeizure", "PrecursorSeizure", "SeizureV1"]


class DrugSeizure(StrictModel):
    """A drug by substance and net mass in kilograms."""

    substance: Literal[
        "cocaine",
        "cocaine_base",
        "heroin",
        "fentanyl",
        "methamphetamine",
        "cannabis",
        "mdma",
        "other",
    ]
    description: ShortText | None = None
    mass_kg: float = Field(strict=True, ge=0, le=1e9, allow_inf_nan=False)
    packages: int | None = Field(default=None, strict=True, ge=1, le=10_000_000)


class PrecursorSeizure(StrictModel):
    """A precursor chemical identified by its CAS registry number."""

    name: ShortText
    cas: CasNumber
    quantity: Quantity


class SeizureV1(StrictModel):
    """Seizure: drugs, precursors, firearms, ammunition, cash and conveyances taken in one act."""

    case_reference: ShortText
    seized_at: WireDatetime
    location: Location
    agency_unit: ShortText | None = None
    drugs: list[DrugSeizure] = Field(default_factory=list, max_length=100)
    precursors: list[PrecursorSeizure] = Field(default_factory=list, max_length=100)
    firearms: list[Firearm] = Field(default_factory=list, max_length=1000)
    ammunition: list[Ammunition] = Field(default_factory=list, max_length=100)
    cash: list[CashAmount] = Field(default_factory=list, max_length=50)
    conveyances: list[Conveyance] = Field(default_factory=list, max_length=100)
    persons: list[Person] = Field(default_factory=list, max_length=500)
    summary: Text | None = None

    @model_validator(mode="after")
    def _seized_something(self) -> SeizureV1:
        seized = (
            self.drugs,
            self.precursors,
            self.firearms,
            self.ammunition,
            self.cash,
            self.conveyances,
        )
        if not any(seized):
            raise ValueError(
                "a seizure lists at least one of drugs, precursors, firearms, ammunition, "
                "cash, conveyances"
            )
        return self


SEIZURE_V1 = MessageSpec(
    type="seizure",
    version=1,
    model=SeizureV1,
    themes=(
        Theme.NARCOTICS,
        Theme.SMALL_ARMS,
        Theme.ORGANIZED_CRIME,
        Theme.BORDER_SECURITY,
        Theme.TERRORISM,
    ),
    example={
        "case_reference": "GT-DAIA-2026-0931",
        "seized_at": "2026-11-24T06:30:00Z",
        "location": {
            "lat": 13.9263,
            "lon": -90.7826,
            "locode": "GTPRQ",
            "description": "container yard, Puerto Quetzal",
        },
        "agency_unit": "Subdirección General de Análisis e Información Antinarcótica",
        "drugs": [
            {
                "substance": "cocaine",
                "description": "hydrochloride, 1 kg bricks",
                "mass_kg": 412.5,
                "packages": 410,
            },
        ],
        "precursors": [
            {"name": "sulfuric acid", "cas": "7664-93-9", "quantity": {"value": 200, "unit": "l"}},
            {"name": "pseudoephedrine", "cas": "90-82-4", "quantity": {"value": 25, "unit": "kg"}},
        ],
        "firearms": [
            {
                "obliterated_serial": True,
                "make": "Colt",
                "model": "AR-15",
                "type": "rifle",
                "caliber": "5.56x45mm NATO",
                "country_of_manufacture": "US",
            }
        ],
        "ammunition": [{"caliber": "5.56x45mm NATO", "rounds": 240}],
        "cash": [{"currency": "USD", "amount": "184350.00"}],
        "conveyances": [
            {"kind": "vehicle", "plate": "C-456DEF", "plate_country": "GT", "make": "Freightliner"},
            {
                "kind": "vessel",
                "name": "MSC ALMA",
                "imo": "9155808",
                "flag": "PA",
                "vessel_type": "container",
            },
        ],
        "persons": [
            {
                "name": "Mario Estuardo Gómez",
                "role": "driver",
                "nationality": "GT",
                "date_of_birth": "1985-07-30",
                "sex": "male",
                "identifiers": [
                    {"kind": "national_id", "number": "2547 81234 0101", "issuing_country": "GT"}
                ],
            },
        ],
        "summary": "Cocaine concealed in a container of bananas declared for export.",
    },
)
