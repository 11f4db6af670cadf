"""The sender's handling conditions as each sink hands them to the national system.

A message may carry ``conditions`` beside TLP (:mod:`schemas.handling`): ``no_onward``,
``not_for_court`` and a free-text ``note``. Every sink carries them into the national
system, so that whoever reads a delivery there sees them:

=========  ==============================================================================
folder     ``conditions`` in ``<id>.json.meta`` (``no_onward``, ``not_for_court``, ``note``)
jsonl      ``conditions`` in each record, the same object
postgres   columns ``no_onward``, ``not_for_court`` (booleans, ``false`` when absent) and
           ``condition_note`` (text), added to an existing table when it lacks them
webhook    headers ``Enlace-No-Onward`` / ``Enlace-Not-For-Court`` (``true``/``false``) and
           ``Enlace-Condition-Note``, and CloudEvents extension attributes
           ``ce-enlacenoonward``, ``ce-enlacenotforcourt``, ``ce-enlaceconditionnote``
stix       a statement ``marking-definition`` per condition on every object
           (:mod:`adapters.sinks.stix_bundle`) and ``x_enlace_conditions`` on the report
=========  ==============================================================================

The note travels in a header percent-encoded (UTF-8; as the CloudEvents HTTP binding
encodes attribute values): a header cannot hold a line break or any byte a sender chose.
"""

from __future__ import annotations

from urllib.parse import quote

from pydantic import ValidationError

from adapters.delivery import Delivery
from adapters.errors import PermanentSinkError
from schemas.handling import (
    HDR_CONDITION_NOTE,
    HDR_NO_ONWARD,
    HDR_NOT_FOR_COURT,
    Conditions,
    condition_fields,
)

__all__ = [
    "CONDITION_COLUMNS",
    "CONDITION_MIGRATIONS",
    "condition_headers",
    "condition_values",
    "conditions_of",
]

CONDITION_COLUMNS = ("no_onward", "not_for_court", "condition_note")
"""The PostgreSQL columns of the conditions, in :func:`condition_values` order."""

CONDITION_MIGRATIONS = (
    "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS no_onward boolean NOT NULL DEFAULT false",
    "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS not_for_court boolean NOT NULL DEFAULT false",
    "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS condition_note text",
)
"""What gives a table (new, or made by an earlier version) the condition columns."""

# Printable ASCII stays as it is, but for "%" (the escape) and '"'.
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '%"')


def _conditions(delivery: Delivery) -> Conditions:
    raw = delivery.message.get("conditions")
    if raw is None:
        return Conditions()
    try:
        return Conditions.model_validate(raw)
    except ValidationError:
        # The hub validated the envelope and the signatures vouch for it: not seen in use.
        raise PermanentSinkError(
            f"delivery {delivery.message_id}: its conditions are not well formed",
            reason="malformed_delivery",
        ) from None


def conditions_of(delivery: Delivery) -> dict[str, bool | str]:
    """The conditions as a file's metadata or a record holds them (``note`` when given)."""
    return condition_fields(_conditions(delivery))


def condition_values(delivery: Delivery) -> tuple[bool, bool, str | None]:
    """The values of :data:`CONDITION_COLUMNS` for ``delivery``."""
    found = _conditions(delivery)
    return found.no_onward, found.not_for_court, found.note


def condition_headers(delivery: Delivery) -> dict[str, str]:
    """The HTTP headers and CloudEvents attributes of the conditions of ``delivery``."""
    found = _conditions(delivery)
    no_onward = "true" if found.no_onward else "false"
    not_for_court = "true" if found.not_for_court else "false"
    headers = {
        HDR_NO_ONWARD: no_onward,
        HDR_NOT_FOR_COURT: not_for_court,
        "ce-enlacenoonward": no_onward,
        "ce-enlacenotforcourt": not_for_court,
    }
    if found.note is not None:
        encoded = quote(found.note, safe=_SAFE)
        headers[HDR_CONDITION_NOTE] = encoded
        headers["ce-enlaceconditionnote"] = encoded
    return headers
