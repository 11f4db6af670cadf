"""Value types shared by the payload models: places, coordinates, people, firearms, quantities.

Every payload names the same things the same way, because sharing-agreement redactions
address them by path: ``payload.persons`` (a list of :class:`Person`) is dropped by
redactions that protect identities, and ``payload.location`` (a :class:`Location`, the one
precise point of a report) has its ``lat``/``lon`` rounded. Other places in a payload are
:class:`Place` (country, UN/LOCODE, free text) and never carry coordinates, so a redaction
of ``payload.location`` leaves no precise position behind. ``persons`` is optional
everywhere and no rule depends on it, so a redacted view is still a valid message.

Standards used: ISO 3166-1 alpha-2 countries, ISO 4217 currencies, UN/LOCODE, WGS84
coordinates, CAS registry numbers (with their check digit), IMO ship numbers (with their
check digit), UN numbers for dangerous goods, eTrace-style firearm descriptions.

Floats appear only for coordinates and measured quantities; money is a decimal string.
Numbers and booleans are strict (no ``"12.5"`` for 12.5, no ``"yes"`` for true), so the
models accept what the exported JSON Schemas accept.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from schemas.common import CountryCode, Currency, StrictModel, WireDate, is_country

__all__ = [
    "Aircraft",
    "Ammunition",
    "CasNumber",
    "CashAmount",
    "Conveyance",
    "DecimalAmount",
    "Firearm",
    "FirearmType",
    "ImoNumber",
    "Latitude",
    "Location",
    "Locode",
    "Longitude",
    "Person",
    "PersonIdentifier",
    "PersonRole",
    "Place",
    "Quantity",
    "ShortText",
    "Text",
    "Unit",
    "Vehicle",
    "Vessel",
    "cas_check_digit",
]

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
"""A name, a reference, a label: one line."""

Text = Annotated[str, Field(min_length=1, max_length=8000)]
"""A summary or a description: free prose, bounded so a message stays small."""

Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
"""WGS84 latitude in decimal degrees."""

Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
"""WGS84 longitude in decimal degrees."""

# UN/LOCODE: ISO 3166-1 alpha-2 country + 3 characters from A-Z and 2-9 (0 and 1 are not
# used, to avoid confusion with O and I). Written without the space of the printed code.
_LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


def _locode(value: str) -> str:
    if not _LOCODE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a UN/LOCODE: 2-letter country + 3 characters A-Z or 2-9, "
            "no space (e.g. GTPRQ)"
        )
    if not is_country(value[:2]):
        raise ValueError(f"UN/LOCODE {value!r}: {value[:2]!r} is not an ISO 3166-1 country")
    return value


# The pattern goes to JSON Schema only: the validator checks it with a clearer message.
Locode = Annotated[
    str,
    Field(json_schema_extra={"pattern": _LOCODE.pattern}, examples=["GTPRQ"]),
    AfterValidator(_locode),
]

_CAS = re.compile(r"^([0-9]{2,7})-([0-9]{2})-([0-9])$")


def cas_check_digit(digits: str) -> int:
    """The check digit of a CAS registry number's first two parts (digits only).

    The rightmost digit is weighted 1, the next 2, and so on; the sum modulo 10 is the
    check digit (7664-93-9: 3·1 + 9·2 + 4·3 + 6·4 + 6·5 + 7·6 = 129 → 9).
    """
    return sum(i * int(d) for i, d in enumerate(reversed(digits), start=1)) % 10


def _cas(value: str) -> str:
    match = _CAS.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not a CAS registry number (NNNNNNN-NN-N)")
    expected = cas_check_digit(match[1] + match[2])
    if int(match[3]) != expected:
        raise ValueError(f"CAS number {value!r}: check digit should be {expected}")
    return value


CasNumber = Annotated[
    str,
    Field(json_schema_extra={"pattern": _CAS.pattern}, examples=["7664-93-9"]),
    AfterValidator(_cas),
]


def _imo(value: str) -> str:
    # IMO ship identification number: 7 digits, the last a check digit of the first six
    # weighted 7..2 (IMO Resolution A.1117(30)).
    if not re.fullmatch(r"[0-9]{7}", value):
        raise ValueError(f"{value!r} is not an IMO number (7 digits)")
    total = sum(int(d) * w for d, w in zip(value[:6], range(7, 1, -1), strict=True))
    if total % 10 != int(value[6]):
        raise ValueError(f"IMO number {value!r}: check digit should be {total % 10}")
    return value


ImoNumber = Annotated[
    str, Field(json_schema_extra={"pattern": r"^[0-9]{7}$"}), AfterValidator(_imo)
]

DecimalAmount = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,3})?$",
        examples=["125000.00"],
        description="Amount in major units as a decimal string (no float rounding); at most "
        "3 decimals, the largest ISO 4217 minor unit.",
    ),
]


class Unit(StrEnum):
    KG = "kg"
    G = "g"
    L = "l"
    ML = "ml"
    UNITS = "units"


class Quantity(StrictModel):
    """A measured amount with its unit."""

    value: float = Field(strict=True, ge=0, le=1e12, allow_inf_nan=False)
    unit: Unit


class Location(StrictModel):
    """The one precise point of a report (WGS84); redactions round ``lat``/``lon``."""

    lat: Latitude
    lon: Longitude
    locode: Locode | None = None
    description: str | None = Field(default=None, max_length=500)


class Place(StrictModel):
    """A coarse place: a country, optionally a UN/LOCODE and words. Never coordinates."""

    country: CountryCode
    locode: Locode | None = None
    description: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _locode_in_country(self) -> Place:
        if self.locode is not None and self.locode[:2] != self.country:
            raise ValueError(f"locode {self.locode} is not in country {self.country}")
        return self


class PersonRole(StrEnum):
    SUSPECT = "suspect"
    VICTIM = "victim"
    WITNESS = "witness"
    COURIER = "courier"
    DRIVER = "driver"
    CREW = "crew"
    MEMBER = "member"
    LEADER = "leader"
    PURCHASER = "purchaser"
    POSSESSOR = "possessor"
    OWNER = "owner"
    WANTED = "wanted"
    MISSING = "missing"
    OTHER = "other"


class PersonIdentifier(StrictModel):
    """An identity document or national id number."""

    kind: Literal["passport", "national_id", "driving_licence", "other"]
    number: ShortText
    issuing_country: CountryCode


class Person(StrictModel):
    """A person named in a report; redactions that protect identities drop ``persons``."""

    name: ShortText
    role: PersonRole
    date_of_birth: WireDate | None = None
    nationality: CountryCode | None = None
    sex: Literal["female", "male", "unknown"] | None = None
    aliases: list[ShortText] = Field(default_factory=list, max_length=20)
    identifiers: list[PersonIdentifier] = Field(default_factory=list, max_length=20)


class FirearmType(StrEnum):
    PISTOL = "pistol"
    REVOLVER = "revolver"
    RIFLE = "rifle"
    SHOTGUN = "shotgun"
    SUBMACHINE_GUN = "submachine_gun"
    MACHINE_GUN = "machine_gun"
    GRENADE_LAUNCHER = "grenade_launcher"
    OTHER = "other"


class Firearm(StrictModel):
    """A firearm described as eTrace asks: serial (or obliterated), make, model, type, caliber.

    Exactly one of ``serial_number`` and ``obliterated_serial: true`` must be given.
    """

    # The same rule for JSON Schema users, who do not run the validator below.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["serial_number"],
                    "properties": {
                        "serial_number": {"type": "string"},
                        "obliterated_serial": {"const": False},
                    },
                },
                {
                    "required": ["obliterated_serial"],
                    "properties": {
                        "obliterated_serial": {"const": True},
                        "serial_number": {"type": "null"},
                    },
                },
            ]
        }
    )

    serial_number: str | None = Field(default=None, min_length=1, max_length=60)
    obliterated_serial: bool = Field(default=False, strict=True)
    make: ShortText
    model: ShortText
    type: FirearmType
    caliber: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[0-9A-Za-z .,x×/-]+$",
        examples=["9mm", "5.56x45mm NATO", ".38 Special", "12 gauge"],
    )
    country_of_manufacture: CountryCode
    importer: ShortText | None = None

    @model_validator(mode="after")
    def _serial_xor_obliterated(self) -> Firearm:
        if (self.serial_number is None) == (not self.obliterated_serial):
            raise ValueError(
                "give exactly one of serial_number and obliterated_serial: true "
                "(a firearm whose serial was removed has no serial_number)"
            )
        return self


class Ammunition(StrictModel):
    caliber: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z .,x×/-]+$")
    rounds: int = Field(strict=True, ge=1, le=10_000_000)


class CashAmount(StrictModel):
    """Cash in one currency: ISO 4217 code and a decimal string amount in major units."""

    currency: Currency
    amount: DecimalAmount


def _require_one(model: StrictModel, what: str, *fields: str) -> None:
    if all(getattr(model, name) is None for name in fields):
        raise ValueError(f"a {what} needs at least one identifier: {', '.join(fields)}")


class Vehicle(StrictModel):
    kind: Literal["vehicle"]
    plate: str | None = Field(default=None, min_length=1, max_length=20)
    plate_country: CountryCode | None = None
    vin: str | None = Field(default=None, pattern=r"^[A-HJ-NPR-Z0-9]{17}$")
    make: ShortText | None = None
    model: ShortText | None = None
    colour: ShortText | None = None

    @model_validator(mode="after")
    def _identified(self) -> Vehicle:
        _require_one(self, "vehicle", "plate", "vin")
        return self


class Vessel(StrictModel):
    kind: Literal["vessel"]
    name: ShortText | None = None
    imo: ImoNumber | None = None
    mmsi: str | None = Field(default=None, pattern=r"^[0-9]{9}$")
    flag: CountryCode | None = None
    vessel_type: Literal[
        "go_fast", "fishing", "cargo", "container", "tanker", "yacht", "semi_submersible", "other"
    ] = "other"

    @model_validator(mode="after")
    def _identified(self) -> Vessel:
        _require_one(self, "vessel", "name", "imo", "mmsi")
        return self


class Aircraft(StrictModel):
    kind: Literal["aircraft"]
    registration: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,3}-?[A-Z0-9]{1,6}$")
    icao24: str | None = Field(default=None, pattern=r"^[0-9a-f]{6}$")
    make: ShortText | None = None
    model: ShortText | None = None

    @model_validator(mode="after")
    def _identified(self) -> Aircraft:
        _require_one(self, "aircraft", "registration", "icao24")
        return self


Conveyance = Annotated[Vehicle | Vessel | Aircraft, Field(discriminator="kind")]
"""A vehicle, vessel or aircraft, told apart by ``kind``."""
