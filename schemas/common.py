"""Value types shared by the envelope and the payload models: themes, TLP, countries, ids."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict
from ulid import ULID

__all__ = [
    "PARTIES",
    "THEMES",
    "CountryCode",
    "Currency",
    "MessageId",
    "StrictModel",
    "Theme",
    "Tlp",
    "UtcDatetime",
    "new_message_id",
    "tlp_rank",
]


class StrictModel(BaseModel):
    """A model that refuses unknown fields and cannot be changed after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Theme(StrEnum):
    """The eight issues for dialogue of the 2008 mechanism."""

    GANGS = "gangs"
    NARCOTICS = "narcotics"
    SMALL_ARMS = "small_arms"
    ORGANIZED_CRIME = "organized_crime"
    BORDER_SECURITY = "border_security"
    NATURAL_DISASTERS = "natural_disasters"
    TRAFFICKING_IN_PERSONS = "trafficking_in_persons"
    TERRORISM = "terrorism"


THEMES: tuple[str, ...] = tuple(t.value for t in Theme)

PARTIES: tuple[str, ...] = ("BZ", "CR", "DO", "GT", "HN", "NI", "PA", "SV", "US")
"""The United States and the SICA states named by the dialogue (ISO 3166-1 alpha-2)."""


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 labels, from least to most restricted."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


_TLP_ORDER = {tlp: rank for rank, tlp in enumerate(Tlp)}


def tlp_rank(tlp: Tlp | str) -> int:
    """Order of a TLP label: clear=0 … red=4."""
    return _TLP_ORDER[Tlp(tlp)]


def _country(code: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", code) or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(code: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", code) or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


def _message_id(value: str) -> str:
    """Accept a ULID (26 Crockford base32) or a UUIDv7 (canonical, lower case)."""
    if re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", value):
        ULID.from_str(value)  # raises ValueError on overflow
        return value
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value):
        uuid.UUID(value)
        return value
    raise ValueError(f"{value!r} is neither a ULID nor a UUIDv7")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (RFC 3339, UTC)")
    if value.utcoffset() != UTC.utcoffset(None):
        raise ValueError("timestamp must be in UTC (suffix Z or +00:00)")
    return value.astimezone(UTC)


CountryCode = Annotated[str, AfterValidator(_country)]
Currency = Annotated[str, AfterValidator(_currency)]
MessageId = Annotated[str, AfterValidator(_message_id)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def new_message_id() -> str:
    """A fresh ULID for a new message."""
    return str(ULID())
