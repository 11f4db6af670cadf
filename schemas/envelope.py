"""The envelope every message travels in, and parsing of raw message bytes."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import Field, ValidationError

from schemas.common import CountryCode, MessageId, StrictModel, Theme, Tlp, WireDatetime
from schemas.errors import DuplicateKey, InvalidEnvelope, MalformedJson, MessageTooLarge
from schemas.handling import Conditions, SignedConsent

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Envelope",
    "Evaluation",
    "Sender",
    "first_error",
    "load_json",
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
    credibility: int = Field(strict=True, ge=1, le=6)


class Envelope(StrictModel):
    """The envelope of DESIGN.md; ``payload`` is validated by the model of ``type``/``version``.

    Exactly as strict as the exported JSON Schema: numbers are numbers (``"1"``, ``true`` or
    ``1.0`` is no version), date-times are RFC 3339 strings (no Unix time).
    """

    id: MessageId
    type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(strict=True, ge=1, le=1000)
    theme: Theme
    sender: Sender
    issued_at: WireDatetime
    handling: Tlp
    evaluation: Evaluation | None = None
    to: list[CountryCode] | None = Field(default=None, min_length=1, max_length=50)
    correlation_id: str | None = Field(default=None, min_length=1, max_length=128)
    in_reply_to: MessageId | None = None
    conditions: Conditions | None = None
    derived_from: list[MessageId] | None = Field(
        default=None, min_length=1, max_length=50, description="the messages this one is from"
    )
    consents: list[SignedConsent] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="the original senders' consents to pass on what derived_from names",
    )
    corrects: MessageId | None = None
    """A correction: the id of the message (of the same sender, type and theme) that this
    one replaces in full (:mod:`schemas.amendments`)."""
    payload: dict[str, Any]


def first_error(err: ValidationError) -> tuple[str, str]:
    """The dotted location and the message of a pydantic error's first problem."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(root)"
    return loc, str(first["msg"])


class _Repeated(Exception):
    """Raised from inside json.loads at the first object that names a key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Called for every object of every message: dict() and len() run in C, so the check
    # costs about 1 µs per 2 KiB message (see the commit that added it).
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Repeated
    return obj


class _Marked(dict[str, Any]):
    """An object as parsed, remembering the first key it names twice (if any)."""

    repeated: str | None = None


def _marking_keys(pairs: list[tuple[str, Any]]) -> _Marked:
    obj = _Marked()
    for key, value in pairs:
        if key in obj and obj.repeated is None:
            obj.repeated = key
        obj[key] = value
    return obj


def _show_key(key: str) -> str:
    shown = key if key.isprintable() and key else json.dumps(key)
    return shown if len(shown) <= 64 else shown[:60] + "…"


def _repeated_key_path(text: str) -> str:
    """The dotted path of the first repeated key of ``text`` (known to have one).

    Only a refused message gets here, so it may parse a second time: the hook of the hot
    path cannot know where in the document its object sits.
    """
    root = json.loads(text, object_pairs_hook=_marking_keys, parse_constant=_refuse_constant)
    # Iterative walk, in document order: the parser accepted nesting deeper than the
    # recursion limit of a Python walk.
    pending: list[tuple[tuple[str, ...], Any]] = [((), root)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, _Marked):
            if node.repeated is not None:
                return ".".join((*path, _show_key(node.repeated)))
            children = [((*path, _show_key(k)), v) for k, v in node.items()]
        elif isinstance(node, list):
            children = [((*path, str(i)), v) for i, v in enumerate(node)]
        else:
            continue
        pending.extend(reversed(children))
    return "(unknown)"  # pragma: no cover - the first parse found a repeat


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every message: json.loads with a hook builds a new decoder (and its
# scanner) on every call. The decoder keeps no state between calls.
def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent as a float; one beyond a 64-bit float's
    range (``1e999``) is refused rather than read as infinity, which no JSON can carry on."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is beyond a 64-bit float's range")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_constant=_refuse_constant, parse_float=_finite
)


def load_json(raw: bytes) -> Any:
    """The JSON value of UTF-8 ``raw``, refusing what JSON readers could read two ways.

    Raises:
        MalformedJson: not UTF-8, not JSON, a NaN/Infinity constant, or a number beyond
            a 64-bit float's range.
        DuplicateKey: an object names a key twice (``err.path`` says where).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"message is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        if text.startswith("\ufeff"):  # json.loads refuses it, with its own words
            return json.loads(text, object_pairs_hook=_unique_keys)
        return _DECODER.decode(text)
    except _Repeated:
        raise DuplicateKey(_repeated_key_path(text)) from None
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise MalformedJson(f"message is not JSON: {exc}") from None


def parse_envelope(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
    """Size check, JSON parse and envelope validation of raw message bytes.

    Raises:
        MessageTooLarge, MalformedJson, DuplicateKey (a key given twice in any object),
        InvalidEnvelope.
    """
    if len(raw) > max_bytes:
        raise MessageTooLarge(len(raw), max_bytes)
    data = load_json(raw)
    if not isinstance(data, dict):
        raise InvalidEnvelope("a message is one JSON object")
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        loc, msg = first_error(exc)
        raise InvalidEnvelope(f"envelope field {loc}: {msg}", field=loc) from None
