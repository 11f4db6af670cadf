"""STIX test helpers: deliveries of every message type (full and views), the OASIS validator.

stix2-validator 3.3.1 as published has no JSON Schemas in it (``schemas-2.1/`` is empty) and
refuses to check anything without them; :func:`validate` points its built-in schema lookup
at the OASIS schemas kept in ``stix_schemas/`` (see its README), so every check of the
validator runs: the schemas, then its MUST and SHOULD rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import stix2validator
from stix2validator import validator as stix_validator

from adapters.delivery import Delivery
from hub.policy.model import ViewSpec
from hub.policy.redaction import render_view
from schemas.countersign import countersign_view, sha256_digest
from schemas.messages.spec import MessageSpec
from schemas.subjects import delivery_subject
from schemas.testing import TestDirectory, signed_message

__all__ = ["SCHEMAS", "delivery_of", "errors_of", "leaves", "validate"]

SCHEMAS = Path(__file__).resolve().parent / "stix_schemas" / "schemas"

_builtin_lookup = stix_validator._get_error_generator


def _with_schemas(
    name: str, obj: Any, schema_dir: str | None = None, version: str = "2.1", default: str = "core"
) -> Any:
    return _builtin_lookup(name, obj, schema_dir or str(SCHEMAS), version, default)


def validate(bundle: bytes) -> Any:
    """The validator's results for ``bundle`` (``.is_valid``, ``.errors``, ``.warnings``)."""
    original = stix_validator._get_error_generator
    stix_validator._get_error_generator = _with_schemas
    try:
        return stix2validator.validate_string(bundle.decode("utf-8"))
    finally:
        stix_validator._get_error_generator = original


def errors_of(results: Any) -> list[str]:
    """Every error the validator found in a bundle, as text (empty: valid)."""
    errors = [str(e) for e in results.errors]
    return errors if errors or results.is_valid else ["invalid, no error named"]


def delivery_of(
    td: TestDirectory,
    spec: MessageSpec,
    view: ViewSpec | None = None,
    recipient: str = "GT",
    **fields: Any,
) -> Delivery:
    """A delivery of ``spec``'s example from SV to ``recipient``, in ``view`` (full if None).

    Args:
        td: the directory whose keys sign.
        spec: the message type.
        view: the recipient's view (the hub's rendering and countersignature), or full.
        recipient: the country it is for.
        **fields: envelope fields over the example's.
    """
    theme = str(spec.themes[0])
    if spec.reply:
        fields.setdefault("in_reply_to", "01JD0000000000000000000000")
    message, raw, jws = signed_message(td, "SV", spec.type, theme, **fields)
    digest = sha256_digest(raw)
    body, countersignature, name = raw, None, "full"
    if view is not None:
        name = view.name
        body = render_view(raw, view)
        countersignature = countersign_view(
            message["id"], digest, recipient, name, body, td.keys[td.hub_kid], td.hub_kid
        )
    return Delivery(
        message_id=message["id"],
        recipient=recipient,
        subject=delivery_subject(recipient, theme, spec.type),
        view=name,
        body=body,
        signature=jws,
        countersignature=countersignature,
        original_digest=digest,
        agreement="test-agreement",
        message=json.loads(body),
    )


def leaves(value: Any) -> Iterator[str]:
    """Every scalar under ``value``, as it reads in JSON (strings without quotes)."""
    if isinstance(value, dict):
        for child in value.values():
            yield from leaves(child)
    elif isinstance(value, list):
        for child in value:
            yield from leaves(child)
    elif isinstance(value, str):
        yield value
    elif value is not None and not isinstance(value, bool):
        yield json.dumps(value)
