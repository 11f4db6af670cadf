"""The envelope every message travels in, and parsing of raw message bytes."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, ValidationError

from schemas.common import CountryCode, MessageId, StrictModel, Theme, Tlp, UtcDatetime
from schemas.errors import InvalidEnvelope, MalformedJson, MessageTooLarge

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Envelope",
    "Evaluation",
    "Sender",
    "first_error",
    "parse_envelope",
]

DEFAULT_MAX_BYTES = 1024 * 1024


class Sender(StrictModel):
    country: CountryCode
    agency: str = Field(min_length=1, max_length=200)
    poc: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")


class Evaluation(StrictModel):
    """Admiralty code: source reliability A–F and information credibility 1–6."""

    reliability: Literal["A", "B", "C", "D", "E", "F"]
    credibility: int = Field(ge=1, le=6)


class Envelope(StrictModel):
    """The envelope of DESIGN.md; ``payload`` is validated by the model of ``type``/``version``."""

    id: MessageId
    type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1, le=1000)
    theme: Theme
    sender: Sender
    issued_at: UtcDatetime
    handling: Tlp
    evaluation: Evaluation | None = None
    to: list[CountryCode] | None = Field(default=None, min_length=1, max_length=50)
    correlation_id: str | None = Field(default=None, min_length=1, max_length=128)
    in_reply_to: MessageId | None = None
    payload: dict[str, Any]


def first_error(err: ValidationError) -> tuple[str, str]:
    """The dotted location and the message of a pydantic error's first problem."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(root)"
    return loc, str(first["msg"])


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"message is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise MalformedJson(f"message is not JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_envelope(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
    """Size check, JSON parse and envelope validation of raw message bytes.

    Raises:
        MessageTooLarge, MalformedJson, InvalidEnvelope.
    """
    if len(raw) > max_bytes:
        raise MessageTooLarge(len(raw), max_bytes)
    data = _parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidEnvelope("a message is one JSON object")
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        loc, msg = first_error(exc)
        raise InvalidEnvelope(f"envelope field {loc}: {msg}", field=loc) from None
