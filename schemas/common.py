"""Value types shared by the envelope and the payload models: themes, TLP, countries, ids."""

from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError
from ulid import ULID

__all__ = [
    "FULL_DATE_PATTERN",
    "PARTIES",
    "RFC3339_UTC_PATTERN",
    "THEMES",
    "CountryCode",
    "Currency",
    "MessageId",
    "StrictModel",
    "Theme",
    "Tlp",
    "UtcDatetime",
    "WireDate",
    "WireDatetime",
    "is_country",
    "is_currency",
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


@functools.cache
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@functools.cache
def _currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def is_country(code: str) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code, exactly as written (upper case).

    One set lookup: message validation asks this for every country of every message.
    """
    return code in _countries()


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 alphabetic code, exactly as written (upper case)."""
    return code in _currencies()


def _country(code: str) -> str:
    if not is_country(code):
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _message_id(value: str) -> str:
    """Accept a ULID (26 Crockford base32) or a UUIDv7 (canonical, lower case)."""
    if _ULID.fullmatch(value):
        # A ULID overflows 128 bits when its first character is above 7. Only then is it
        # decoded, for the library's own error: decoding every id cost ~15 us a message.
        if value[0] > "7":
            ULID.from_str(value)  # raises ValueError
        return value
    if _UUID7.fullmatch(value):
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


# The lexical forms a message may use for a date-time and a date: RFC 3339's date-time in
# UTC (upper-case T and Z, seconds required) and full-date, ASCII digits only. pydantic alone
# would also read Unix numbers, numeric strings, a space for T and missing seconds, which
# the exported JSON Schema refuses; export.py gives these same patterns to the schema.
RFC3339_UTC_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-]00:00)$"
)
FULL_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_RFC3339_UTC = re.compile(RFC3339_UTC_PATTERN)
_FULL_DATE = re.compile(FULL_DATE_PATTERN)


# These are type checks, as the JSON Schema's type and pattern are: they raise pydantic's
# own kind of error, and a ValueError stays the mark of a rule JSON Schema cannot express.
def _rfc3339_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value  # built in Python, not read from a message
    return _lexical(
        value, _RFC3339_UTC, "rfc3339_datetime", "date-time string in UTC", "2026-11-25T10:00:00Z"
    )


def _full_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # built in Python, not read from a message
    return _lexical(value, _FULL_DATE, "rfc3339_date", "date string", "2026-11-25")


def _lexical(value: Any, form: re.Pattern[str], kind: str, what: str, example: str) -> str:
    if isinstance(value, str) and form.fullmatch(value):
        return value
    raise PydanticCustomError(
        kind,
        "{value} is not an RFC 3339 {what}; write it like {example}",
        {"value": _shown(value), "what": what, "example": example},
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# AfterValidator first: annotations wrap inside out, so the lexical check runs first on the
# string as sent, and its JSON Schema shape (export.py) is the outer one.
WireDatetime = Annotated[datetime, AfterValidator(_utc), BeforeValidator(_rfc3339_utc)]
"""A date-time as a message carries it: an RFC 3339 string in UTC, nothing else."""

WireDate = Annotated[date, BeforeValidator(_full_date)]
"""A date as a message carries it: an RFC 3339 full-date string (2026-11-25), nothing else."""


def new_message_id() -> str:
    """A fresh ULID for a new message."""
    return str(ULID())
